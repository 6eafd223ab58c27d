"""E-mail notices to coordinators through a real SMTP server (aiosmtpd): a conversation that
lost its room and found none, a room's decline, a calendar write that keeps failing, and the
morning summary; only to sites that opted in, and never a CPR number."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from syncd.config import NotificationsConfig
from syncd.notices import NoticeWatcher
from syncd.notify import Notice, Notifier
from syncd.store.journal import audit
from syncd.store.tables import OutboxRow
from tests.support.jobcentre import at
from tests.web.helpers import book, coordination, open_tuesday

TO = "lokaler@lilleby.kommune.dk"


class Inbox:
    """What the SMTP server received, with a way to wait for it (no sleeping)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.arrived:
            self.messages.append(
                (
                    list(envelope.rcpt_tos),
                    email.message_from_bytes(envelope.content, policy=email.policy.default),
                )
            )
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 60) -> list[Message]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            return [m for _, m in self.messages]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def notifications(port: int, **extra: Any) -> NotificationsConfig:
    data: dict[str, Any] = {
        "enabled": True,
        "sender": "selvbook@lilleby.kommune.dk",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "failing_write_attempts": 3,
        "daily_summary_hour": 23,
        "dashboard_url": "https://syncd.lilleby.kommune.dk/dashboard",
        "sites": [{"site": "lilleby", "to": [TO]}],
    } | extra
    return NotificationsConfig.model_validate(data)


def body(message: Message) -> str:
    text = message.get_content()  # type: ignore[attr-defined]
    assert isinstance(text, str)
    return text


def test_room_lost_declined_and_failing_writes_reach_the_coordinator(rt, smtp):
    inbox, port = smtp
    open_tuesday(rt)
    talks = [book(rt, cw, at(0, 9)) for cw in ("mette", "lars", "pia")]
    watcher = NoticeWatcher(rt, Notifier(notifications(port)), dashboard_url="https://x/d")
    assert watcher.run_once() == []  # nothing has happened since it started

    # A block leaves one conversation without a room (the others are full).
    victim = next(t for t in talks if t.room_id == "L9")
    coordination(rt).block_room("L9", at(0, 8), at(0, 12), actor="dashboard:anne", reason="Kursus")
    # A room declines another conversation (as the engine records it).
    other = next(t for t in talks if t.room_id == "L1")
    with rt.db.write() as s:
        audit(s, "kalender", "room.declined", rt.clock(), booking_id=other.id, room_id="L1",
              reason="Lokalet er optaget")  # fmt: skip
        # And a calendar write has failed three times.
        entry = s.scalars(select(OutboxRow).where(OutboxRow.booking_id == talks[1].id)).first()
        if entry is None:
            entry = OutboxRow(booking_id=talks[1].id, kind="upsert", created_at=rt.clock(),
                              next_attempt_at=rt.clock())  # fmt: skip
            s.add(entry)
        entry.attempts, entry.last_error = 3, "HTTP 503 fra kalenderserveren"

    sent = watcher.run_once()
    assert sorted(n.kind for n in sent) == ["room_declined", "room_lost", "write_failing"]
    messages = {m["Subject"].split(" ")[0]: m for m in inbox.wait_for(3)}
    lost = next(m for m in messages.values() if "uden lokale" in m["Subject"])
    assert lost["To"] == TO and lost["Auto-Submitted"] == "auto-generated"
    assert victim.reference in body(lost) and "Mødelokale L9" in body(lost)
    # The link opens the day the conversation lost its room, not today.
    assert "Se dashboardet: https://x/d/today?site=lilleby&day=2026-12-01" in body(lost)
    declined = next(m for m in messages.values() if "afslog" in m["Subject"])
    assert other.reference in body(declined) and "Lokalet er optaget" in body(declined)
    assert "https://x/d/today?site=lilleby&day=2026-12-01" in body(declined)
    failing = next(m for m in messages.values() if "Kalenderopdatering" in m["Subject"])
    assert talks[1].reference in body(failing) and "HTTP 503" in body(failing)
    for _, m in inbox.messages:
        assert "citizen-1" not in body(m)  # the citizen's reference never leaves the store

    # Told once: the next round has nothing new.
    assert watcher.run_once() == []


def test_only_sites_that_opted_in_and_only_the_kinds_they_chose(rt, smtp):
    inbox, port = smtp
    config = notifications(
        port, sites=[{"site": "lilleby", "to": [TO], "notices": ["daily_summary"]}]
    )
    notifier = Notifier(config)
    assert not notifier.notify(Notice("lilleby", "room_lost", "x", "y"))
    assert not notifier.notify(Notice("storeby", "daily_summary", "x", "y"))
    assert not Notifier(notifications(port, enabled=False)).notify(
        Notice("lilleby", "room_lost", "x", "y")
    )
    assert not notifier.notify(Notice("lilleby", "daily_summary", "CPR 010203-1234", "y"))
    assert inbox.messages == []


def test_the_morning_summary_is_sent_once_at_its_hour(rt, smtp, clock):
    inbox, port = smtp
    open_tuesday(rt)
    talks = [book(rt, cw, at(0, 9)) for cw in ("mette", "lars", "pia")]
    coordination(rt).block_room("L9", at(0, 8), at(0, 12), actor="dashboard:anne", reason="Kursus")
    victim = next(t for t in talks if t.room_id == "L9")
    clock.set(at(0, 6, 55))
    watcher = NoticeWatcher(rt, Notifier(notifications(port, daily_summary_hour=7)))
    assert watcher.run_once() == []
    clock.set(at(0, 7, 1))
    (summary,) = watcher.run_once()
    assert summary.kind == "daily_summary"
    (message,) = inbox.wait_for(1)
    text = body(message)
    assert message["Subject"] == "Dagens lokaler · Jobcenter Lilleby"
    assert "Tirsdag 1. december 2026" in text
    assert "Samtaler med lokale i dag: 2" in text and "Uden lokale de næste 14 dage: 1" in text
    assert victim.reference in text
    clock.set(at(0, 7, 30))
    assert watcher.run_once() == []  # once a day


def test_a_mail_server_that_is_down_is_logged_not_raised(rt):
    notifier = Notifier(notifications(_free_port()))
    assert notifier.notify(Notice("lilleby", "room_lost", "Samtale uden lokale", "...")) is False


def test_the_demo_mails_only_when_asked(rt, smtp):
    from syncd.demo import start_notices

    inbox, port = smtp
    open_tuesday(rt)
    talks = [book(rt, cw, at(0, 9)) for cw in ("mette", "lars", "pia")]
    stop = start_notices(rt, "demo@localhost", f"127.0.0.1:{port}", 8080)
    try:
        coordination(rt).block_room("L9", at(0, 8), at(0, 12), actor="dashboard:anne", reason="x")
        (message,) = inbox.wait_for(1, timeout=60)  # the watcher's round is every 5 s
        assert message["To"] == "demo@localhost" and "uden lokale" in message["Subject"]
        assert next(t for t in talks if t.room_id == "L9").reference in body(message)
    finally:
        stop.set()
