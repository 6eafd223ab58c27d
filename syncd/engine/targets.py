"""Which calendars the engine syncs: every caseworker's and every room's, from the directory."""

from __future__ import annotations

from dataclasses import dataclass

from syncd.store.directory import DirectoryIndex


@dataclass(frozen=True)
class Target:
    calendar_id: str
    kind: str  # caseworker | room
    owner_id: str


def targets(index: DirectoryIndex) -> list[Target]:
    out = [
        Target(c.calendar_id, "caseworker", c.id)
        for c in index.directory.caseworkers
        if c.calendar_id
    ]
    out += [Target(r.calendar_id, "room", r.id) for r in index.directory.rooms if r.calendar_id]
    return out
