"""The build steps that run the model author's code, as they run inside the sandbox.

`uv pip install` (package builds run their own code), `build.run` and schema generation
(which imports the predictor) all run under the platform's `Sandbox` with a clean environment:
package installs and `build.run` with the network (they download), schema generation without.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from modelyard.builder.pipconfig import UvPipArgs
from modelyard.sandbox import Sandbox, clean_environment

# Host variables a package download may need: proxies and certificate locations.
_PASSED = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


def build_environment(sandbox: Sandbox, extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a build step: clean when sandboxed, the platform's otherwise."""
    if not sandbox.enabled:
        return {**os.environ, **extra}
    passed = {k: v for k, v in os.environ.items() if k in _PASSED or k.startswith("LC_")}
    return clean_environment({**passed, **extra})


def local_paths(pip: UvPipArgs) -> tuple[Path, ...]:
    """Local folders and files the package configuration names (wheel folders, file://
    indexes, constraint and certificate files): a sandboxed install must see them.

    Only the package configuration's own values count: a step's whole environment would
    name folders it must not see (HOME=/tmp would mount the machine's /tmp)."""
    paths: list[Path] = []
    for value in (*pip.args, *pip.env.values()):
        if value.startswith("file://"):
            # A file index's pages link to files beside it (`<root>/simple` -> `<root>/files`).
            value = os.path.dirname(unquote(urlsplit(value).path).rstrip("/"))
        if value.startswith("/") and value != "/" and os.path.exists(value):
            paths.append(Path(value))
    return tuple(paths)


def pip_env(pip: UvPipArgs) -> dict[str, str]:
    """The same package sources for plain `pip` (in `build.run`), as PIP_* variables."""
    env: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    names = {
        "--index-url": "PIP_INDEX_URL",
        "--extra-index-url": "PIP_EXTRA_INDEX_URL",
        "--find-links": "PIP_FIND_LINKS",
        "--constraint": "PIP_CONSTRAINT",
        "--allow-insecure-host": "PIP_TRUSTED_HOST",
    }
    args: Sequence[str] = pip.args
    for flag, value in zip(args, args[1:], strict=False):
        if flag in names:
            lists.setdefault(names[flag], []).append(value)
    env.update({name: " ".join(values) for name, values in lists.items()})
    if "--no-index" in args:
        env["PIP_NO_INDEX"] = "1"
    if "SSL_CERT_FILE" in pip.env:
        env["PIP_CERT"] = pip.env["SSL_CERT_FILE"]
    if "UV_HTTP_TIMEOUT" in pip.env:
        env["PIP_DEFAULT_TIMEOUT"] = pip.env["UV_HTTP_TIMEOUT"]
    return env
