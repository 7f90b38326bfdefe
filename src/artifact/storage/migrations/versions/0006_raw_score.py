"""The model's raw score beside the calibrated probability (card_format 2 calibrates).

From this revision ``uncertain_low`` / ``uncertain_high`` hold the decision rule's human and AI
cut points (the uncertain zone between them) and ``threshold`` the AI cut.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("analyses", sa.Column("score", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.drop_column("score")
