"""SQLite never hands out a deleted row's id again (AUTOINCREMENT); PostgreSQL's sequences never did.

Without it SQLite reuses the largest rowid: a deleted user's id went to the next new user.
SQLite can only add AUTOINCREMENT by rebuilding a table, which ``migrate`` runs with foreign
keys off (dropping the old table would otherwise cascade-delete every child row) and checks
afterwards.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("users", "api_keys", "analyses", "artworks")


def upgrade() -> None:
    _rebuild_tables(autoincrement=True)


def downgrade() -> None:
    _rebuild_tables(autoincrement=False)


def _rebuild_tables(*, autoincrement: bool) -> None:
    """SQLite only: AUTOINCREMENT can only be switched by rebuilding the table."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
