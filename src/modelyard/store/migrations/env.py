"""Alembic environment: runs on the connection the platform hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from modelyard.store.tables import metadata

connection = context.config.attributes.get("connection")


def _run(conn) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=conn,
        target_metadata=metadata,
        render_as_batch=conn.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # `alembic revision --autogenerate` from a shell, against sqlalchemy.url
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
