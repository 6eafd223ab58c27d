"""Soft preferences: which of the feasible rooms to choose.

In order of weight:
1. the smallest room that fits (big rooms stay free for joint conversations with the a-kasse);
2. the room of the caseworker's back-to-back conversations (she does not change rooms);
3. the team's preferred rooms or floor;
4. the fewest surplus features (wheelchair/video rooms stay free for those who need them);
5. the least loaded room that day (spread wear and keep gaps usable);
then the given room order, so the choice is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable

from syncd.rooms.model import AllocationRequest, Preferences
from syncd.rooms.situation import Situation


def rank_rooms(
    req: AllocationRequest, room_ids: Iterable[str], sit: Situation, prefs: Preferences
) -> list[str]:
    """``room_ids`` ordered from most to least preferred for ``req``."""
    adjacent = {
        other.current_room
        for other in sit.by_caseworker.get(req.caseworker_id, ())
        if other.booking_id != req.booking_id
        and max(other.start - req.end, req.start - other.end) <= prefs.adjacent_gap
    }
    team_rooms = set(prefs.team_rooms.get(req.team, ())) if req.team is not None else set()
    team_floor = prefs.team_floors.get(req.team) if req.team is not None else None
    day = req.start.date()

    def key(rid: str) -> tuple[int, bool, bool, int, float, int]:
        room = sit.rooms[rid]
        in_team = rid in team_rooms or (team_floor is not None and room.floor == team_floor)
        return (
            room.capacity,
            rid not in adjacent,
            not in_team,
            len(room.features - req.features),
            sit.load(rid, day),
            sit.order[rid],
        )

    return sorted(room_ids, key=key)
