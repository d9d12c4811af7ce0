"""The HTTP API: Replicate's routes, thin over the services."""

from modelyard.api.app import create_app
from modelyard.api.instance_facing import instance_facing

__all__ = ["create_app", "instance_facing"]
