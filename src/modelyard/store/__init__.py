"""Persistence: SQLAlchemy tables, repositories and Alembic migrations (SQLite or Postgres)."""

from modelyard.store import accounts, billing, files, models, predictions, webhooks
from modelyard.store.database import Conn, Database, normalize_url
from modelyard.store.tables import metadata

__all__ = [
    "Conn",
    "Database",
    "accounts",
    "billing",
    "files",
    "metadata",
    "models",
    "normalize_url",
    "predictions",
    "webhooks",
]
