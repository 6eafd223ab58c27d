"""The booking store: slots, holds, bookings, room allocations, outbox, sync state (SQLAlchemy).

SQLite (WAL) is the embedded default; PostgreSQL is the production backend. The database itself
keeps the two invariants that matter most: a caseworker's time and a room's time are never given
twice (PostgreSQL exclusion constraints; SQLite: every write in one IMMEDIATE transaction).
"""
