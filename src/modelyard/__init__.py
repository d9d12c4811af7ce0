"""modelyard: a self-hostable Replicate that runs Cog models behind Replicate's HTTP API."""

__version__ = "0.1.0"
COG_VERSION = "0.23.1"
COGLET_VERSION = "0.23.1"
