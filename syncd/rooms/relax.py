"""Proofs that no assignment exists, by splitting the rooms in two.

Pick a set Q of rooms (say, the big ones). Each allocation must go into Q (it needs a big
room), must stay out of Q, or may go either way (y = 1 if it goes into Q). At every stretch of
time, those in Q must not outnumber Q's free rooms, and the others must not outnumber the rest:
    lo(t) <= sum of y over the flexible allocations running at t <= hi(t).
Each y covers a run of consecutive stretches, so the constraint matrix is an interval matrix,
totally unimodular: the system has a 0/1 solution exactly when it has a real one, and that is a
circulation with bounds on a path of time points, decided by one max-flow. If the two-way split
is impossible, the real assignment is impossible too. This catches what checking each instant
alone misses: an allocation must keep one room for its whole interval.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime

from syncd.rooms.model import AllocationRequest
from syncd.rooms.rules import request_kind
from syncd.rooms.situation import Situation

Req = AllocationRequest


def split_refutes(items: Sequence[Req], sit: Situation) -> bool:
    """True if some two-way split of the rooms proves that ``items`` (roots and the movable
    allocations around them) cannot all have rooms. False proves nothing."""
    if not items:
        return False
    domains = [frozenset(sit.domain(req)) for req in items]
    universe: frozenset[str] = frozenset().union(*domains)
    if not universe:
        return True
    kinds = {request_kind(req): frozenset(sit.suitable(req)) & universe for req in items}
    specials = {q for q in kinds.values() if q and q != universe}
    for a in list(specials):
        for b in list(specials):
            for q in (a & b, a | b):
                if q and q != universe:
                    specials.add(q)
    if not specials:
        return False
    frame = _Frame(items, universe, sit)
    return any(
        not frame.feasible(domains, q) for q in sorted(specials, key=lambda q: (len(q), sorted(q)))
    )


class _Frame:
    """Time points and room availability per segment, shared by all splits of one call."""

    def __init__(self, items: Sequence[Req], universe: frozenset[str], sit: Situation) -> None:
        lo_t = min(r.start for r in items)
        hi_t = max(r.end for r in items)
        points: set[datetime] = set()
        for req in items:
            points.add(req.start)
            points.add(req.end)
        blocked: dict[str, list[tuple[datetime, datetime]]] = {}
        for rid in universe:
            spans = [
                (max(s, lo_t), min(e, hi_t)) for s, e, _ in sit.blocks[rid] if s < hi_t and lo_t < e
            ]
            blocked[rid] = spans
            for s, e in spans:
                points.add(s)
                points.add(e)
        self.items = items
        self.times = sorted(points)
        self.index = {t: k for k, t in enumerate(self.times)}
        segs = len(self.times) - 1
        self.segs = segs
        # Segments during which each room is blocked (few rooms have any).
        self.blocked_segs: dict[str, list[int]] = {}
        for rid, spans in blocked.items():
            if spans:
                segs_here: list[int] = []
                for s, e in spans:
                    segs_here.extend(range(self.index[s], self.index[e]))
                self.blocked_segs[rid] = segs_here
        self.universe = universe

    def feasible(self, domains: list[frozenset[str]], inside: frozenset[str]) -> bool:
        segs = self.segs
        avail_in = [len(inside)] * segs
        avail_out = [len(self.universe) - len(inside)] * segs
        for rid, blocked in self.blocked_segs.items():
            target = avail_in if rid in inside else avail_out
            for k in blocked:
                target[k] -= 1
        must_in = [0] * (segs + 1)
        must_out = [0] * (segs + 1)
        flex_count = [0] * (segs + 1)
        flex: list[tuple[int, int]] = []
        index = self.index
        for req, dom in zip(self.items, domains, strict=True):
            a, b = index[req.start], index[req.end]
            if dom <= inside:
                target = must_in
            elif not dom & inside:
                target = must_out
            else:
                target = flex_count
                flex.append((a, b))
            target[a] += 1
            target[b] -= 1
        lows: list[int] = []
        highs: list[int] = []
        run_in = run_out = run_flex = 0
        for k in range(segs):
            run_in += must_in[k]
            run_out += must_out[k]
            run_flex += flex_count[k]
            hi = min(avail_in[k] - run_in, run_flex)
            lo = max(run_flex + run_out - avail_out[k], 0)
            if lo > hi:
                return False
            lows.append(lo)
            highs.append(hi)
        return _circulation(segs, flex, lows, highs)


def _circulation(segs: int, flex: list[tuple[int, int]], lows: list[int], highs: list[int]) -> bool:
    """Feasibility of: arcs a -> b with flow in [0, 1] (one per flexible allocation), and arcs
    k+1 -> k with flow in [lows[k], highs[k]] (how many of them run in segment k)."""
    source, sink = segs + 1, segs + 2
    flow = _MaxFlow(segs + 3)
    excess = [0] * (segs + 1)
    for a, b in flex:
        flow.add(a, b, 1)
    for k in range(segs):
        flow.add(k + 1, k, highs[k] - lows[k])
        excess[k] += lows[k]
        excess[k + 1] -= lows[k]
    need = 0
    for v, x in enumerate(excess):
        if x > 0:
            flow.add(source, v, x)
            need += x
        elif x < 0:
            flow.add(v, sink, -x)
    return flow.run(source, sink) == need


class _MaxFlow:
    """Dinic's algorithm (iterative, so long time lines cannot hit the recursion limit)."""

    def __init__(self, n: int) -> None:
        self.adj: list[list[int]] = [[] for _ in range(n)]
        self.to: list[int] = []
        self.cap: list[int] = []

    def add(self, u: int, v: int, c: int) -> None:
        if c <= 0:
            return
        self.adj[u].append(len(self.to))
        self.to.append(v)
        self.cap.append(c)
        self.adj[v].append(len(self.to))
        self.to.append(u)
        self.cap.append(0)

    def run(self, s: int, t: int) -> int:
        total = 0
        to, cap, adj = self.to, self.cap, self.adj
        n = len(adj)
        while True:
            level = [-1] * n
            level[s] = 0
            queue = deque([s])
            while queue:
                u = queue.popleft()
                for e in adj[u]:
                    if cap[e] > 0 and level[to[e]] < 0:
                        level[to[e]] = level[u] + 1
                        queue.append(to[e])
            if level[t] < 0:
                return total
            it = [0] * n
            while True:  # blocking flow: repeated depth-first paths along levels
                path: list[int] = []
                u = s
                while u != t:
                    advanced = False
                    while it[u] < len(adj[u]):
                        e = adj[u][it[u]]
                        if cap[e] > 0 and level[to[e]] == level[u] + 1:
                            path.append(e)
                            u = to[e]
                            advanced = True
                            break
                        it[u] += 1
                    if not advanced:
                        if u == s:
                            break
                        level[u] = -1  # dead end
                        e = path.pop()
                        u = to[e ^ 1]
                        it[u] += 1
                if u != t:
                    break
                pushed = min(cap[e] for e in path)
                for e in path:
                    cap[e] -= pushed
                    cap[e ^ 1] += pushed
                total += pushed
