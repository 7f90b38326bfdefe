"""Scale out: rate-limit windows shared by replicas, and batch jobs with their files.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_windows",
        sa.Column("principal", sa.String(64), primary_key=True),
        sa.Column("window", sa.Integer, primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
    )
    op.create_table(
        "batch_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
    )
    op.create_table(
        "batch_job_files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "job_id",
            sa.String(32),
            sa.ForeignKey("batch_jobs.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("image_sha256", sa.String(64), nullable=False, index=True),
        sa.Column(
            "analysis_id",
            sa.Integer,
            sa.ForeignKey("analyses.id", ondelete="SET NULL"),
            nullable=True,
            unique=True,
        ),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.UniqueConstraint("job_id", "position"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("batch_job_files")
    op.drop_table("batch_jobs")
    op.drop_table("rate_limit_windows")
