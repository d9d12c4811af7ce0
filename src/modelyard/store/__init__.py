"""Persistence: SQLAlchemy tables, repositories and Alembic migrations (SQLite or Postgres)."""

from modelyard.store import accounts, models, predictions
from modelyard.store.database import Database, normalize_url
from modelyard.store.tables import metadata

__all__ = ["Database", "accounts", "metadata", "models", "normalize_url", "predictions"]
