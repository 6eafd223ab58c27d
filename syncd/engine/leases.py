"""Dividing calendars between replicas with leases held in PostgreSQL.

Each replica heartbeats in ``replicas`` and, every cycle, renews the leases it holds, gives up
what exceeds its fair share and takes expired leases (``FOR UPDATE SKIP LOCKED``, so two
replicas never take the same row). A replica killed with SIGKILL simply stops renewing: its
calendars are taken over once its leases run out. SQLite is single-process: all calendars.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from syncd.engine.targets import Target
from syncd.runtime import Runtime
from syncd.store.tables import ReplicaRow, SyncStateRow


class LeaseLost(RuntimeError):
    """Another replica holds this calendar now; our result is discarded."""


class Leases:
    def __init__(self, rt: Runtime, owner: str) -> None:
        self.rt = rt
        self.owner = owner
        self.length = timedelta(seconds=rt.config.sync.lease_seconds)
        self.enabled = not rt.db.is_sqlite

    def heartbeat(self) -> None:
        now = self.rt.clock()
        with self.rt.db.write() as s:
            row = s.get(ReplicaRow, self.owner)
            if row is None:
                s.add(
                    ReplicaRow(
                        id=self.owner, host=socket.gethostname(), pid=os.getpid(),
                        started_at=now, heartbeat_at=now,
                    )
                )  # fmt: skip
            else:
                row.heartbeat_at = now
            s.execute(delete(ReplicaRow).where(ReplicaRow.heartbeat_at < now - 10 * self.length))

    def claim(self, targets: Sequence[Target]) -> list[Target]:
        """The targets this replica syncs in this cycle."""
        if not self.enabled:
            return list(targets)
        self.heartbeat()
        now = self.rt.clock()
        by_id = {t.calendar_id: t for t in targets}
        with self.rt.db.write() as s:
            known = set(s.scalars(select(SyncStateRow.calendar_id)))
            missing = [
                {"calendar_id": t.calendar_id, "kind": t.kind, "owner_id": t.owner_id,
                 "failures": 0, "force_full": False}
                for t in targets
                if t.calendar_id not in known
            ]  # fmt: skip
            if missing:  # replicas starting together race here: the first insert wins
                s.execute(pg_insert(SyncStateRow).values(missing).on_conflict_do_nothing())
        with self.rt.db.write() as s:
            live = (
                s.scalar(
                    select(func.count())
                    .select_from(ReplicaRow)
                    .where(ReplicaRow.heartbeat_at >= now - 2 * self.length)
                )
                or 1
            )
            share = math.ceil(len(by_id) / live)
            mine = sorted(
                s.scalars(
                    select(SyncStateRow.calendar_id)
                    .where(SyncStateRow.lease_owner == self.owner, SyncStateRow.lease_until > now)
                    .with_for_update(skip_locked=True)
                )
            )
            mine = [c for c in mine if c in by_id]
            keep, give_up = mine[:share], mine[share:]
            if give_up:
                s.execute(
                    update(SyncStateRow)
                    .where(SyncStateRow.calendar_id.in_(give_up))
                    .values(lease_owner=None, lease_until=None)
                )
            taken: list[str] = []
            need = share - len(keep)
            if need > 0:
                free = or_(SyncStateRow.lease_until.is_(None), SyncStateRow.lease_until < now)
                q = select(SyncStateRow.calendar_id).where(
                    free, SyncStateRow.calendar_id.in_(list(by_id))
                )
                if keep:
                    q = q.where(SyncStateRow.calendar_id.not_in(keep))
                taken = list(
                    s.scalars(
                        q.order_by(SyncStateRow.calendar_id)
                        .limit(need)
                        .with_for_update(skip_locked=True)
                    )
                )
            held = keep + taken
            if held:
                s.execute(
                    update(SyncStateRow)
                    .where(SyncStateRow.calendar_id.in_(held))
                    .values(lease_owner=self.owner, lease_until=now + self.length)
                )
        return [by_id[c] for c in held]

    def check(self, session: object, calendar_id: str) -> None:
        """Inside the write transaction that saves a sync: refuse if the lease moved on."""
        if not self.enabled:
            return
        owner = session.scalar(  # type: ignore[attr-defined]
            select(SyncStateRow.lease_owner)
            .where(SyncStateRow.calendar_id == calendar_id)
            .with_for_update()
        )
        if owner not in (None, self.owner):
            raise LeaseLost(f"{calendar_id} is now synced by {owner}")

    def release_all(self) -> None:
        if not self.enabled:
            return
        with self.rt.db.write() as s:
            s.execute(
                update(SyncStateRow)
                .where(SyncStateRow.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )
            s.execute(delete(ReplicaRow).where(ReplicaRow.id == self.owner))
