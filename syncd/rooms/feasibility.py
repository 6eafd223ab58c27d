"""Exact feasibility: can the roots and the movable allocations around them all have rooms?

Rooms that suit the same kinds of request and carry the same blocks are interchangeable, and a
day of one site has only a handful of such groups. Within a group, a set of intervals fits the
rooms exactly when no instant has more of them than the group has rooms (interval graphs are
perfect). So the search assigns allocations to groups, not rooms: in start order, each goes to
a group with a room free at its start; the state that matters for the rest is, per group, the
ends of the allocations still running, and states that failed once are remembered. A final pass
colours each group's intervals with its rooms, keeping everyone in their own room when possible.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime

from syncd.rooms.budget import Budget
from syncd.rooms.model import AllocationRequest
from syncd.rooms.rules import is_suitable, request_kind
from syncd.rooms.situation import Situation

Req = AllocationRequest


def component(roots: Sequence[Req], sit: Situation) -> list[Req]:
    """Movable allocations that could interact with the roots: sharing rooms (transitively) and
    connected in time. The others can keep their rooms whatever happens to the roots."""
    rooms: set[str] = set()
    for root in roots:
        rooms.update(sit.domain(root))
    left = list(sit.movable.values())
    chosen: list[Req] = []
    grew = True
    while grew:
        grew = False
        rest: list[Req] = []
        for x in left:
            dom = sit.domain(x)
            if rooms.intersection(dom):
                rooms.update(dom)
                chosen.append(x)
                grew = True
            else:
                rest.append(x)
        left = rest
    everyone = sorted([*roots, *chosen], key=lambda r: (r.start, r.end))
    root_ids = {r.booking_id for r in roots}
    keep: list[Req] = []
    cluster: list[Req] = []
    cluster_end: datetime | None = None
    has_root = False
    for req in everyone:
        if cluster_end is not None and req.start >= cluster_end:
            if has_root:
                keep.extend(cluster)
            cluster, has_root, cluster_end = [], False, None
        cluster.append(req)
        has_root = has_root or req.booking_id in root_ids
        cluster_end = req.end if cluster_end is None else max(cluster_end, req.end)
    if has_root:
        keep.extend(cluster)
    return [r for r in keep if r.booking_id not in root_ids]


def exhaustive(
    roots: Sequence[Req], sit: Situation, budget: Budget | None = None
) -> dict[str, str] | None:
    """Rooms for the roots and the movable allocations around them (each one kept in its own
    room when the colouring allows), or None if no assignment exists. Exact; exponential only
    in pathological cases, cut down by room groups and remembered failures."""
    items = sorted([*roots, *component(roots, sit)], key=lambda r: (r.start, r.end, r.booking_id))
    if not items:
        return {}
    lo = min(r.start for r in items)
    hi = max(r.end for r in items)
    kinds = {request_kind(r): r for r in items}
    keyed: dict[tuple[object, ...], list[str]] = defaultdict(list)
    for rid, room in sit.rooms.items():
        fits = tuple(is_suitable(rep, room) for rep in kinds.values())
        if any(fits):
            blocks = tuple((s, e) for s, e, _ in sit.blocks[rid] if s < hi and lo < e)
            keyed[(fits, blocks)].append(rid)
    groups = list(keyed.values())
    group_of = {rid: g for g, rids in enumerate(groups) for rid in rids}
    size = [len(rids) for rids in groups]

    choices: list[tuple[int, ...]] = []
    for req in items:
        dom = sit.domain(req)
        order = [group_of[req.current_room]] if req.current_room in dom else []
        # Then the groups that suit the fewest kinds: keep versatile rooms for later.
        rest = sorted(
            {group_of[rid] for rid in dom} - set(order),
            key=lambda g: sum(is_suitable(rep, sit.rooms[groups[g][0]]) for rep in kinds.values()),
        )
        choices.append((*order, *rest))

    n = len(items)
    ends: list[list[datetime]] = [[] for _ in groups]
    chosen = [0] * n
    keys: list[tuple[object, ...]] = [()] * n
    failed: set[tuple[object, ...]] = set()

    def state(i: int) -> tuple[object, ...]:
        s = items[i].start
        return (i, tuple(tuple(e[bisect_right(e, s) :]) for e in ends))

    def candidates(i: int) -> Iterator[int]:
        s = items[i].start
        for g in choices[i]:
            e = ends[g]
            if len(e) - bisect_right(e, s) < size[g]:
                yield g

    spend = (budget or Budget(None)).spend
    keys[0] = state(0)
    iters: list[Iterator[int]] = [candidates(0)] + [iter(())] * (n - 1)
    i = 0
    while True:
        spend()
        g = next(iters[i], None)
        if g is None:
            failed.add(keys[i])
            i -= 1
            if i < 0:
                return None
            ends[chosen[i]].remove(items[i].end)
            continue
        insort(ends[g], items[i].end)
        chosen[i] = g
        if i + 1 == n:
            break
        key = state(i + 1)
        if key in failed:
            ends[g].remove(items[i].end)
            continue
        i += 1
        keys[i] = key
        iters[i] = candidates(i)
    return _colour(items, chosen, groups, sit)


def _colour(
    items: list[Req], chosen: list[int], groups: list[list[str]], sit: Situation
) -> dict[str, str]:
    """Rooms within each group, in start order: own room if free, else a room nobody in the
    group is waiting for during this interval, else any free one (one always is)."""
    out: dict[str, str] = {}
    busy: dict[str, datetime] = {}
    for req, g in zip(items, chosen, strict=True):
        free = [rid for rid in groups[g] if rid not in busy or busy[rid] <= req.start]
        pick = None
        if req.current_room in free:
            pick = req.current_room
        else:
            pick = next((rid for rid in free if sit.is_free(req, rid)), free[0])
        busy[pick] = req.end
        out[req.booking_id] = pick
    return out
