"""Real-world .ics files shipped with icalendar and recurring-ical-events, cut into resources.

A CalDAV resource holds one event series, while these files hold whole calendars; ``resources``
cuts them up by UID on the text level (no parser involved), so broken input stays broken.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from tests.mappings.helpers import ICALENDAR_CORPUS, RIE_CORPUS


def corpus_files() -> list[Path]:
    found = [
        *ICALENDAR_CORPUS.glob("calendars/*.ics"),
        *ICALENDAR_CORPUS.glob("events/*.ics"),
        *ICALENDAR_CORPUS.glob("timezones/*.ics"),
        *RIE_CORPUS.glob("*.ics"),
    ]
    return sorted(found)


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


@lru_cache(maxsize=512)
def resources(path: Path) -> tuple[str, ...]:
    """One VCALENDAR per UID: the file's calendar properties and VTIMEZONEs, plus that UID's
    VEVENTs (master and overrides)."""
    lines = re.split(r"\r\n|\n|\r", read(path))
    head: list[str] = []
    zones: list[str] = []
    events: dict[str, list[str]] = {}
    block: list[str] = []
    depth: list[str] = []
    for line in lines:
        upper = line.strip().upper()
        if upper.startswith("BEGIN:"):
            depth.append(upper[6:])
        if len(depth) >= 2 and depth[1] in ("VEVENT", "VTIMEZONE"):
            block.append(line)
        elif len(depth) == 1 and not upper.startswith(("BEGIN:", "END:")) and line.strip():
            head.append(line)
        if upper.startswith("END:") and depth:
            closed = depth.pop()
            if len(depth) == 1 and closed in ("VEVENT", "VTIMEZONE"):
                if closed == "VTIMEZONE":
                    zones.extend(block)
                else:
                    uid = next(
                        (b.partition(":")[2].strip() for b in block if b.upper().startswith("UID")),
                        "",
                    )
                    events.setdefault(uid, []).extend(block)
                block = []
    return tuple(
        "\r\n".join(["BEGIN:VCALENDAR", *head, *zones, *body, "END:VCALENDAR", ""])
        for body in events.values()
    )
