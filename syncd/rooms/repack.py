"""Re-packing: rooms for some requests, moving as few movable allocations as possible.

The search is exact. Three parts, cheapest first:

1. A necessary condition per instant (``point_bound``): at each start inside a request's
   interval, the conversations running at that instant must be matchable to distinct rooms
   (bipartite matching, augmenting from the current allocation). Failure proves that no
   assignment exists; the length of the shortest augmenting path is a lower bound on the moves.
   Most "no room" answers on a full day end here, in a few milliseconds.
2. An ejection search with iterative deepening on the number of moves (``Ejection``): place a
   request in a room, which bumps the movable allocations overlapping it there; place each
   bumped one elsewhere; and so on. Every minimal solution is reachable this way (each moved
   allocation in a minimal solution was pushed out of its room by someone placed there), so the
   first solution found with k moves, trying k = 0, 1, 2, ..., has the fewest moves.
3. If no solution with few moves exists, an exhaustive feasibility search over the connected
   component of the interval graph (``exhaustive``): allocations sorted by start, each put in a
   room free at its start; rooms that are interchangeable (same class, same blocks) are tried
   once, and failed states are remembered. It decides feasibility and gives an upper bound on
   the moves; deepening then continues up to that bound, so the answer stays exact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime

from syncd.rooms.model import AllocationRequest, Preferences
from syncd.rooms.preferences import rank_rooms
from syncd.rooms.rules import room_class
from syncd.rooms.situation import Situation

Req = AllocationRequest

# Moves tried by deepening before the exhaustive search is asked whether a solution exists.
QUICK_DEPTH = 3


def pack(roots: Sequence[Req], sit: Situation, prefs: Preferences) -> dict[str, str] | None:
    """Rooms for all ``roots`` (requests not in ``sit``) and for the existing allocations that
    must move, with the fewest such moves; None if no assignment of everyone exists.

    The result maps booking id to room for every root and every moved allocation only.
    """
    if not roots:
        return {}
    if any(not sit.domain(root) for root in roots):
        return None
    search = Ejection(sit, prefs)
    found = search.run(roots, 0)
    if found is not None:
        return found
    bound = point_bound(roots, sit)
    if bound is None:
        return None
    for k in range(max(bound, 1), QUICK_DEPTH + 1):
        found = search.run(roots, k)
        if found is not None:
            return found
    full = exhaustive(roots, sit)
    if full is None:
        return None
    upper = _minimise(full, roots, sit)
    moves = sum(1 for bid, rid in upper.items() if bid in sit.movable)
    for k in range(max(bound, QUICK_DEPTH + 1), moves):
        found = search.run(roots, k)
        if found is not None:
            return found
    return upper


class Ejection:
    """Depth-first ejection search with a budget of moves (see the module docstring)."""

    def __init__(self, sit: Situation, prefs: Preferences) -> None:
        self.sit = sit
        self.prefs = prefs
        self._ranked: dict[str, tuple[str, ...]] = {}
        self._free: dict[str, tuple[str, ...]] = {}
        self.placed: dict[str, str] = {}
        self.by_room: dict[str, list[Req]] = defaultdict(list)
        self.ejected: dict[str, Req] = {}

    def run(self, roots: Sequence[Req], k: int) -> dict[str, str] | None:
        """A placement moving at most ``k`` existing allocations, or None if there is none."""
        self.placed.clear()
        self.by_room.clear()
        self.ejected.clear()
        if self._dfs(list(roots), 0, k):
            return dict(self.placed)
        return None

    def ranked(self, req: Req) -> tuple[str, ...]:
        found = self._ranked.get(req.booking_id)
        if found is None:
            found = tuple(rank_rooms(req, self.sit.domain(req), self.sit, self.prefs))
            self._ranked[req.booking_id] = found
        return found

    def free(self, req: Req) -> tuple[str, ...]:
        """Preferred-first rooms free for ``req`` before the search moved anything."""
        found = self._free.get(req.booking_id)
        if found is None:
            sit = self.sit
            found = tuple(rid for rid in self.ranked(req) if not sit.bumps(req, rid))
            self._free[req.booking_id] = found
        return found

    def _clash(self, req: Req, rid: str) -> bool:
        placed = self.by_room.get(rid)
        return bool(placed) and any(q.start < req.end and req.start < q.end for q in placed)

    def _options(self, req: Req, budget: int) -> list[tuple[int, str, tuple[Req, ...]]]:
        """(bumped count, room, bumped) for each room ``req`` could take within ``budget``."""
        sit, ejected = self.sit, self.ejected
        out: list[tuple[int, str, tuple[Req, ...]]] = []
        if budget == 0:
            seen: set[str] = set()
            for rid in self.free(req):
                if not self._clash(req, rid):
                    out.append((0, rid, ()))
                    seen.add(rid)
            # Rooms emptied by bumping someone out of them during this search.
            domain = sit.domain(req)
            for x in ejected.values():
                rid = x.current_room
                if rid is None or rid in seen or rid not in domain:
                    continue
                seen.add(rid)
                if self._clash(req, rid):
                    continue
                if all(b.booking_id in ejected for b in sit.bumps(req, rid)):
                    out.append((0, rid, ()))
            return out
        for rid in self.ranked(req):
            if self._clash(req, rid):
                continue
            bumped = sit.bumps(req, rid)
            if bumped and ejected:
                bumped = tuple(b for b in bumped if b.booking_id not in ejected)
            if len(bumped) <= budget:
                out.append((len(bumped), rid, bumped))
        return out

    def _dfs(self, pending: list[Req], cost: int, k: int) -> bool:
        if not pending:
            return True
        budget = k - cost
        best: tuple[int, int] | None = None
        chosen: Req | None = None
        chosen_opts: list[tuple[int, str, tuple[Req, ...]]] = []
        for req in pending:
            opts = self._options(req, budget)
            if not opts:
                return False
            # Most constrained first: the one that must bump the most, then the fewest choices.
            key = (min(o[0] for o in opts), -len(opts))
            if best is None or key > best:
                best, chosen, chosen_opts = key, req, opts
        assert chosen is not None
        chosen_opts.sort(key=lambda o: o[0])  # stable: preference order within equal cost
        rest = [q for q in pending if q is not chosen]
        for extra, rid, bumped in chosen_opts:
            self.placed[chosen.booking_id] = rid
            self.by_room[rid].append(chosen)
            for b in bumped:
                self.ejected[b.booking_id] = b
            if self._dfs(rest + list(bumped), cost + extra, k):
                return True
            for b in bumped:
                del self.ejected[b.booking_id]
            self.by_room[rid].pop()
            del self.placed[chosen.booking_id]
        return False


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
            x = sit.stays[rid].at(t)
            if x is not None:
                holder[rid] = x
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


def exhaustive(roots: Sequence[Req], sit: Situation) -> dict[str, str] | None:
    """Some assignment of the roots and the movable allocations around them (each allocation
    stays where it is when it can), or None if none exists. Exact, exponential in the worst case
    but cut down by room symmetry and by remembering failed states."""
    items = sorted([*roots, *component(roots, sit)], key=lambda r: (r.start, r.end, r.booking_id))
    twin: dict[str, tuple[object, ...]] = {
        rid: (room_class(room), tuple((s, e) for s, e, _ in sit.blocks[rid]))
        for rid, room in sit.rooms.items()
    }
    choices: list[tuple[str, ...]] = []
    for req in items:
        dom = sit.domain(req)
        if req.current_room in dom:
            dom = (req.current_room, *(r for r in dom if r != req.current_room))  # type: ignore[assignment]
        choices.append(dom)

    n = len(items)
    busy: dict[str, datetime] = {}
    chosen: list[str] = [""] * n
    before: list[datetime | None] = [None] * n
    keys: list[tuple[object, ...]] = [()] * n
    failed: set[tuple[object, ...]] = set()

    def state(i: int) -> tuple[object, ...]:
        s = items[i].start
        return (i, tuple(sorted((twin[r], b) for r, b in busy.items() if b > s)))

    def candidates(i: int) -> Iterator[str]:
        s = items[i].start
        tried: set[tuple[object, ...]] = set()
        for rid in choices[i]:
            b = busy.get(rid)
            if b is not None and b > s:
                continue
            if twin[rid] in tried:
                continue  # an interchangeable free room was tried already
            tried.add(twin[rid])
            yield rid

    if n == 0:
        return {}
    keys[0] = state(0)
    iters: list[Iterator[str]] = [candidates(0)] + [iter(())] * (n - 1)
    i = 0
    while True:
        rid = next(iters[i], None)
        if rid is None:
            failed.add(keys[i])
            i -= 1
            if i < 0:
                return None
            _undo(busy, chosen[i], before[i])
            continue
        before[i] = busy.get(rid)
        busy[rid] = items[i].end
        chosen[i] = rid
        if i + 1 == n:
            return {req.booking_id: chosen[j] for j, req in enumerate(items)}
        key = state(i + 1)
        if key in failed:
            _undo(busy, rid, before[i])
            continue
        i += 1
        keys[i] = key
        iters[i] = candidates(i)


def _undo(busy: dict[str, datetime], rid: str, before: datetime | None) -> None:
    if before is None:
        del busy[rid]
    else:
        busy[rid] = before


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
