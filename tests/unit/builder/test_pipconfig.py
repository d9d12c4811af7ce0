from __future__ import annotations

from pathlib import Path

from modelyard.builder import PipSettings, pip_install_args, read_pip_config
from modelyard.builder.pipconfig import pip_config_files, uv_pip_args


def _conf(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_host_like_configuration(tmp_path: Path) -> None:
    constraints = _conf(tmp_path / "xdg" / "pip" / "constraints.txt", "torch<=2.14.1\n")
    xdg = _conf(tmp_path / "xdg" / "pip" / "pip.conf", f"[global]\nconstraint = {constraints}\n")
    etc = _conf(tmp_path / "etc" / "pip.conf", "[global]\ncert = /etc/ssl/ca.crt\n")
    user = _conf(
        tmp_path / "home" / ".config" / "pip" / "pip.conf",
        "[global]\nfind-links = /srv/wheels\n"
        "extra-index-url = file:///srv/pypi/simple\n    file:///srv/more/simple\n",
    )
    settings = read_pip_config([xdg, etc, user], environ={})
    assert settings == PipSettings(
        extra_index_urls=("file:///srv/pypi/simple", "file:///srv/more/simple"),
        find_links=("/srv/wheels",),
        constraints=(str(constraints),),
        cert="/etc/ssl/ca.crt",
    )
    uv = uv_pip_args(settings)
    assert uv.args == (
        "--index-strategy",
        "unsafe-best-match",
        "--extra-index-url",
        "file:///srv/pypi/simple",
        "--extra-index-url",
        "file:///srv/more/simple",
        "--find-links",
        "/srv/wheels",
        "--constraint",
        str(constraints),
    )
    assert uv.env == {"SSL_CERT_FILE": "/etc/ssl/ca.crt"}


def test_later_files_and_install_section_win(tmp_path: Path) -> None:
    first = _conf(tmp_path / "a.conf", "[global]\nindex-url = https://first/simple\n")
    second = _conf(
        tmp_path / "b.conf",
        "[global]\nindex-url = https://second/simple\n[install]\ntrusted-host = mirror.local\n",
    )
    third = _conf(tmp_path / "c.conf", "[install]\nindex_url = https://install/simple\n")
    settings = read_pip_config([first, second, third], environ={})
    assert settings.index_url == "https://install/simple"
    assert settings.trusted_hosts == ("mirror.local",)
    # [install] in an earlier file still beats [global] in a later one, as in pip.
    settings = read_pip_config([third, second], environ={})
    assert settings.index_url == "https://install/simple"


def test_environment_variables_override_files(tmp_path: Path) -> None:
    conf = _conf(
        tmp_path / "pip.conf",
        "[global]\nindex-url = https://file/simple\nfind-links = /from/file\n",
    )
    environ = {
        "PIP_INDEX_URL": "https://env/simple",
        "PIP_EXTRA_INDEX_URL": "https://x/simple https://y/simple",
        "PIP_FIND_LINKS": "/w1  /w2",
        "PIP_NO_INDEX": "yes",
        "PIP_TRUSTED_HOST": "x y:8080",
        "PIP_CERT": "/env/ca.pem",
        "PIP_CONSTRAINT": str(tmp_path / "missing.txt"),
        "PIP_DEFAULT_TIMEOUT": "60",
        "PIP_UNRELATED": "ignored",
    }
    settings = read_pip_config([conf], environ=environ)
    assert settings.index_url == "https://env/simple"
    assert settings.find_links == ("/w1", "/w2")
    assert settings.no_index is True
    uv = uv_pip_args(settings)
    args = list(uv.args)
    assert args[args.index("--index-url") + 1] == "https://env/simple"
    assert args.count("--extra-index-url") == 2
    assert "--no-index" in args
    assert [args[i + 1] for i, a in enumerate(args) if a == "--allow-insecure-host"] == [
        "x",
        "y:8080",
    ]
    assert "--constraint" not in args  # the file does not exist
    assert uv.env == {"SSL_CERT_FILE": "/env/ca.pem", "UV_HTTP_TIMEOUT": "60"}


def test_no_index_false_values(tmp_path: Path) -> None:
    conf = _conf(tmp_path / "pip.conf", "[global]\nno-index = false\n")
    assert read_pip_config([conf], environ={}).no_index is False
    assert read_pip_config([conf], environ={"PIP_NO_INDEX": "1"}).no_index is True


def test_unreadable_file_is_skipped(tmp_path: Path) -> None:
    broken = _conf(tmp_path / "pip.conf", "this is not [ini\n")
    assert read_pip_config([broken, tmp_path / "absent.conf"], environ={}) == PipSettings()


def test_config_file_discovery_order(tmp_path: Path) -> None:
    environ = {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_DIRS": f"{tmp_path}/xdg1:{tmp_path}/xdg2",
        "VIRTUAL_ENV": str(tmp_path / "venv"),
    }
    files = pip_config_files(environ)
    assert files == [
        tmp_path / "xdg1" / "pip" / "pip.conf",
        tmp_path / "xdg2" / "pip" / "pip.conf",
        Path("/etc/pip.conf"),
        tmp_path / "home" / ".pip" / "pip.conf",
        tmp_path / "home" / ".config" / "pip" / "pip.conf",
        tmp_path / "venv" / "pip.conf",
    ]


def test_pip_config_file_variable(tmp_path: Path) -> None:
    explicit = _conf(tmp_path / "explicit.conf", "[global]\nindex-url = https://explicit/simple\n")
    environ = {"HOME": str(tmp_path / "home"), "PIP_CONFIG_FILE": str(explicit)}
    files = pip_config_files(environ)
    assert files[-1] == explicit
    assert tmp_path / "home" / ".pip" / "pip.conf" not in files  # user files are skipped
    assert pip_config_files({"PIP_CONFIG_FILE": "/dev/null"}) == []
    assert read_pip_config(environ=environ).index_url == "https://explicit/simple"


def test_empty_configuration_still_uses_best_match() -> None:
    uv = pip_install_args([], environ={})
    assert uv.args == ("--index-strategy", "unsafe-best-match")
    assert uv.env == {}
