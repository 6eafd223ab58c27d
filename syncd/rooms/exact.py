"""The exact fallback: OR-Tools CP-SAT on one connected component of one site-day.

Used when the budgeted search (``repack``) cannot prove its answer. The model:

- items: the roots and the movable allocations that could interact with them
  (``feasibility.component``); every other allocation keeps its room;
- a boolean x[item, room] for each room of the item's domain (suitable, not blocked by anything
  fixed during the item's interval); exactly one room per item;
- per room, at most one item at a time: one constraint per maximal clique of the interval graph
  of the items that may use the room (in an interval graph every clique is contained in the
  set of intervals running at some start instant, so these suffice);
- objective: the number of movable allocations not in their current room, then (with a smaller
  weight, never trading a move) the roots' preference ranks.

Before the model is built, allocations that cannot move in any solution with at most ``upper``
moves are fixed in their rooms: in a solution with the fewest moves, each moved allocation was
pushed out of its room by a root or another moved allocation placed there, and following the
pushers leads back to a root (an allocation set moved only among itself could go home). So a
moved allocation lies within ``upper`` bumps of a root. This keeps the model small on a crowded
day.

CP-SAT runs with one worker, a fixed seed and a deterministic time limit (work, not the clock),
so the same inputs give the same answer. OPTIMAL and INFEASIBLE are proofs; anything else is
reported as not proven.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from syncd.rooms.model import AllocationRequest, Preferences
from syncd.rooms.preferences import rank_rooms
from syncd.rooms.situation import Situation

Req = AllocationRequest


@dataclass(frozen=True)
class Solved:
    """``rooms``: roots and moved allocations (None: no assignment, or none found in time);
    ``proven``: CP-SAT proved optimality or infeasibility."""

    rooms: dict[str, str] | None
    proven: bool


def solve(
    roots: Sequence[Req],
    items: Sequence[Req],
    sit: Situation,
    prefs: Preferences,
    hint: dict[str, str] | None = None,
    lower: int = 0,
) -> Solved:
    """Fewest moves for ``roots`` among ``items`` (roots plus their component), by CP-SAT.

    ``hint``: a known full assignment (roots and moved allocations), which bounds the moves and
    seeds the search. ``lower``: a proven lower bound on the moves (from the deepening)."""
    from ortools.sat.python import cp_model  # a heavy import, needed only for hard cases

    root_ids = {r.booking_id for r in roots}
    movable = [x for x in items if x.booking_id not in root_ids]
    upper = len(movable) if hint is None else sum(1 for b in hint if b not in root_ids)
    free = _reachable(roots, movable, sit, upper)
    stay = [x for x in movable if x.booking_id not in free]
    # Allocations that stay put block their room for the others.
    staying: dict[str, list[Req]] = {}
    for q in stay:
        staying.setdefault(q.current_room, []).append(q)  # type: ignore[arg-type]

    def domain(req: Req) -> list[str]:
        return [
            rid
            for rid in sit.domain(req)
            if not any(q.start < req.end and req.start < q.end for q in staying.get(rid, ()))
        ]

    active = sorted(
        [*roots, *(x for x in movable if x.booking_id in free)],
        key=lambda r: (r.start, r.end, r.booking_id),
    )
    domains = {r.booking_id: domain(r) for r in active}
    if any(not d for b, d in domains.items() if b in root_ids):
        return Solved(None, True)

    model = cp_model.CpModel()
    x: dict[tuple[str, str], cp_model.IntVar] = {}
    by_room: dict[str, list[Req]] = {}
    for req in active:
        for rid in domains[req.booking_id]:
            x[req.booking_id, rid] = model.new_bool_var(f"{req.booking_id}@{rid}")
            by_room.setdefault(rid, []).append(req)
        model.add_exactly_one(x[req.booking_id, rid] for rid in domains[req.booking_id])
    for rid in sorted(by_room, key=sit.order.__getitem__):
        for clique in _cliques(by_room[rid]):
            model.add_at_most_one(x[b, rid] for b in clique)

    stays = [
        x[r.booking_id, r.current_room]  # type: ignore[index]
        for r in active
        if r.booking_id not in root_ids and (r.booking_id, r.current_room) in x
    ]
    moves = len([r for r in active if r.booking_id not in root_ids]) - sum(stays)
    ranks: list[tuple[cp_model.IntVar, int]] = []
    for root in roots:
        for i, rid in enumerate(rank_rooms(root, domains[root.booking_id], sit, prefs)):
            if i:
                ranks.append((x[root.booking_id, rid], i))
    weight = 1 + sum(len(domains[r.booking_id]) - 1 for r in roots)
    model.add(moves <= upper)
    model.add(moves >= lower)
    model.minimize(weight * moves + sum(i * v for v, i in ranks))
    if hint is not None:
        for req in active:
            want = hint.get(req.booking_id, req.current_room)
            for rid in domains[req.booking_id]:
                model.add_hint(x[req.booking_id, rid], rid == want)

    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers = 1
    params.random_seed = 17
    # Measured on the benchmark's hard cases: the LP with the clique rows at full strength and
    # plain branch and bound prove optimality fastest; core-based search rarely finishes.
    params.linearization_level = 2
    params.symmetry_level = 0
    params.cp_model_probing_level = 0
    params.max_deterministic_time = prefs.solver_limit
    status = solver.solve(model)
    if status == cp_model.INFEASIBLE:
        return Solved(None, True)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Solved(None, False)
    found: dict[str, str] = {}
    for req in active:
        rid = next(r for r in domains[req.booking_id] if solver.boolean_value(x[req.booking_id, r]))
        if req.booking_id in root_ids or rid != req.current_room:
            found[req.booking_id] = rid
    return Solved(found, status == cp_model.OPTIMAL)


def _reachable(
    roots: Sequence[Req], movable: Sequence[Req], sit: Situation, upper: int
) -> set[str]:
    """Ids of movable allocations within ``upper`` bumps of a root: the only ones that can move
    in a solution with at most ``upper`` moves (see the module docstring). A bump: someone
    whose domain holds the allocation's room, overlapping it in time."""
    if upper <= 0:
        return set()
    by_room: dict[str, list[Req]] = {}
    for x in movable:
        by_room.setdefault(x.current_room, []).append(x)  # type: ignore[arg-type]
    dist: dict[str, int] = {}
    queue: deque[tuple[Req, int]] = deque((r, 0) for r in roots)
    while queue:
        req, d = queue.popleft()
        if d >= upper:
            continue
        for rid in sit.domain(req):
            for x in by_room.get(rid, ()):
                if x.booking_id in dist or x.booking_id == req.booking_id:
                    continue
                if x.start < req.end and req.start < x.end:
                    dist[x.booking_id] = d + 1
                    queue.append((x, d + 1))
    return set(dist)


def _cliques(reqs: list[Req]) -> list[list[str]]:
    """Maximal cliques (of two or more) of the interval graph of ``reqs`` (sorted by start):
    the intervals running at a start instant, kept unless some of them ends only after the
    next start (then the next instant's set includes this one)."""
    out: list[list[str]] = []
    running: list[Req] = []
    n = len(reqs)
    i = 0
    while i < n:
        t = reqs[i].start
        running = [r for r in running if r.end > t]
        while i < n and reqs[i].start == t:
            running.append(reqs[i])
            i += 1
        nxt: datetime | None = reqs[i].start if i < n else None
        if nxt is not None and min(r.end for r in running) > nxt:
            continue  # everyone here is still running at the next start: not maximal
        if len(running) >= 2:
            out.append([r.booking_id for r in running])
    return out
