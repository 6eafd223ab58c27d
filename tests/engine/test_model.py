"""A stateful model test of crash safety, the way vdirsyncer tests its sync: hypothesis drives
random sequences of citizens booking, cancelling and rebooking, caseworkers moving or deleting
conversations in their calendars, the outbox and the sync running in any order, the process
dying at a named crash point and restarting. After every sequence the daemon converges, and:

- every live booking has exactly one event in its caseworker's calendar and, in person, one in
  its room's, at the booking's time (invariant 3);
- every cancelled booking has none, and nothing of ours is left without a live booking (8);
- no booking was cancelled that no person cancelled: a caseworker's cancellation only follows a
  deletion she made (the read-back never takes our own missing item for hers).

Real Radicale, a fresh store and empty calendars for each sequence. Crash points are named places
(``syncd.engine.crashpoints``), never timing. CI runs a fixed, derandomized number of sequences.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import select

from syncd.domain.model import Mode
from syncd.engine.crashpoints import POINTS, Crash
from syncd.engine.ownership import booking_for_external_id, external_id_for
from syncd.store.errors import ConflictError, NotFoundError
from syncd.store.rooms import active_room
from syncd.store.tables import BookingRow
from tests.engine.world import CASEWORKERS, ROOMS, open_world
from tests.store.test_bookings import offers
from tests.support import jobcentre
from tests.support.clock import FakeClock
from tests.support.crashes import crash_at
from tests.support.jobcentre import at
from tests.support.radicale import RadicaleServer

PEOPLE = ("mette", "lars")
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
EXAMPLES = int(os.environ.get("SYNCD_MODEL_EXAMPLES", "10" if CI else "20"))
_server: RadicaleServer | None = None


@pytest.fixture
def radicale_for_model(radicale: RadicaleServer):  # type: ignore[no-untyped-def]
    global _server
    _server = radicale
    yield radicale
    _server = None


class CrashSafety(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="syncd-model-"))
        self.owners = itertools.count(1)
        self.touched: set[str] = set()  # bookings a caseworker deleted in her calendar
        self.bookings: list[str] = []
        self._world_cm = None
        self.world = None

    # -- set-up ------------------------------------------------------------------------------
    @initialize()
    def open(self) -> None:
        assert _server is not None
        _empty_calendars(_server)
        self._world_cm = open_world(
            "caldav", self.tmp, FakeClock(jobcentre.NOW), _server, owner=self._owner()
        )
        self.world = self._world_cm.__enter__()
        for name in PEOPLE:
            self.world.put(name, f"w-{name}", "Selvbook", at(0, 9), at(0, 12))
            self.world.put(name, f"v-{name}", "Selvbook", at(1, 9), at(1, 12))
        self.world.settle(2)

    def teardown(self) -> None:
        try:
            if self.world is not None:
                self._converge_and_check()
        finally:
            if self._world_cm is not None:
                self._world_cm.__exit__(None, None, None)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _owner(self) -> str:
        return f"process-{next(self.owners)}"

    # -- citizens ----------------------------------------------------------------------------
    @rule(
        who=st.sampled_from(PEOPLE),
        mode=st.sampled_from([Mode.IN_PERSON, Mode.PHONE]),
        pick=st.integers(0, 5),
    )
    def book(self, who: str, mode: Mode, pick: int) -> None:
        found = [o for o in offers(self.world.rt, caseworker_id=who, modes=(mode,))]
        if not found:
            return
        offer = found[pick % len(found)]
        try:
            hold = self.world.rt.bookings.reserve(offer.offer_id, f"c-{len(self.bookings)}")
            self.bookings.append(self.world.rt.bookings.confirm(hold.id).id)
        except ConflictError:
            pass

    @precondition(lambda self: self.bookings)
    @rule(pick=st.integers(0, 50))
    def cancel(self, pick: int) -> None:
        booking = self.bookings[pick % len(self.bookings)]
        with contextlib.suppress(ConflictError):  # cancelled already (by her, read back)
            self.world.rt.bookings.cancel(booking)

    @precondition(lambda self: self.bookings)
    @rule(pick=st.integers(0, 50), to=st.sampled_from(PEOPLE), slot=st.integers(0, 5))
    def rebook(self, pick: int, to: str, slot: int) -> None:
        booking = self.bookings[pick % len(self.bookings)]
        found = offers(self.world.rt, caseworker_id=to, modes=(Mode.IN_PERSON,))
        if not found:
            return
        with contextlib.suppress(ConflictError, NotFoundError):
            self.world.rt.bookings.rebook(booking, found[slot % len(found)].offer_id)

    # -- caseworkers in their calendars ---------------------------------------------------------
    @precondition(lambda self: self.bookings)
    @rule(pick=st.integers(0, 50))
    def caseworker_deletes(self, pick: int) -> None:
        booking = self.bookings[pick % len(self.bookings)]
        for name in PEOPLE:
            for event in self.world.ours(name):
                if booking_for_external_id(event.uid) == booking:
                    self.world.delete(name, event.uid)
                    self.touched.add(booking)

    @precondition(lambda self: self.bookings)
    @rule(pick=st.integers(0, 50), minutes=st.sampled_from([-30, 40, 90]))
    def caseworker_moves(self, pick: int, minutes: int) -> None:
        booking = self.bookings[pick % len(self.bookings)]
        for name in PEOPLE:
            for event in self.world.ours(name):
                if booking_for_external_id(event.uid) == booking:
                    shift = timedelta(minutes=minutes)
                    self.world.move(name, event.uid, event.start + shift, event.end + shift)

    # -- the daemon ----------------------------------------------------------------------------
    @rule()
    def outbox(self) -> None:
        self.world.write()

    @rule()
    def sync(self) -> None:
        self.world.engine.cycle()

    @rule(point=st.sampled_from(POINTS), outbox_first=st.booleans())
    def crash(self, point: str, outbox_first: bool) -> None:
        """Run the daemon until it dies at ``point`` (if it gets there), then start anew."""
        with crash_at(point):
            try:
                if outbox_first:
                    self.world.write()
                self.world.engine.cycle()
                self.world.write()
            except Crash:
                pass
        self.restart()

    @rule()
    def restart(self) -> None:
        """A new process. Its sync and its outbox start together; the sync goes first here,
        the order in which our own unfinished writes look most like a person's."""
        self.world.restart(owner=self._owner())
        self.world.engine.cycle()

    @invariant()
    def nobody_cancels_what_no_person_cancelled(self) -> None:
        if self.world is None:
            return
        for b in self._rows():
            if b.cancelled_by == "caseworker":
                assert b.id in self.touched, f"{b.id} cancelled as if by its caseworker"

    # -- convergence ---------------------------------------------------------------------------
    def _rows(self) -> list[BookingRow]:
        with self.world.rt.db.read() as s:
            rows = list(s.scalars(select(BookingRow).where(BookingRow.status != "held")))
            for r in rows:
                s.expunge(r)
            return rows

    def _converge_and_check(self) -> None:
        self.world.restart(owner=self._owner())
        self.world.settle(4)
        rows = self._rows()
        with self.world.rt.db.read() as s:
            rooms = {b.id: active_room(s, b.id) for b in rows}
        expected: dict[tuple[str, str], object] = {}
        for b in rows:
            if b.status != "confirmed":
                continue
            ext = external_id_for(b.id)
            expected[(b.caseworker_id, ext)] = (b.start, b.end)
            if Mode(b.mode).needs_room and rooms[b.id]:
                expected[(rooms[b.id], ext)] = (b.start, b.end)
        found: dict[tuple[str, str], list[object]] = {}
        for name in (*CASEWORKERS, *ROOMS):
            for event in self.world.ours(name):
                found.setdefault((name, event.uid), []).append((event.start, event.end))
        for key, span in expected.items():
            assert key in found, f"missing: {key}"
            assert len(found[key]) == 1, f"duplicate: {key}"
            assert found[key][0] == span, f"{key} at {found[key][0]}, booked {span}"
        orphans = set(found) - set(expected)
        assert not orphans, f"ours without a live booking there: {sorted(orphans)}"
        self.nobody_cancels_what_no_person_cancelled()


def _empty_calendars(server: RadicaleServer) -> None:
    """Every calendar of the little jobcentre removed (``open_world`` makes them afresh)."""
    for home, names in (("caseworkers", CASEWORKERS), ("rooms", ROOMS)):
        with httpx.Client(auth=(home, "x")) as http:
            for name in names:
                http.request("DELETE", f"{server.url}{home}/{name}/")


CrashSafety.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=int(os.environ.get("SYNCD_MODEL_STEPS", "12")),
    deadline=None,
    derandomize=CI,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.usefixtures("radicale_for_model")
class TestCrashSafety(CrashSafety.TestCase):  # type: ignore[name-defined,misc]
    pass
