"""Sandboxing of untrusted code (builds and model instances) with bubblewrap."""

from modelyard.sandbox.policy import (
    MODES,
    NO_SANDBOX,
    SANDBOX_SOURCE,
    SANDBOX_TMP,
    Mounts,
    Sandbox,
    SandboxUnavailable,
    clean_environment,
    detect,
)
from modelyard.sandbox.sockets import listen_unix
from modelyard.sandbox.venvs import SYSTEM_SITE_PTH, environment_paths, installation

__all__ = [
    "MODES",
    "NO_SANDBOX",
    "SANDBOX_SOURCE",
    "SANDBOX_TMP",
    "SYSTEM_SITE_PTH",
    "Mounts",
    "Sandbox",
    "SandboxUnavailable",
    "clean_environment",
    "detect",
    "environment_paths",
    "installation",
    "listen_unix",
]
