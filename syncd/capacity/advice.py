"""Advice in Danish that a coordinator can act on, from a forecast row.

"uge 7, Lilleby, jobsamtale: ca. 14 tider for få ved 90 %-niveau; lokalerne giver plads til 9
flere fremmøder tirsdag og torsdag eftermiddag, resten som telefon/video"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from syncd.capacity.forecast import ALL_TYPES, ROOMS, WeekForecast

MAX_DAYPARTS = 3  # name at most this many parts of the week where rooms are free


@dataclass(frozen=True)
class Advice:
    site_id: str
    type_code: str
    week_label: str  # "uge 7"
    kind: str  # shortfall | rooms | strakstid
    missing: int
    text: str
    week: date | None = None  # Monday of the week


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " og " + parts[-1]


def dayparts_text(free: Sequence[tuple[str, int]]) -> str:
    """'tirsdag og torsdag eftermiddag' from [('tirsdag eftermiddag', 5), ...]: the parts with
    most free places, grouped by part of day, in weekday order as given."""
    best = sorted((p for p in free if p[1] > 0), key=lambda p: -p[1])[:MAX_DAYPARTS]
    keep = {label for label, _ in best}
    by_part: dict[str, list[str]] = {}
    for label, _ in free:
        if label in keep:
            day, _, part = label.partition(" ")
            by_part.setdefault(part, []).append(day)
    return _join([f"{_join(days)} {part}".strip() for part, days in by_part.items()])


def week_label(row: WeekForecast) -> str:
    return f"uge {row.week.isocalendar().week}"


def _level(row: WeekForecast) -> str:
    return f"{round(row.level * 100)} %-niveau"


def advise(
    rows: Sequence[WeekForecast],
    site_names: Mapping[str, str] | None = None,
    type_titles: Mapping[str, str] | None = None,
) -> list[Advice]:
    """One line per site, type and week that falls short, needs more rooms, or more strakstid."""
    sites = site_names or {}
    titles = type_titles or {}
    out: list[Advice] = []
    for r in rows:
        if r.type_code == ALL_TYPES:
            continue
        head = (
            f"{week_label(r)}, {sites.get(r.site_id, r.site_id)}, "
            f"{titles.get(r.type_code, r.type_code).lower()}"
        )
        spare_rooms = (
            max(0, int(r.room_places - r.in_person_high)) if r.room_places is not None else 0
        )
        if r.short:
            text = f"{head}: ca. {r.shortfall} tider for få ved {_level(r)}"
            if spare_rooms > 0:
                more = min(spare_rooms, r.shortfall)
                where = dayparts_text(r.room_free)
                text += f"; lokalerne giver plads til {more} flere fremmøder"
                text += f" {where}" if where else ""
                if more < r.shortfall:
                    text += ", resten som telefon/video"
            elif r.room_places is not None:
                text += "; lokalerne er fyldt, så nye tider bør være telefon/video"
            out.append(
                Advice(
                    r.site_id, r.type_code, week_label(r), "shortfall", r.shortfall, text, r.week
                )
            )
        elif r.binding == ROOMS and r.room_shortfall >= 1:
            text = (
                f"{head}: tiderne rækker, men ca. {r.room_shortfall} fremmøder for mange til "
                f"lokalerne ved {_level(r)}; tilbyd dem som telefon/video"
            )
            out.append(
                Advice(
                    r.site_id, r.type_code, week_label(r), "rooms", r.room_shortfall, text, r.week
                )
            )
        if r.strakstid_missing > 0:
            text = (
                f"{head}: hold {r.strakstid_needed} strakstider i reserve "
                f"(i dag {r.strakstid_reserve}); så mange når efter erfaringen ikke fristen"
            )
            out.append(
                Advice(
                    r.site_id,
                    r.type_code,
                    week_label(r),
                    "strakstid",
                    r.strakstid_missing,
                    text,
                    r.week,
                )
            )
    return out
