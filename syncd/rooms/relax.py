"""Proofs that no assignment exists, by splitting the rooms in two.

Pick a set Q of rooms (say, the big ones). Each allocation must go into Q (it needs a big
room), must stay out of Q, or may go either way (y = 1 if it goes into Q). At every stretch of
time, those in Q must not outnumber Q's free rooms, and the others must not outnumber the rest:
    lo(t) <= sum of y over the flexible allocations running at t <= hi(t).
Each y covers a run of consecutive stretches, so the constraint matrix is an interval matrix,
totally unimodular: the system has a 0/1 solution exactly when it has a real one, and that is a
circulation with bounds on a path of time points, decided by a flow (``splitpack._split``). If
the two-way split is impossible, the real assignment is impossible too. This catches what
checking each instant alone misses: an allocation must keep one room for its whole interval.
"""

from __future__ import annotations

from collections.abc import Sequence

from syncd.rooms.model import AllocationRequest
from syncd.rooms.rules import request_kind
from syncd.rooms.situation import Situation
from syncd.rooms.splitpack import split_feasible

Req = AllocationRequest


def split_refutes(items: Sequence[Req], sit: Situation) -> bool:
    """True if some two-way split of the rooms proves that ``items`` (roots and the movable
    allocations around them) cannot all have rooms. False proves nothing. The splits tried are
    the rooms some kind of request is confined to (big, wheelchair, ...), and their pairwise
    unions and intersections."""
    if not items:
        return False
    domains = {req.booking_id: frozenset(sit.domain(req)) for req in items}
    universe: frozenset[str] = frozenset().union(*domains.values())
    if not universe:
        return True
    kinds = {request_kind(req): frozenset(sit.suitable(req)) & universe for req in items}
    specials = {q for q in kinds.values() if q and q != universe}
    for a in list(specials):
        for b in list(specials):
            for q in (a & b, a | b):
                if q and q != universe:
                    specials.add(q)
    return any(
        not split_feasible(items, domains, q, universe, sit)
        for q in sorted(specials, key=lambda q: (len(q), sorted(q)))
    )
