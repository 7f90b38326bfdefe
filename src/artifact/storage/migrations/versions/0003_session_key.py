"""Users get a session key that every token must carry: rotating it revokes all their tokens,
and a new user who gets a deleted user's id (SQLite reuses the largest rowid) gets another key.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing users keep "" until they log out: their tokens (without the claim) stay valid.
    op.add_column("users", sa.Column("session_key", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_key")
