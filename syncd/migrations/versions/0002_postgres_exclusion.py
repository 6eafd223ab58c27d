"""PostgreSQL: the database itself refuses double-booked caseworker time and rooms.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: every write runs in one IMMEDIATE transaction instead
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_caseworker_time EXCLUDE USING gist "
        "(caseworker_id WITH =, tstzrange(busy_start, busy_end, '[)') WITH &&) "
        "WHERE (status IN ('held', 'confirmed') AND exclusive)"
    )
    op.execute(
        "ALTER TABLE room_allocations ADD CONSTRAINT ex_room_allocations_room_time EXCLUDE "
        "USING gist (room_id WITH =, tstzrange(start, \"end\", '[)') WITH &&) WHERE (active)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE room_allocations DROP CONSTRAINT ex_room_allocations_room_time")
    op.execute("ALTER TABLE bookings DROP CONSTRAINT ex_bookings_caseworker_time")
