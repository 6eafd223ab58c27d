"""Citizen references are stored normalised (NFKC, case-folded, no invisible characters), so a
restriction holds for every spelling of one reference; this brings stored ones in line.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from syncd.inputs import citizen_key

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    for table in ("bookings", "citizen_restrictions"):
        rows = conn.execute(sa.text(f"SELECT id, citizen_ref FROM {table}")).all()
        for row_id, ref in rows:
            key = citizen_key(ref)
            if key != ref and 0 < len(key) <= 200:
                conn.execute(
                    sa.text(f"UPDATE {table} SET citizen_ref = :key WHERE id = :id"),
                    {"key": key, "id": row_id},
                )


def downgrade() -> None:
    pass  # the normalised references are valid references
