"""OpenAI-compatible endpoints under /openai/v1 (docs/openai.md)."""

from modelyard.api.openai.routes import router

__all__ = ["router"]
