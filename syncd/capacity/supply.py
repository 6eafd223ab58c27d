"""Offers per conversation type from the caseworkers' windows.

A caseworker who offers several types shares one calendar between them, so her week is split
between her types in proportion to the demand expected for each (and her weekly cap is shared
the same way). Summed per site, type and week this is the number of self-booking times the
demand meets in the forecast.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class CaseworkerWeek:
    """One caseworker's self-booking time in one week (after busy time, holidays, reserve)."""

    site_id: str
    week: date  # Monday
    types: tuple[str, ...]
    windows: tuple[tuple[int, int], ...]  # (weekday 0-6, free minutes) per window occurrence
    cap: int | None = None  # conversations per week


def times_in(window_minutes: Iterable[int], step: int) -> int:
    """Conversations of ``step`` minutes (conversation plus buffers) the windows hold."""
    return sum(max(0, m) // step for m in window_minutes) if step > 0 else 0


def _daily(cw: CaseworkerWeek, step: int) -> list[float]:
    """Times of one type per weekday if the caseworker gave her whole week to it (the weekly
    cap scales every day alike)."""
    days = [0.0] * 7
    for weekday, minutes in cw.windows:
        days[weekday] += times_in((minutes,), step)
    total = sum(days)
    if cw.cap is not None and total > cw.cap:
        days = [d * cw.cap / total for d in days]
    return days


def offers_by_type(
    weeks: Iterable[CaseworkerWeek],
    steps: Mapping[str, int],
    weights: Mapping[tuple[str, str, date], float] | None = None,
    *,
    rounds: int = 40,
) -> dict[tuple[str, str, date], tuple[int, ...]]:
    """Self-booking times per (site, type, week), per weekday (Monday first).

    ``weights`` is the expected demand per (site, type, week). A caseworker with several
    types splits her time so that, per site and week, each type's offers stand in the same
    proportion to its demand where the caseworkers allow it (a few rounds of proportional
    fitting); a type only few offer thus gets what it needs first. Without weights her time
    is split evenly."""
    groups: dict[tuple[str, date], list[CaseworkerWeek]] = {}
    for cw in weeks:
        if any(t in steps for t in cw.types):
            groups.setdefault((cw.site_id, cw.week), []).append(cw)
    out: dict[tuple[str, str, date], tuple[int, ...]] = {}
    for (site_id, week), members in sorted(groups.items()):
        full = [{t: _daily(cw, steps[t]) for t in cw.types if t in steps} for cw in members]
        shares = [{t: 1.0 / len(f) for t in f} for f in full]
        want = {t: max(1e-9, (weights or {}).get((site_id, t, week), 1.0)) for f in full for t in f}
        for _ in range(rounds if weights else 0):
            supply = _supply(full, shares)
            ratio = {t: sum(supply.get(t, ())) / want[t] for t in want}
            for f, share in zip(full, shares, strict=True):
                if len(f) < 2:
                    continue
                raw = {t: share[t] / max(ratio[t], 1e-9) for t in f}
                norm = sum(raw.values())
                for t in f:
                    share[t] = raw[t] / norm
        for t, days in _supply(full, shares).items():
            out[(site_id, t, week)] = tuple(round(d) for d in days)
    return out


def _supply(
    full: list[dict[str, list[float]]], shares: list[dict[str, float]]
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for f, share in zip(full, shares, strict=True):
        for t, days in f.items():
            acc = out.setdefault(t, [0.0] * 7)
            for i, n in enumerate(days):
                acc[i] += share[t] * n
    return out


def pools(
    weeks: Iterable[CaseworkerWeek], steps: Mapping[str, int]
) -> dict[tuple[str, date], dict[frozenset[str], tuple[int, ...]]]:
    """Bookable caseworker minutes per (site, week), grouped by the set of types the
    caseworkers offer, per weekday: each window holds whole conversations of the caseworker's
    shortest type, and her weekly cap (at her types' mean length) limits the week."""
    out: dict[tuple[str, date], dict[frozenset[str], list[float]]] = {}
    for cw in weeks:
        own = [steps[t] for t in cw.types if t in steps]
        if not own:
            continue
        step = min(own)
        days = [0.0] * 7
        for weekday, minutes in cw.windows:
            days[weekday] += (max(0, minutes) // step) * step
        total, cap_minutes = sum(days), (cw.cap or 0) * sum(own) / len(own)
        if cw.cap is not None and total > cap_minutes:
            days = [d * cap_minutes / total for d in days]
        key = frozenset(t for t in cw.types if t in steps)
        acc = out.setdefault((cw.site_id, cw.week), {}).setdefault(key, [0.0] * 7)
        for i, m in enumerate(days):
            acc[i] += m
    return {
        k: {types: tuple(round(m) for m in v) for types, v in g.items()} for k, g in out.items()
    }
