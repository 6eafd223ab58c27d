"""What coordinators are told by e-mail, and when: a conversation lost its room and none could be
found, a room declined, a calendar write keeps failing, and a summary each morning.

The watcher reads what the store already records (the event feed, the audit log, the outbox)
from where it was when the daemon started, groups what it finds by site, and sends one e-mail
per site and kind per round through ``syncd.notify``. With several replicas on PostgreSQL one
of them (holding an advisory lock) sends; the others only keep their place."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from mappings.privacy import redact_cpr
from syncd.logs import get_logger
from syncd.notify import Notice, Notifier
from syncd.runtime import Runtime
from syncd.store import stats
from syncd.store.tables import AuditRow, BookingRow, EventFeedRow, OutboxRow
from syncd.web.format import Formats

log = get_logger("syncd.notices")
NOTICE_LOCK = 4807311  # PostgreSQL advisory lock: one replica sends notices
SUMMARY_DAYS = 14
MAX_DAY_LINKS = 7  # a notice about more days links the first seven


class NoticeWatcher:
    def __init__(self, rt: Runtime, notifier: Notifier, *, dashboard_url: str = "") -> None:
        self.rt = rt
        self.notifier = notifier
        self.dashboard_url = dashboard_url.rstrip("/")
        self.formats = Formats(rt.zone)
        with rt.db.read() as s:
            self.feed_after = s.scalar(select(func.max(EventFeedRow.id))) or 0
            self.audit_after = s.scalar(select(func.max(AuditRow.id))) or 0
            # Writes failing already at start were told by whoever ran before.
            self.told_outbox = set(
                s.scalars(
                    select(OutboxRow.id).where(
                        OutboxRow.attempts >= notifier.config.failing_write_attempts
                    )
                )
            )
        self.summary_day: date | None = None
        self._lock: Connection | None = None

    # -- one round ---------------------------------------------------------------------------

    def run_once(self) -> list[Notice]:
        """Find what happened since the last round and send it; returns what was sent."""
        found: dict[tuple[str, str], list[str]] = defaultdict(list)
        days: dict[tuple[str, str], set[date]] = defaultdict(set)
        with self.rt.db.read() as s:
            for row in s.scalars(
                select(EventFeedRow)
                .where(EventFeedRow.id > self.feed_after, EventFeedRow.type == "booking.room_lost")
                .order_by(EventFeedRow.id)
            ):
                booking = s.get(BookingRow, row.booking_id) if row.booking_id else None
                if booking is not None and booking.status == "confirmed":
                    site = self._site(booking, row.payload.get("room"))
                    found[(site, "room_lost")].append(self._lost_line(booking, row.payload))
                    days[(site, "room_lost")].add(self._day(booking))
            self.feed_after = s.scalar(select(func.max(EventFeedRow.id))) or self.feed_after
            for audit in s.scalars(
                select(AuditRow)
                .where(AuditRow.id > self.audit_after, AuditRow.action == "room.declined")
                .order_by(AuditRow.id)
            ):
                booking = s.get(BookingRow, audit.booking_id) if audit.booking_id else None
                if booking is not None:
                    site = self._site(booking, audit.room_id)
                    found[(site, "room_declined")].append(self._declined_line(booking, audit))
                    days[(site, "room_declined")].add(self._day(booking))
            self.audit_after = s.scalar(select(func.max(AuditRow.id))) or self.audit_after
            threshold = self.notifier.config.failing_write_attempts
            for entry, booking in s.execute(
                select(OutboxRow, BookingRow)
                .join(BookingRow, BookingRow.id == OutboxRow.booking_id)
                .where(OutboxRow.attempts >= threshold)
                .order_by(OutboxRow.id)
            ):
                if entry.id in self.told_outbox:
                    continue
                self.told_outbox.add(entry.id)
                site = self._site(booking, None)
                found[(site, "write_failing")].append(self._failing_line(booking, entry))
        notices = [
            self._notice(site, kind, lines, days[(site, kind)])
            for (site, kind), lines in found.items()
        ]
        notices += self._summaries()
        if not notices or not self._may_send():
            return []
        return [n for n in notices if self.notifier.notify(n)]

    def run(self, stop: threading.Event) -> None:
        """Rounds every ``poll_seconds`` until ``stop`` is set; one bad round never ends it."""
        while not stop.wait(self.notifier.config.poll_seconds):
            try:
                self.run_once()
            except Exception:
                log.exception("notice round failed")

    def start(self) -> threading.Event:
        stop = threading.Event()
        threading.Thread(target=self.run, args=(stop,), name="notices", daemon=True).start()
        return stop

    # -- what each notice says -----------------------------------------------------------------

    def _when(self, booking: BookingRow) -> str:
        f = self.formats
        return f"{f.long_day(booking.start)} kl. {f.hm(booking.start)}–{f.hm(booking.end)}"

    def _who(self, booking: BookingRow) -> str:
        index = self.rt.index
        ctype = index.types.get(booking.type_code)
        name = index.caseworker_labels.get(booking.caseworker_id, booking.caseworker_id)
        return f"{ctype.title if ctype else booking.type_code}, {name}"

    def _room(self, room_id: str | None) -> str:
        room = self.rt.index.rooms.get(room_id or "")
        return room.name if room else (room_id or "ukendt lokale")

    def _lost_line(self, booking: BookingRow, payload: dict[str, Any]) -> str:
        why = redact_cpr(booking.conflict or "")
        return (
            f"- {booking.reference} ({self._who(booking)}) {self._when(booking)}: mistede "
            f"{self._room(payload.get('room'))}." + (f" {why}" if why else "")
        )

    def _declined_line(self, booking: BookingRow, audit: AuditRow) -> str:
        why = redact_cpr(audit.reason or "")
        return (
            f"- {self._room(audit.room_id)} afslog {booking.reference} ({self._who(booking)}) "
            f"{self._when(booking)}." + (f" Begrundelse: {why}" if why else "")
        )

    def _failing_line(self, booking: BookingRow, entry: OutboxRow) -> str:
        error = redact_cpr((entry.last_error or "ukendt fejl")[:300])
        return (
            f"- {booking.reference} ({self._who(booking)}) {self._when(booking)}: "
            f"{entry.attempts} forsøg. Seneste fejl: {error}"
        )

    def _link(self, path: str) -> str:
        return f"\n\nSe dashboardet: {self.dashboard_url}{path}\n" if self.dashboard_url else "\n"

    def _day(self, booking: BookingRow) -> date:
        return booking.start.astimezone(self.rt.zone).date()

    def _day_links(self, site_id: str, days: set[date]) -> str:
        """The dashboard on each day the notice is about (the day a coordinator must fix)."""
        if not self.dashboard_url or not days:
            return self._link(f"/today?site={site_id}")
        shown = sorted(days)[:MAX_DAY_LINKS]
        urls = [f"{self.dashboard_url}/today?site={site_id}&day={d.isoformat()}" for d in shown]
        if len(urls) == 1:
            return f"\n\nSe dashboardet: {urls[0]}\n"
        return "\n\nSe dashboardet:\n" + "\n".join(f"  {u}" for u in urls) + "\n"

    def _notice(self, site_id: str, kind: str, lines: list[str], days: set[date]) -> Notice:
        site = self.rt.index.sites.get(site_id)
        place = site.name if site else site_id
        n = len(lines)
        subject, intro = {
            "room_lost": (
                f"{n} samtale{'r' if n > 1 else ''} uden lokale · {place}",
                "Disse samtaler har mistet deres lokale, og der var intet andet egnet lokale "
                "ledigt. Sagsbehandlerens kalender viser 'Lokale mangler'.",
            ),
            "room_declined": (
                f"Lokale afslog {n} samtale{'r' if n > 1 else ''} · {place}",
                "Disse lokaler har afslået en invitation. syncd har søgt et andet lokale; "
                "samtaler uden lokale står under Kræver handling.",
            ),
            "write_failing": (
                f"Kalenderopdatering mislykkes for {n} samtale{'r' if n > 1 else ''} · {place}",
                "syncd kan ikke skrive disse samtaler i sagsbehandlerens kalender og prøver "
                "igen. Se Driftsstatus, eller bed it-afdelingen se på fejlen.",
            ),
        }[kind]
        link = (
            self._link("/operations") if kind == "write_failing" else self._day_links(site_id, days)
        )
        body = f"{intro}\n\n" + "\n".join(lines) + link
        return Notice(site_id, kind, subject, body)

    # -- the morning summary -------------------------------------------------------------------

    def _summaries(self) -> list[Notice]:
        now = self.rt.clock().astimezone(self.rt.zone)
        if now.hour < self.notifier.config.daily_summary_hour or self.summary_day == now.date():
            return []
        if now.hour > self.notifier.config.daily_summary_hour:
            self.summary_day = now.date()  # started after the hour: tomorrow, not now
            return []
        self.summary_day = now.date()
        return [
            self.summary(site.id, now.date())
            for site in self.rt.index.directory.sites
            if self.notifier.wants(site.id, "daily_summary")
        ]

    def summary(self, site_id: str, day: date) -> Notice:
        """The day ahead at one site: conversations, what needs a coordinator, failing writes."""
        rt, f = self.rt, self.formats
        lo, hi = stats.day_bounds(day, rt.zone)
        with rt.db.read() as s:
            view = stats.site_day(s, rt.index, site_id, day, rt.zone, (8, 17))
            attention = stats.needs_attention(
                s, rt.index, site_id, lo, lo + timedelta(days=SUMMARY_DAYS)
            )
            blocks = stats.blocks(s, rt.index, site_id, lo, hi)
            failing = len(stats.outbox_failures(s, rt.index))
        conversations = sum(len(r.conversations) for r in view.rooms)
        roomless = [c for c in attention if c.room_id is None and c.mode == "in_person"]
        other = [c for c in attention if c not in roomless]
        site = rt.index.sites[site_id]
        lines = [
            f"{f.long_day(day).capitalize()}, {site.name}",
            "",
            f"Samtaler med lokale i dag: {conversations}",
            f"Blokerede lokaler i dag: {len(blocks)}",
            f"Uden lokale de næste {SUMMARY_DAYS} dage: {len(roomless)}",
            f"Andre konflikter de næste {SUMMARY_DAYS} dage: {len(other)}",
            f"Kalenderopdateringer der mislykkes: {failing}",
        ]
        lines += _listed("Uden lokale", roomless, f)
        lines += _listed("Konflikter", other, f)
        body = "\n".join(lines) + self._link(f"/today?site={site_id}&day={day.isoformat()}")
        return Notice(site_id, "daily_summary", f"Dagens lokaler · {site.name}", body)

    # -- internals -----------------------------------------------------------------------------

    def _site(self, booking: BookingRow, room_id: str | None) -> str:
        index = self.rt.index
        room = index.rooms.get(room_id or "")
        if room is not None:
            return room.site_id
        cw = index.caseworkers.get(booking.caseworker_id)
        return cw.site_id if cw else ""

    def _may_send(self) -> bool:
        """SQLite has one process; on PostgreSQL the replica holding the lock sends."""
        db = self.rt.db
        if db.is_sqlite:
            return True
        if self._lock is None:
            conn = db.engine.connect()
            if conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({NOTICE_LOCK})").scalar():
                conn.commit()
                self._lock = conn
            else:
                conn.close()
        return self._lock is not None


def _listed(title: str, items: Iterable[stats.Conversation], f: Formats) -> list[str]:
    items = list(items)
    if not items:
        return []
    return ["", f"{title}:"] + [
        f"- {c.reference} {f.short_day(c.start)} {f.hm(c.start)} ({c.caseworker_name}, "
        f"{c.type_title})"
        for c in items[:50]
    ]
