"""Analyses keep the model's own verdict and why the final verdict was reached.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.add_column(sa.Column("model_verdict", sa.String(16), nullable=True))
        batch.add_column(sa.Column("verdict_reason", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.drop_column("verdict_reason")
        batch.drop_column("model_verdict")
