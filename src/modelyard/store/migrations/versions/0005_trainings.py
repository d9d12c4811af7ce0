"""trainings: a prediction's kind and destination, the training a version came from

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 16:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="prediction")
        )
        batch_op.add_column(sa.Column("destination", sa.String(length=170), nullable=True))
        batch_op.create_index("ix_predictions_kind_account", ["kind", "account_id", "created_at"])
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("training_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.drop_column("training_id")
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_predictions_kind_account")
        batch_op.drop_column("destination")
        batch_op.drop_column("kind")
