"""What ``syncd sync --once``, ``syncd status``, ``syncd resync`` and ``syncd outbox retry``
do: plain functions over the runtime, printing for people."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select, update

from mappings.privacy import redact_cpr
from syncd.runtime import Runtime
from syncd.store import stats
from syncd.store.tables import OutboxRow, SyncStateRow

Printer = Callable[[str], None]


def sync_once(rt: Runtime, engine, out: Printer = print) -> int:  # type: ignore[no-untyped-def]
    report = engine.cycle()
    while engine.outbox.run_due():
        pass
    out(
        f"cycle: {report.calendars} calendars, {report.checked} checked, "
        f"{len(report.synced)} synced, {len(report.failed)} failed, "
        f"{report.skipped_backoff} in back-off, {report.seconds:.2f} s"
        + (f", {report.requests} requests" if report.requests is not None else "")
    )
    for r in report.synced:
        parts = [f"{r.changed} changed", f"{r.deleted} deleted"]
        if r.published is not None:
            parts.append(f"{r.published} slots")
        for label, items in (
            ("moved", r.moved),
            ("cancelled", r.cancelled),
            ("room lost", r.rooms_lost),
            ("conflicts", r.conflicts),
        ):
            if items:
                parts.append(f"{len(items)} {label}")
        if r.quarantined:
            parts.append(f"{r.quarantined} quarantined")
        out(f"  {r.calendar_id}: " + ", ".join(parts))
    for cal, err in report.failed.items():
        out(f"  {cal}: FAILED: {redact_cpr(str(err))}")
    return 1 if report.failed else 0


def status(rt: Runtime, out: Printer = print) -> int:
    """Every calendar's last sync, then what is failing (the same query as the API's /status,
    CPR numbers redacted)."""
    now = rt.clock()
    with rt.db.read() as s:
        states = list(
            s.scalars(select(SyncStateRow).order_by(SyncStateRow.kind, SyncStateRow.owner_id))
        )
        pending = s.scalar(select(func.count(OutboxRow.id)).where(OutboxRow.done_at.is_(None)))
        trouble = stats.failing(s, rt.index)
        declines = stats.recent_audit(s, rt.index, limit=10, actions=["room.declined"])
    errors = {c.calendar_id: c.last_error for c in trouble.calendars}
    out(f"calendars: {len(states)}")
    for st in states:
        last = (
            st.last_success_at.astimezone(rt.zone).strftime("%Y-%m-%d %H:%M:%S")
            if st.last_success_at
            else "never"
        )
        line = f"  {st.kind:10} {st.owner_id:12} last sync {last}"
        if st.backoff_until and st.backoff_until > now:
            line += f", back-off {int((st.backoff_until - now).total_seconds())} s"
        if st.calendar_id in errors:
            line += f", error: {errors[st.calendar_id][:160]}"
        out(line)
    out(f"quarantined items: {len(trouble.quarantined)}")
    for q in trouble.quarantined:
        since = q.first_seen.astimezone(rt.zone).strftime("%Y-%m-%d %H:%M")
        out(f"  {q.calendar_id} {q.href} UID {q.uid or '-'} {q.summary!r} since {since}: "
            f"{q.reason[:160]}")  # fmt: skip
    out(f"room declines (latest {len(declines)}):")
    for d in declines:
        when = d.at.astimezone(rt.zone).strftime("%Y-%m-%d %H:%M")
        out(f"  {when} {d.reference or '-'}: {redact_cpr(d.reason)[:200]}")
    out(f"outbox: {pending} pending, {len(trouble.outbox)} failing")
    for o in trouble.outbox:
        out(f"  #{o.id} booking {o.booking_id} ({o.reason}), {o.attempts} attempts, error: "
            f"{o.last_error[:160]}")  # fmt: skip
    return 0


def resync(rt: Runtime, calendar: str, out: Printer = print) -> int:
    """Forget the sync token of a calendar (by id, owner id or 'all'): the next cycle reads it
    whole and clears its back-off."""
    with rt.db.write() as s:
        q = update(SyncStateRow).values(force_full=True, backoff_until=None, failures=0)
        if calendar != "all":
            q = q.where(
                (SyncStateRow.calendar_id == calendar) | (SyncStateRow.owner_id == calendar)
            )
        count = s.execute(q).rowcount
    out(f"{count} calendar(s) will be read in full in the next cycle")
    return 0 if count else 1


def outbox_retry(rt: Runtime, entry: int | None = None, out: Printer = print) -> int:
    """Make failed calendar writes due now (one entry, or all)."""
    now = rt.clock()
    with rt.db.write() as s:
        q = (
            update(OutboxRow)
            .where(OutboxRow.done_at.is_(None))
            .values(next_attempt_at=now, lease_until=None)
        )
        if entry is not None:
            q = q.where(OutboxRow.id == entry)
        count = s.execute(q).rowcount
    out(f"{count} outbox entr{'y' if count == 1 else 'ies'} due now")
    return 0 if count or entry is None else 1
