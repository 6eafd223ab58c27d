"""The allocator's entry points: a room for a new booking, new rooms for displaced bookings, and
first-come-first-served as Exchange does it (for comparison only).

All functions are pure: the caller passes everything (times included) and applies the plan.
Pass one site-day (or the sites the request may use, for that day); anything else is only
dead weight, never wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

from syncd.rooms.model import (
    AllocationPlan,
    AllocationRequest,
    Move,
    Occupation,
    Preferences,
    RoomSpec,
)
from syncd.rooms.preferences import rank_rooms
from syncd.rooms.repack import pack
from syncd.rooms.rules import is_suitable, validate
from syncd.rooms.situation import Situation

Req = AllocationRequest


def allocate(
    new: Req,
    existing: Sequence[Req],
    rooms: Sequence[RoomSpec],
    occupied: Sequence[Occupation],
    prefs: Preferences = Preferences(),
) -> AllocationPlan:
    """A room for ``new``; if none is free, re-pack movable allocations to make one.

    Guarantees:
    - hard rules: the room is at one of ``new.sites``, seats ``new.min_capacity``, has every
      feature in ``new.features``, and is free for [start, end) (half-open: touching is fine)
      of foreign meetings and blocks (``occupied``) and of every other allocation;
    - moves only touch allocations that are ``movable`` and not ``pinned``, and each moved one
      gets a room meeting the same hard rules;
    - if any assignment of ``new`` and all existing allocations exists (those that may not move
      kept where they are), one is returned, and it moves as few existing allocations as
      possible; among the free rooms, the preferences in ``syncd.rooms.preferences`` decide;
    - otherwise ``new`` gets None and nothing moves.
    The last two hold when ``plan.exact`` is True. The search has a deterministic budget
    (``prefs.search_budget``); if it runs out (rare: a crowded day where the fewest moves are
    many), CP-SAT decides the same question exactly (``plan.fallback``; a few hundred
    milliseconds). If CP-SAT too reaches its deterministic limit (``prefs.solver_limit``; not
    seen on the benchmark with ``Preferences()``), or is switched off (``solver_limit=0``, as
    in ``BOOKING_PREFERENCES`` for the booking path), ``plan.exact`` is False: the plan still
    obeys the hard rules, but may move more than needed, or give None although a room exists
    (then a later ``reallocate`` with ``Preferences()`` decides). Whatever the budget,
    a request that ``in_person_capacity`` promised gets a room. No clock is read: the same
    inputs give the same plan.
    ``existing`` holds the allocations as they are (``current_room``); ones without a room, or
    with ``new.booking_id`` (a rebooking releases its old room), are ignored. An existing
    allocation that is already invalid where it sits is never moved.
    """
    validate(new)
    sit = Situation(existing, rooms, occupied, exclude={new.booking_id})
    result = pack([new], sit, prefs)
    if result.rooms is None:
        return AllocationPlan({new.booking_id: None}, exact=result.exact, fallback=result.fallback)
    found = result.rooms
    return AllocationPlan(
        {new.booking_id: found[new.booking_id]},
        _moves(found, sit),
        exact=result.exact,
        fallback=result.fallback,
    )


def reallocate(
    displaced: Sequence[Req],
    existing: Sequence[Req],
    rooms: Sequence[RoomSpec],
    occupied: Sequence[Occupation],
    prefs: Preferences = Preferences(),
) -> AllocationPlan:
    """New rooms for bookings whose room became unusable (taken by hand, blocked).

    ``occupied`` (or a pinned entry in ``existing``) must already hold whatever displaced them.
    A displaced booking may keep its own room if that is in fact still free for it; a pinned
    one is moved all the same (its room is gone). If all displaced bookings can be placed
    (moving other movable, unpinned allocations), they are, with the fewest moves, exactly as
    ``allocate`` does for one. If not, they are taken in order of start time and each is kept if
    it can be placed together with the ones kept before it (a maximal, not necessarily maximum,
    set); the rest get None and become conflicts. ``moves`` lists the other allocations that
    move; the displaced bookings' new rooms are in ``assignments``. Displaced bookings found in
    ``existing`` are taken out of it.
    """
    for req in displaced:
        validate(req)
    ids = {req.booking_id for req in displaced}
    sit = Situation(existing, rooms, occupied, exclude=ids)
    order = sorted(displaced, key=lambda r: (r.start, r.end, r.booking_id))
    result = pack(order, sit, prefs)
    exact = result.exact
    fallback = result.fallback
    found = result.rooms
    if found is None:
        kept: list[Req] = []
        found = {}
        for req in order:
            attempt = pack([*kept, req], sit, prefs)
            exact = exact and attempt.exact
            fallback = fallback or attempt.fallback
            if attempt.rooms is not None:
                kept.append(req)
                found = attempt.rooms
    assignments: dict[str, str | None] = {r.booking_id: found.get(r.booking_id) for r in displaced}
    return AllocationPlan(assignments, _moves(found, sit), exact=exact, fallback=fallback)


def fcfs_allocate(
    new: Req,
    existing: Sequence[Req],
    rooms: Sequence[RoomSpec],
    occupied: Sequence[Occupation],
    prefs: Preferences | None = None,
) -> AllocationPlan:
    """First come, first served, as Exchange's Resource Booking Assistant does it: the first
    suitable room (in the given order) that is free for the whole interval; never moves anyone.
    With ``prefs`` the free rooms are ranked by the same preferences as ``allocate`` (best fit
    without re-packing), to separate what ranking gains from what re-packing gains."""
    validate(new)
    taken: dict[str, list[tuple[object, object]]] = {}
    for o in occupied:
        taken.setdefault(o.room_id, []).append((o.start, o.end))
    for req in existing:
        if req.current_room is not None and req.booking_id != new.booking_id:
            taken.setdefault(req.current_room, []).append((req.start, req.end))
    free = [
        room
        for room in rooms
        if is_suitable(new, room)
        and not any(s < new.end and new.start < e for s, e in taken.get(room.room_id, ()))  # type: ignore[operator]
    ]
    if not free:
        return AllocationPlan({new.booking_id: None})
    if prefs is None:
        return AllocationPlan({new.booking_id: free[0].room_id})
    sit = Situation(existing, rooms, occupied, exclude={new.booking_id})
    best = rank_rooms(new, [room.room_id for room in free], sit, prefs)[0]
    return AllocationPlan({new.booking_id: best})


def _moves(found: dict[str, str], sit: Situation) -> tuple[Move, ...]:
    moved = [sit.movable[bid] for bid in found if bid in sit.movable]
    moved.sort(key=lambda r: (r.start, r.booking_id))
    return tuple(Move(r.booking_id, r.current_room, found[r.booking_id]) for r in moved)
