"""Re-packing: rooms for some requests, moving as few movable allocations as possible.

The search is exact within a budget of work (``Preferences.search_budget``); where the budget
runs out, CP-SAT decides (step 7). Cheapest first:

1. Direct: a suitable room is free (zero moves), chosen by the preferences.
2. A necessary condition per instant (``point_bound``): at each start inside a request's
   interval, the conversations running at that instant must be matchable to distinct rooms
   (bipartite matching, augmenting from the current allocation). Failure proves that no
   assignment exists; the shortest augmenting path is a lower bound on the moves.
3. An ejection search with iterative deepening on the number of moves (``ejection``): place a
   request in a room, which bumps the movable allocations overlapping it there; place each
   bumped one elsewhere; and so on. Every minimal solution is reachable this way (each moved
   allocation in a minimal solution was pushed out of its room by someone placed there), so the
   first solution found with k moves, trying k = 0, 1, 2, ..., has the fewest moves.
4. Two-way splits of the rooms (``relax.split_refutes``): a flow per split that proves
   infeasibility where an allocation's need to keep one room over time is what makes it fail.
5. Construction (``_construct``): re-colouring one room class (``capacity.RoomClasses``, the
   proof behind offers) and recursive two-way splits solved as min-cost flows (``splitpack``)
   find a full assignment in a few milliseconds on a crowded day; its moves bound the
   deepening of step 3, which then proves the bound or beats it.
6. If construction found nothing: an exhaustive feasibility search over groups of
   interchangeable rooms in the connected component of the interval graph
   (``feasibility.exhaustive``), which decides feasibility and bounds the deepening.
7. When the budget runs out (a crowded day where the fewest moves are several and chained:
   about 0.2 % of calls with all the large scenario's rooms, 1 % with 0.6x), CP-SAT solves the
   component exactly (``exact``), seeded with the constructed assignment and the lower bound
   the deepening proved. This takes a few hundred milliseconds, so it is the fallback, not
   the method. Only if CP-SAT too hits its limit (``Preferences.solver_limit``, deterministic
   work; not seen on the benchmark), or is switched off (``solver_limit=0``: the booking path,
   ``BOOKING_PREFERENCES``), is the best assignment found so far returned (at least the
   constructed one, if construction succeeds), marked as not proven.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from syncd.rooms.budget import Budget, OutOfBudget
from syncd.rooms.capacity import RoomClasses
from syncd.rooms.ejection import Ejection
from syncd.rooms.exact import solve
from syncd.rooms.feasibility import component, exhaustive
from syncd.rooms.model import AllocationRequest, Preferences
from syncd.rooms.relax import split_refutes
from syncd.rooms.situation import Situation
from syncd.rooms.splitpack import split_pack

Req = AllocationRequest

# Moves tried by deepening before the flow-based proofs and bounds are computed (they cost a
# few milliseconds; a solution with one or two moves usually costs less).
CHEAP_DEPTH = 2
# Moves tried by deepening before the exhaustive search is asked whether a solution exists.
QUICK_DEPTH = 3


@dataclass(frozen=True)
class Packing:
    """Rooms for the roots and for the allocations that move (None: no assignment found);
    ``exact`` is False when the budget ran out before the answer was proven."""

    rooms: dict[str, str] | None
    exact: bool = True
    fallback: bool = False  # the CP-SAT fallback ran (the budgeted search could not decide)


def pack(roots: Sequence[Req], sit: Situation, prefs: Preferences) -> Packing:
    """Rooms for all ``roots`` (requests not in ``sit``) and for the existing allocations that
    must move, with the fewest such moves; None if no assignment of everyone exists."""
    if not roots:
        return Packing({})
    if any(not sit.domain(root) for root in roots):
        return Packing(None)
    budget = Budget(prefs.search_budget)
    search = Ejection(sit, prefs, budget)
    best: dict[str, str] | None = None
    depth = 0  # invariant: no assignment moves fewer than ``depth`` allocations
    try:
        found = search.run(roots, 0)
        if found is not None:
            return Packing(found)
        bound = point_bound(roots, sit)
        if bound is None:
            return Packing(None)
        depth = max(bound, 1)
        while depth <= CHEAP_DEPTH:
            found = search.run(roots, depth)
            if found is not None:
                return Packing(found)
            depth += 1
        items = [*roots, *component(roots, sit)]
        if split_refutes(items, sit):
            return Packing(None)
        best = _construct(roots, sit, items)
        limit = _moves(best, sit) if best is not None else QUICK_DEPTH + 1
        while depth < limit:
            found = search.run(roots, depth)
            if found is not None:
                return Packing(found)
            depth += 1
        if best is not None:
            return Packing(best)  # deepening proved that nothing moves fewer
        full = exhaustive(roots, sit, budget)
        if full is None:
            return Packing(None)
        best = _minimise(full, roots, sit)
        while depth < _moves(best, sit):
            found = search.run(roots, depth)
            if found is not None:
                return Packing(found)
            depth += 1
        return Packing(best)
    except OutOfBudget:
        items = [*roots, *component(roots, sit)]
        if best is None:
            best = _construct(roots, sit, items)
        if prefs.solver_limit > 0:
            solved = solve(roots, items, sit, prefs, hint=best, lower=depth)
            if solved.proven:
                return Packing(solved.rooms, fallback=True)
            if solved.rooms is not None and (
                best is None or _moves(solved.rooms, sit) < _moves(best, sit)
            ):
                best = solved.rooms
            return Packing(best, exact=False, fallback=True)
        return Packing(best, exact=False)


def _construct(roots: Sequence[Req], sit: Situation, items: list[Req]) -> dict[str, str] | None:
    """A full assignment by construction (no search, no budget): re-colouring one room class
    (what ``in_person_capacity`` relies on) and recursive flow splits; the one moving fewer."""
    found = []
    if len(roots) == 1:
        quick = RoomClasses(sit).recolour(roots[0])
        if quick is not None:
            found.append(_minimise(quick, roots, sit))
    split = split_pack(items, sit)
    if split is not None:
        found.append(_minimise(split, roots, sit))
    return min(found, key=lambda f: _moves(f, sit)) if found else None


def _moves(found: dict[str, str], sit: Situation) -> int:
    return sum(1 for bid in found if bid in sit.movable)


def point_bound(roots: Sequence[Req], sit: Situation) -> int | None:
    """None if some instant inside a root's interval has more conversations than can be matched
    to rooms (so no assignment exists); otherwise a lower bound on the moves needed."""
    instants: set[datetime] = set()
    for root in roots:
        instants.add(root.start)
        for rid in sit.domain(root):
            for x in sit.stays[rid].overlapping(root.start, root.end):
                if root.start < x.start:
                    instants.add(x.start)
    bound = 0
    for t in sorted(instants):
        active = [r for r in roots if r.start <= t < r.end]
        if not active:
            continue
        holder: dict[str, Req] = {}
        for rid in sit.rooms:
            here = sit.stays[rid].at(t)
            if here is not None:
                holder[rid] = here
        for i, root in enumerate(active):
            depth = _augment(root, holder, sit)
            if depth is None:
                return None
            if i == 0:
                bound = max(bound, depth)
    return bound


def _augment(root: Req, holder: dict[str, Req], sit: Situation) -> int | None:
    """Breadth-first augmenting path for ``root`` in the matching ``holder`` (room -> request
    at one instant); applies it and returns how many holders had to change room."""
    parent: dict[str, str | None] = {}
    frontier: list[str] = []
    for rid in sit.domain(root):
        if rid not in parent:
            parent[rid] = None
            frontier.append(rid)
    depth = 0
    while frontier:
        for rid in frontier:
            if rid not in holder:
                _shift(rid, root, holder, parent)
                return depth
        nxt_frontier: list[str] = []
        for rid in frontier:
            for rid2 in sit.domain(holder[rid]):
                if rid2 not in parent:
                    parent[rid2] = rid
                    nxt_frontier.append(rid2)
        frontier = nxt_frontier
        depth += 1
    return None


def _shift(end: str, root: Req, holder: dict[str, Req], parent: dict[str, str | None]) -> None:
    """Apply an augmenting path ending in the free room ``end``."""
    path = [end]
    while parent[path[-1]] is not None:
        path.append(parent[path[-1]])  # type: ignore[arg-type]
    path.reverse()  # path[0] is the root's room, path[-1] the free one
    for i in range(len(path) - 1, 0, -1):
        holder[path[i]] = holder[path[i - 1]]
    holder[path[0]] = root


def _minimise(full: dict[str, str], roots: Sequence[Req], sit: Situation) -> dict[str, str]:
    """Drop needless moves from an assignment: an allocation whose own room is still free for it
    goes back there. Returns roots and moved allocations only."""
    reqs = {r.booking_id: r for r in roots}
    reqs.update({bid: sit.movable[bid] for bid in full if bid in sit.movable})
    by_room: dict[str, list[Req]] = defaultdict(list)
    for bid, rid in full.items():
        by_room[rid].append(reqs[bid])
    changed = True
    while changed:
        changed = False
        for bid, rid in list(full.items()):
            req = reqs[bid]
            home = req.current_room
            if bid not in sit.movable or home is None or rid == home:
                continue
            if any(
                q.booking_id != bid and q.start < req.end and req.start < q.end
                for q in by_room[home]
            ):
                continue
            by_room[rid].remove(req)
            by_room[home].append(req)
            full[bid] = home
            changed = True
    root_ids = {r.booking_id for r in roots}
    return {
        bid: rid for bid, rid in full.items() if bid in root_ids or rid != reqs[bid].current_room
    }
