"""Read the host's pip configuration as pip does and translate it for `uv pip install`."""

from __future__ import annotations

import configparser
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

CONFIG_BASENAME = "pip.conf"
# pip reads [global], then the command's own section, then PIP_* variables; later wins.
_SECTIONS = ("global", "install")
_LIST_KEYS = frozenset({"extra-index-url", "find-links", "constraint", "trusted-host"})
_KEYS = frozenset(
    {"index-url", "no-index", "cert", "client-cert", "timeout", "default-timeout"} | _LIST_KEYS
)
_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})


@dataclass(frozen=True)
class PipSettings:
    """The pip options that decide where packages come from."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    no_index: bool = False
    trusted_hosts: tuple[str, ...] = ()
    cert: str | None = None
    client_cert: str | None = None
    timeout: str | None = None


@dataclass(frozen=True)
class UvPipArgs:
    """Arguments and environment to add to every `uv pip install`."""

    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


def pip_config_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """pip's configuration files in the order it loads them (a later file wins).

    Global (`$XDG_CONFIG_DIRS/pip/pip.conf`, `/etc/pip.conf`), then user (`~/.pip/pip.conf`,
    `~/.config/pip/pip.conf`, skipped when `PIP_CONFIG_FILE` names an existing file), then
    site (`$VIRTUAL_ENV/pip.conf`), then `PIP_CONFIG_FILE`. `PIP_CONFIG_FILE=/dev/null`
    turns every file off, as in pip.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:
        return []
    xdg_dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    files = [Path(d) / "pip" / CONFIG_BASENAME for d in xdg_dirs.split(os.pathsep) if d]
    files.append(Path("/etc") / CONFIG_BASENAME)
    if not (explicit and Path(explicit).exists()):
        home = Path(env.get("HOME") or Path.home())
        config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        files += [home / ".pip" / CONFIG_BASENAME, config_home / "pip" / CONFIG_BASENAME]
    site = env.get("VIRTUAL_ENV") or (sys.prefix if sys.prefix != sys.base_prefix else None)
    if site:
        files.append(Path(site) / CONFIG_BASENAME)
    if explicit:
        files.append(Path(explicit))
    return files


def read_pip_config(
    config_files: Sequence[Path] | None = None, environ: Mapping[str, str] | None = None
) -> PipSettings:
    """Merge pip's files (`[global]` then `[install]`) and `PIP_*` variables into settings.

    `config_files` and `environ` default to the host's; tests pass their own.
    """
    env = os.environ if environ is None else environ
    files = pip_config_files(env) if config_files is None else list(config_files)
    values: dict[str, str] = {}
    for section in _SECTIONS:
        for path in files:
            values.update(_read_section(path, section))
    for name, value in env.items():
        if name.startswith("PIP_"):
            key = name[4:].lower().replace("_", "-")
            if key in _KEYS:
                values[key] = value
    timeout = values.get("timeout") or values.get("default-timeout")
    return PipSettings(
        index_url=values.get("index-url") or None,
        extra_index_urls=_split(values.get("extra-index-url")),
        find_links=_split(values.get("find-links")),
        constraints=_split(values.get("constraint")),
        no_index=values.get("no-index", "").strip().lower() in _TRUE,
        trusted_hosts=_split(values.get("trusted-host")),
        cert=values.get("cert") or None,
        client_cert=values.get("client-cert") or None,
        timeout=timeout or None,
    )


def uv_pip_args(settings: PipSettings) -> UvPipArgs:
    """Translate pip settings into `uv pip install` flags and environment.

    uv ignores pip.conf, so without this a host that reaches packages only through a
    mirror, a wheel directory or a constraint file would build different environments.
    `--index-strategy unsafe-best-match` makes uv weigh every index as pip does.
    """
    args: list[str] = ["--index-strategy", "unsafe-best-match"]
    if settings.index_url:
        args += ["--index-url", settings.index_url]
    for url in settings.extra_index_urls:
        args += ["--extra-index-url", url]
    for location in settings.find_links:
        args += ["--find-links", location]
    for constraint in settings.constraints:
        if Path(constraint).is_file():
            args += ["--constraint", constraint]
        else:
            logger.warning("pip constraint file %s does not exist; ignoring it", constraint)
    if settings.no_index:
        args.append("--no-index")
    for host in settings.trusted_hosts:
        args += ["--allow-insecure-host", host]
    env: dict[str, str] = {}
    if settings.cert:
        env["SSL_CERT_FILE"] = settings.cert
    if settings.client_cert:
        env["SSL_CLIENT_CERT"] = settings.client_cert
    if settings.timeout:
        env["UV_HTTP_TIMEOUT"] = settings.timeout
    return UvPipArgs(args=tuple(args), env=env)


def pip_install_args(
    config_files: Sequence[Path] | None = None, environ: Mapping[str, str] | None = None
) -> UvPipArgs:
    """The host's pip configuration as `uv pip install` arguments: read, then translate."""
    return uv_pip_args(read_pip_config(config_files, environ))


def _read_section(path: Path, section: str) -> dict[str, str]:
    if not path.is_file():
        return {}
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        logger.warning("cannot read pip configuration %s: %s", path, exc)
        return {}
    if not parser.has_section(section):
        return {}
    values: dict[str, str] = {}
    for name, value in parser.items(section):
        key = name.lower().lstrip("-").replace("_", "-")
        if key in _KEYS:
            values[key] = value
    return values


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(value.split()) if value else ()
