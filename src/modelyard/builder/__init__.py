"""The builder: a Cog model directory becomes a version (bundle, environment, schema)."""

from __future__ import annotations

from modelyard.builder.builds import BuiltVersion, build_version
from modelyard.builder.bundle import BundleLimits, bundle_digest, pack_bundle, unpack_bundle
from modelyard.builder.config import CogConfig, load_cog_config
from modelyard.builder.environments import (
    COG_VERSION,
    COGLET_VERSION,
    VersionEnv,
    build_env,
    check_system_packages,
)
from modelyard.builder.pipconfig import PipSettings, UvPipArgs, pip_install_args, read_pip_config
from modelyard.builder.schema import SCHEMA_PATH, SchemaResult, generate_schema

__all__ = [
    # versions
    "BuiltVersion",
    "build_version",
    # bundles
    "BundleLimits",
    "pack_bundle",
    "unpack_bundle",
    "bundle_digest",
    # cog.yaml
    "CogConfig",
    "load_cog_config",
    # environments
    "COG_VERSION",
    "COGLET_VERSION",
    "VersionEnv",
    "build_env",
    "check_system_packages",
    # pip configuration
    "PipSettings",
    "UvPipArgs",
    "pip_install_args",
    "read_pip_config",
    # schema
    "SCHEMA_PATH",
    "SchemaResult",
    "generate_schema",
]
