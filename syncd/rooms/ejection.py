"""The ejection search: fewest moves by bumping, with iterative deepening done by the caller.

Place a request in a room, which bumps the movable allocations overlapping it there; place
each bumped one elsewhere; and so on, within a budget of k bumps. Every minimal solution is
reachable this way (each moved allocation in a minimal solution was pushed out of its room by
someone placed there), so calling ``run`` with k = 0, 1, 2, ... and stopping at the first
success gives the fewest moves.
"""

from __future__ import annotations

from collections.abc import Sequence

from syncd.rooms.budget import Budget
from syncd.rooms.model import AllocationRequest, Preferences
from syncd.rooms.preferences import rank_rooms
from syncd.rooms.situation import Situation

Req = AllocationRequest


class Ejection:
    """Depth-first ejection search with a budget of moves (see the module docstring)."""

    def __init__(self, sit: Situation, prefs: Preferences, budget: Budget | None = None) -> None:
        self.sit = sit
        self.prefs = prefs
        self.budget = budget or Budget(None)
        self._base: dict[str, list[tuple[str, tuple[Req, ...]]]] = {}
        self._free: dict[str, list[str]] = {}
        self.placed: dict[str, str] = {}
        self.by_room: dict[str, list[Req]] = {}
        self.ejected: dict[str, Req] = {}

    def run(self, roots: Sequence[Req], k: int) -> dict[str, str] | None:
        """A placement moving at most ``k`` existing allocations, or None if there is none."""
        self.placed.clear()
        self.by_room.clear()
        self.ejected.clear()
        if self._dfs(list(roots), 0, k):
            return dict(self.placed)
        return None

    def base(self, req: Req) -> list[tuple[str, tuple[Req, ...]]]:
        """(room, whom it would bump there before the search moved anything), preferred first."""
        found = self._base.get(req.booking_id)
        if found is None:
            sit = self.sit
            ranked = rank_rooms(req, sit.domain(req), sit, self.prefs)
            found = [(rid, sit.bumps(req, rid)) for rid in ranked]
            self._base[req.booking_id] = found
            self._free[req.booking_id] = [rid for rid, bumped in found if not bumped]
        return found

    def _options(self, req: Req, budget: int) -> list[tuple[int, str, tuple[Req, ...]]]:
        """(bumped count, room, bumped) for each room ``req`` could take within ``budget``."""
        ejected, by_room = self.ejected, self.by_room
        start, end = req.start, req.end
        out: list[tuple[int, str, tuple[Req, ...]]] = []
        base = self.base(req)
        if budget == 0:
            free = self._free[req.booking_id]
            self.budget.spend(len(free) // 4 + 1)
            for rid in free:
                placed = by_room.get(rid)
                if placed and any(q.start < end and start < q.end for q in placed):
                    continue
                out.append((0, rid, ()))
            # Rooms emptied by bumping someone out of them during this search.
            if ejected:
                seen = {rid for _, rid, _ in out}
                domain = self.sit.domain(req)
                for x in ejected.values():
                    home = x.current_room
                    if home is None or home in seen or home not in domain:
                        continue
                    seen.add(home)
                    placed = by_room.get(home)
                    if placed and any(q.start < end and start < q.end for q in placed):
                        continue
                    if all(b.booking_id in ejected for b in self.sit.bumps(req, home)):
                        out.append((0, home, ()))
            return out
        self.budget.spend(len(base) // 4 + 1)
        for rid, bumped in base:
            placed = by_room.get(rid)
            if placed and any(q.start < end and start < q.end for q in placed):
                continue
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
        placed, by_room, ejected = self.placed, self.by_room, self.ejected
        for extra, rid, bumped in chosen_opts:
            placed[chosen.booking_id] = rid
            by_room.setdefault(rid, []).append(chosen)
            for b in bumped:
                ejected[b.booking_id] = b
            if self._dfs(rest + list(bumped), cost + extra, k):
                return True
            for b in bumped:
                del ejected[b.booking_id]
            here = by_room[rid]
            here.pop()
            if not here:
                del by_room[rid]
            del placed[chosen.booking_id]
        return False
