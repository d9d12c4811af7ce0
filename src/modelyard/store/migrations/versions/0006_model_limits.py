"""model limits: a model's own instance cap and prediction timeout, a deployment's timeout

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 16:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_instances", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prediction_timeout", sa.Float(), nullable=True))
    with op.batch_alter_table("deployment_releases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prediction_timeout", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployment_releases", schema=None) as batch_op:
        batch_op.drop_column("prediction_timeout")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_column("prediction_timeout")
        batch_op.drop_column("max_instances")
