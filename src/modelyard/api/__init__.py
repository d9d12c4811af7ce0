"""The HTTP API: Replicate's routes, thin over the services."""

from modelyard.api.app import create_app

__all__ = ["create_app"]
