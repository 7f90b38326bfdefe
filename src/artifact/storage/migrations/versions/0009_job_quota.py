"""Batch jobs: each file's stored size (counted against the owner's storage quota) and the
submission's Idempotency-Key with a fingerprint of what it submitted.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_job_files") as batch:
        batch.add_column(sa.Column("size", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("batch_jobs") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(128), nullable=True))
        batch.add_column(sa.Column("request_sha256", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_batch_jobs_user_idempotency_key", ["user_id", "idempotency_key"])


def downgrade() -> None:
    with op.batch_alter_table("batch_jobs") as batch:
        batch.drop_constraint("uq_batch_jobs_user_idempotency_key", type_="unique")
        batch.drop_column("request_sha256")
        batch.drop_column("idempotency_key")
    with op.batch_alter_table("batch_job_files") as batch:
        batch.drop_column("size")
