"""A fast way to *find* a full assignment with few moves: split the rooms in two, again and again.

Take the rooms the requests may use and a subset Q of them that some requests need (the big
rooms, say). Deciding who goes into Q is a 0/1 choice per request under per-time-stretch
counts, an interval matrix, so a min-cost flow decides it exactly and integrally, preferring
that everybody stays on the side of their current room (see ``relax`` for the counting). Then
do the same inside Q and inside the rest with the next subset (the wheelchair rooms), until in
every part all requests may use all its rooms; there, rooms are interchangeable: those already
in the part stay in their rooms and the newcomers are fitted in with a small ejection search,
or, failing that, intervals are coloured into the rooms in start order (interval graphs are
perfect, so this cannot fail).

Each level is exact, the sequence of levels is not: this may miss an assignment that exists,
and its moves are few, not provably fewest. The allocator uses it as an upper bound and as a
quick answer, and proves (or improves) it with its exact searches.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import datetime

from syncd.rooms.budget import Budget, OutOfBudget
from syncd.rooms.ejection import Ejection
from syncd.rooms.model import AllocationRequest, Preferences
from syncd.rooms.situation import Situation

Req = AllocationRequest

# Search work allowed per part for fitting newcomers in with the fewest bumps.
PART_BUDGET = 400


def split_pack(items: Sequence[Req], sit: Situation) -> dict[str, str] | None:
    """Rooms for all ``items`` (roots and the movable allocations around them), or None if this
    method found none. Every room given meets the hard rules and overlaps nothing fixed."""
    domains = {req.booking_id: frozenset(sit.domain(req)) for req in items}
    if any(not d for d in domains.values()):
        return None
    universe: frozenset[str] = frozenset().union(*domains.values())
    out: dict[str, str] = {}
    if not _part(list(items), universe, domains, sit, out):
        return None
    return out


def _part(
    items: list[Req],
    part: frozenset[str],
    domains: dict[str, frozenset[str]],
    sit: Situation,
    out: dict[str, str],
) -> bool:
    if not items:
        return True
    doms = {req.booking_id: domains[req.booking_id] & part for req in items}
    if any(not d for d in doms.values()):
        return False
    proper = {d for d in doms.values() if d != part}
    if not proper:
        return colour(items, part, sit, out)
    # Split by the subset most requests are confined to (the big rooms before the wheelchair ones).
    inside = max(
        proper,
        key=lambda q: (sum(1 for d in doms.values() if d <= q), -len(q), sorted(q)),
    )
    goes_in = _split(items, doms, inside, part, sit)
    if goes_in is None:
        return False
    ins = [r for r in items if r.booking_id in goes_in]
    outs = [r for r in items if r.booking_id not in goes_in]
    return _part(ins, inside, domains, sit, out) and _part(outs, part - inside, domains, sit, out)


def split_feasible(
    items: Sequence[Req],
    domains: dict[str, frozenset[str]],
    inside: frozenset[str],
    part: frozenset[str],
    sit: Situation,
) -> bool:
    """Whether ``items`` can be divided between ``inside`` and the rest of ``part`` (each one
    within its domain) without either side running out of rooms at any time."""
    doms = {req.booking_id: domains[req.booking_id] & part for req in items}
    return _split(items, doms, inside, part, sit) is not None


def _split(
    items: Sequence[Req],
    doms: dict[str, frozenset[str]],
    inside: frozenset[str],
    part: frozenset[str],
    sit: Situation,
) -> set[str] | None:
    """Who goes into ``inside`` (a min-cost 0/1 choice under per-stretch room counts)."""
    lo_t = min(r.start for r in items)
    hi_t = max(r.end for r in items)
    points: set[datetime] = set()
    for req in items:
        points.add(req.start)
        points.add(req.end)
    blocked: dict[str, list[tuple[datetime, datetime]]] = {}
    for rid in part:
        spans = [
            (max(s, lo_t), min(e, hi_t)) for s, e, _ in sit.blocks[rid] if s < hi_t and lo_t < e
        ]
        if spans:
            blocked[rid] = spans
            for s, e in spans:
                points.add(s)
                points.add(e)
    times = sorted(points)
    index = {t: k for k, t in enumerate(times)}
    segs = len(times) - 1
    avail_in = [len(inside)] * segs
    avail_out = [len(part) - len(inside)] * segs
    for rid, spans in blocked.items():
        target = avail_in if rid in inside else avail_out
        for s, e in spans:
            for k in range(index[s], index[e]):
                target[k] -= 1

    must_in = [0] * (segs + 1)
    must_out = [0] * (segs + 1)
    chosen: set[str] = set()
    flex: list[tuple[int, int, int, str]] = []  # (a, b, preferred side 1/0/-1 none, id)
    for req in items:
        a, b = index[req.start], index[req.end]
        dom = doms[req.booking_id]
        if dom <= inside:
            must_in[a] += 1
            must_in[b] -= 1
            chosen.add(req.booking_id)
        elif not dom & inside:
            must_out[a] += 1
            must_out[b] -= 1
        else:
            home = req.current_room
            pref = -1 if home not in part else int(home in inside)
            flex.append((a, b, pref, req.booking_id))

    lows: list[int] = []
    highs: list[int] = []
    run_in = run_out = 0
    active = [0] * (segs + 1)
    for a, b, _, _ in flex:
        active[a] += 1
        active[b] -= 1
    run_flex = 0
    for k in range(segs):
        run_in += must_in[k]
        run_out += must_out[k]
        run_flex += active[k]
        hi = min(avail_in[k] - run_in, run_flex)
        lo = max(run_flex + run_out - avail_out[k], 0)
        if lo > hi:
            return None
        lows.append(lo)
        highs.append(hi)
    taken = _min_cost_choice(segs, flex, lows, highs)
    if taken is None:
        return None
    chosen.update(taken)
    return chosen


def _min_cost_choice(
    segs: int, flex: list[tuple[int, int, int, str]], lows: list[int], highs: list[int]
) -> set[str] | None:
    """0/1 per flexible request with lows[k] <= (chosen running in k) <= highs[k], changing as
    few preferences as possible: start from everyone's preference and repair the violated
    stretches with shortest (fewest changes) augmenting paths in the circulation's residual
    graph. All residual costs start non-negative, so Dijkstra with potentials applies."""
    n = segs + 3
    src, dst = segs + 1, segs + 2
    g = _Graph(n)
    y0 = [1 if pref == 1 else 0 for _, _, pref, _ in flex]
    item_edge: list[int] = []
    for (a, b, pref, _), y in zip(flex, y0, strict=True):
        cost = 0 if pref == -1 else 1
        if y == 0:  # flow 0 on a->b: may rise to 1
            item_edge.append(g.add(a, b, 1, cost))
        else:  # flow 1 on a->b: residual only backwards (b->a undoes it)
            item_edge.append(g.add(b, a, 1, cost))
    flow0 = [0] * (segs + 1)
    for (a, b, _, _), y in zip(flex, y0, strict=True):
        if y:
            flow0[a] += 1
            flow0[b] -= 1
    balance = [0] * (segs + 1)
    run = 0
    for k in range(segs):
        run += flow0[k]
        f = min(max(run, lows[k]), highs[k])
        if f != run:  # arc k+1 -> k moved from run to f: tail k+1 loses, head k gains
            balance[k + 1] -= f - run
            balance[k] += f - run
        g.add(k + 1, k, highs[k] - f, 0)
        g.add(k, k + 1, f - lows[k], 0)
    # Item arcs at y0 carry flow: their effect on balances is already in ``run``.
    need = 0
    for v, x in enumerate(balance):
        # A node whose inflow now exceeds its outflow must send the difference on.
        if x > 0:
            g.add(src, v, x, 0)
            need += x
        elif x < 0:
            g.add(v, dst, -x, 0)
    if g.min_cost_flow(src, dst, need) < need:
        return None
    taken: set[str] = set()
    for (_, _, _, bid), y, e in zip(flex, y0, item_edge, strict=True):
        moved = g.cap[e] == 0  # the residual arc was used once
        if (y == 1) != moved:
            taken.add(bid)
    return taken


class _Graph:
    """Residual graph for successive shortest paths (Dijkstra with potentials)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.adj: list[list[int]] = [[] for _ in range(n)]
        self.to: list[int] = []
        self.cap: list[int] = []
        self.cost: list[int] = []

    def add(self, u: int, v: int, c: int, w: int) -> int:
        e = len(self.to)
        self.adj[u].append(e)
        self.to.append(v)
        self.cap.append(max(c, 0))
        self.cost.append(w)
        self.adj[v].append(e + 1)
        self.to.append(u)
        self.cap.append(0)
        self.cost.append(-w)
        return e

    def min_cost_flow(self, s: int, t: int, want: int) -> int:
        n, adj, to, cap, cost = self.n, self.adj, self.to, self.cap, self.cost
        pot = [0] * n
        sent = 0
        inf = 1 << 60
        while sent < want:
            dist = [inf] * n
            prev = [-1] * n
            dist[s] = 0
            heap = [(0, s)]
            while heap:
                d, u = heapq.heappop(heap)
                if d > dist[u]:
                    continue
                pu = pot[u]
                for e in adj[u]:
                    if cap[e] > 0:
                        v = to[e]
                        nd = d + cost[e] + pu - pot[v]
                        if nd < dist[v]:
                            dist[v] = nd
                            prev[v] = e
                            heapq.heappush(heap, (nd, v))
            if dist[t] >= inf:
                return sent
            for v in range(n):
                if dist[v] < inf:
                    pot[v] += dist[v]
            push = want - sent
            v = t
            while v != s:
                e = prev[v]
                push = min(push, cap[e])
                v = to[e ^ 1]
            v = t
            while v != s:
                e = prev[v]
                cap[e] -= push
                cap[e ^ 1] += push
                v = to[e ^ 1]
            sent += push
        return sent


