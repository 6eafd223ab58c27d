"""Who booked a conversation (the citizen or staff), recorded on the booking, so self-booking
figures count who booked rather than which scopes the API key had.

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
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(
            sa.Column("booked_by", sa.String(16), nullable=False, server_default="citizen")
        )
    # Until now self_booked was "not a staff key": the best record there is of who booked.
    op.execute("UPDATE bookings SET booked_by = 'staff' WHERE NOT self_booked")


def downgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("booked_by")
