"""Values the room allocator works on. The store builds them; the allocator returns plans."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RoomSpec:
    room_id: str
    site_id: str
    capacity: int
    features: frozenset[str] = frozenset()
    floor: str | None = None


@dataclass(frozen=True)
class AllocationRequest:
    """An in-person conversation that needs (or has) a room. ``start``/``end`` include buffers."""

    booking_id: str
    caseworker_id: str
    start: datetime
    end: datetime
    sites: frozenset[str]  # sites the caseworker may use
    min_capacity: int
    features: frozenset[str] = frozenset()
    team: str | None = None
    current_room: str | None = None  # the room it holds now, if any
    pinned: bool = False  # a coordinator pinned it: never move
    movable: bool = True  # False inside the freeze horizon


@dataclass(frozen=True)
class Occupation:
    """Time a room cannot be used: a meeting others put in its calendar, or a block."""

    room_id: str
    start: datetime
    end: datetime
    reason: str = "busy"


@dataclass(frozen=True)
class Preferences:
    team_rooms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    team_floors: Mapping[str, str] = field(default_factory=dict)
    # Conversations of one caseworker this close (or closer) count as back-to-back: the
    # allocator prefers to keep them in the same room.
    adjacent_gap: timedelta = timedelta(minutes=30)
    # Work the fast exact search may spend on one call (deterministic units, no clock; about
    # 30 ms on the development machine) before it hands over to CP-SAT. Reached by about 0.2 %
    # of bookings on the large scenario with all its rooms, 1 % with 0.6x the rooms (see
    # bench/allocation.py).
    search_budget: int = 5_000
    # Deterministic time (CP-SAT's work units, not the clock; one unit is very roughly a second
    # here) the CP-SAT fallback may spend; past it, the best plan found is returned marked
    # ``exact=False``. 0 turns the fallback off (the search's own best plan; see
    # ``BOOKING_PREFERENCES``).
    solver_limit: float = 5.0


# Preferences for the booking path: a citizen's reserve, confirm or rebook, and the room hand-over
# on a cancellation. Same search budget as ``Preferences()``, but no CP-SAT fallback, so the call
# costs at most the budgeted search plus the construction: on the 337 calls of
# bench/allocation.py whose search budget runs out, p50 26-28 ms, p99 35-40 ms, max 41 ms wall
# on the 2-core development machine. No CP-SAT limit fits in 50 ms: building and presolving the
# model of such a call's component (about 6,000 booleans) alone takes 40-80 ms; limits of
# 0.02/0.05/0.1 made those calls take p99 234/344/454 ms and proved only 1/1/11 of the 337
# (a proof takes about 0.5 s, up to 3 s). A plan from this path may be marked ``exact=False``:
# valid, but it may move more than needed, or leave the booking without a room although one
# exists (43 of those 337 calls; CP-SAT at the full limit places all of them). The engine's
# janitor re-packs site-days with in-person bookings left without a room with ``Preferences()``,
# which restores the guarantee within seconds (bench: p50 0.3-1 s, max 6.3 s per re-pack).
# Coordinator operations and the janitor use ``Preferences()``.
BOOKING_PREFERENCES = Preferences(solver_limit=0.0)


@dataclass(frozen=True)
class Move:
    booking_id: str
    from_room: str | None
    to_room: str | None


@dataclass(frozen=True)
class AllocationPlan:
    """The outcome: a room (or None) for each request asked about, and the moves of existing
    allocations that make it possible (as few as the allocator could find)."""

    assignments: Mapping[str, str | None]
    moves: tuple[Move, ...] = ()
    # True: proven, i.e. the moves are as few as possible and a None means no assignment of
    # everyone exists. False: the search budget and then the CP-SAT limit ran out first; the
    # plan is still valid, but it may move more than needed, or leave a request without a room
    # that a longer search would have placed.
    exact: bool = True
    # True when the budgeted search could not decide and the CP-SAT fallback ran (for
    # monitoring: such a call takes a few hundred milliseconds instead of a few).
    fallback: bool = False

    @property
    def unassigned(self) -> list[str]:
        return [b for b, r in self.assignments.items() if r is None]