def colour(items: list[Req], part: frozenset[str], sit: Situation, out: dict[str, str]) -> bool:
    """Every request here may use every room of ``part`` (rooms are interchangeable). Keep
    everyone whose own room is in the part there and fit the others into the gaps, bumping as
    few as possible (a small ejection search, then a greedy one); also colour in start order
    (which cannot fail); take the one moving fewest."""
    tries: list[dict[str, str]] = [
        c
        for c in (
            _insert_by_ejection(items, part, sit),
            _keep_and_insert(items, part, sit),
            _greedy_colour(items, part, sit),
        )
        if c
    ]
    if not tries:
        return False
    by_id = {req.booking_id: req for req in items}

    def moved(c: dict[str, str]) -> int:
        return sum(1 for b, rid in c.items() if by_id[b].current_room != rid)

    best: dict[str, str] = min(tries, key=moved)
    out.update(best)
    return True


def _insert_by_ejection(
    items: list[Req], part: frozenset[str], sit: Situation
) -> dict[str, str] | None:
    """The fewest bumps that fit the newcomers of this part among those kept in their own rooms,
    by the allocator's ejection search on the part alone, within a small budget."""
    newcomers = [req for req in items if req.current_room not in part]
    kept = [req for req in items if req.current_room in part]
    if not newcomers:
        return {req.booking_id: req.current_room for req in kept}  # type: ignore[misc]
    rooms = [sit.rooms[rid] for rid in sorted(part, key=lambda rid: sit.order[rid])]
    local = Situation(kept, rooms, [], exclude={req.booking_id for req in newcomers})
    search = Ejection(local, Preferences(), Budget(PART_BUDGET))
    try:
        for depth in range(len(items) + 1):
            found = search.run(newcomers, depth)
            if found is not None:
                out = {req.booking_id: req.current_room for req in kept}
                out.update(found)
                return out  # type: ignore[return-value]
    except OutOfBudget:
        pass
    return None


def _keep_and_insert(
    items: list[Req], part: frozenset[str], sit: Situation
) -> dict[str, str] | None:
    rooms = sorted(part, key=lambda rid: sit.order[rid])
    held: dict[str, list[Req]] = {rid: [] for rid in rooms}
    where: dict[str, str] = {}
    queue: list[Req] = []
    for req in sorted(items, key=lambda r: (r.start, r.end, r.booking_id)):
        if req.current_room in part:
            held[req.current_room].append(req)
            where[req.booking_id] = req.current_room
        else:
            queue.append(req)
    steps = 4 * len(items) + 8
    while queue:
        steps -= 1
        if steps < 0:
            return None
        req = queue.pop(0)
        best: tuple[int, int, str] | None = None
        for rid in rooms:
            clash = [q for q in held[rid] if q.start < req.end and req.start < q.end]
            # Never bump someone who was itself bumped or placed here: that could cycle.
            if any(q.current_room != rid for q in clash):
                continue
            key = (len(clash), sit.order[rid], rid)
            if best is None or key < best:
                best = key
        if best is None:
            return None
        rid = best[2]
        for q in [q for q in held[rid] if q.start < req.end and req.start < q.end]:
            held[rid].remove(q)
            del where[q.booking_id]
            queue.append(q)
        held[rid].append(req)
        where[req.booking_id] = rid
    return where


def _greedy_colour(items: list[Req], part: frozenset[str], sit: Situation) -> dict[str, str] | None:
    busy: dict[str, datetime] = {}
    out: dict[str, str] = {}
    rooms = sorted(part, key=lambda rid: sit.order[rid])
    for req in sorted(items, key=lambda r: (r.start, r.end, r.booking_id)):
        free = [rid for rid in rooms if rid not in busy or busy[rid] <= req.start]
        if not free:
            return None
        if req.current_room in free:
            pick = req.current_room
        else:
            pick = next((rid for rid in free if sit.is_free(req, rid)), free[0])
        busy[pick] = req.end
        out[req.booking_id] = pick
    return out
