"""A forecast per week: the bookings the demand will bring against the offers and rooms.

Each citizen counted in the demand is simulated from the learned behaviour of her site and
conversation type (book k days before the deadline, want the conversation d days later but
not after her latest date, cancel, cancel too late, rebook, miss the deadline, in person or
not). Many seeded runs give a band (the same inputs always give the same band).

Whether the offers suffice is not a weekly sum: a citizen who books on Thursday can only use
the days from Friday to her latest date, Monday's unused times are no help to her, and a common
type takes times from caseworkers who also offer a rarer one. So each run lets the simulated
citizens book the site's caseworker time day by day (``booking_sim``); those who find nothing
by their latest date are the week's shortfall. A week falls short when that number at the
chosen level (90 %) reaches ``threshold``; the binding limit is the caseworkers' windows or the
rooms, whichever is exceeded more.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from syncd.capacity import booking_sim
from syncd.capacity.behaviour import MAX_BEFORE_DEADLINE, Behaviour, with_prior
from syncd.capacity.demand import DemandCount, monday_of

ALL_TYPES = ""  # type_code of a site's total over its conversation types
# A week falls short when at least this many citizens, and this share of the week's bookings,
# would get no time: fewer is noise that the strakstid reserve absorbs.
MIN_SHORTFALL = 5
MIN_SHORTFALL_SHARE = 0.02
CASEWORKERS = "caseworkers"
ROOMS = "rooms"


def threshold(bookings: float) -> float:
    """Citizens without a time that make a week fall short, for a week of ``bookings``."""
    return max(MIN_SHORTFALL, MIN_SHORTFALL_SHARE * bookings)


@dataclass(frozen=True)
class WeekCapacity:
    """What one site offers one conversation type in one week (from the store)."""

    site_id: str
    type_code: str
    week: date  # Monday
    offers: int  # self-booking times of the windows, after caps and the strakstid reserve
    room_places: int | None = None  # in-person conversations the free rooms can hold (None:
    # rooms are not known, e.g. a site without room calendars)
    strakstid: int = 0  # times held back as strakstid reserve
    booked: int = 0  # live self-bookings so far
    booked_in_person: int = 0
    room_free: tuple[tuple[str, int], ...] = ()  # free in-person places per part of a day
    daily: tuple[int, ...] = ()  # offers per day, Monday to Sunday, when known


@dataclass(frozen=True)
class WeekForecast:
    site_id: str
    type_code: str  # ALL_TYPES for the site's total
    week: date
    offers: int
    booked: int
    demand_mean: float  # times booked in the week (kept or lost to a late cancellation)
    demand_low: float  # the band: (1 - level) and level quantiles
    demand_high: float
    unmet_mean: float  # citizens left without a time by their latest date in this week
    unmet_high: float  # the same at the level
    room_places: int | None
    booked_in_person: int
    in_person_mean: float
    in_person_high: float
    strakstid_reserve: int
    strakstid_needed: int  # strakstid times needed at the level (citizens missing the deadline)
    level: float
    room_free: tuple[tuple[str, int], ...] = ()

    @property
    def shortfall(self) -> int:
        """Times missing at the level: citizens who would get none by their latest date."""
        return max(0, math.ceil(self.unmet_high - 1e-9))

    @property
    def room_shortfall(self) -> int:
        if self.room_places is None:
            return 0
        return max(0, math.ceil(self.in_person_high - self.room_places - 1e-9))

    @property
    def short(self) -> bool:
        return self.shortfall >= threshold(self.demand_mean)

    @property
    def binding(self) -> str | None:
        """Which limit the demand hits first, if any."""
        cw = max(self.unmet_high, self.demand_high - self.offers)
        rooms = self.in_person_high - self.room_places if self.room_places is not None else 0.0
        if cw <= 0 and rooms <= 0:
            return None
        return CASEWORKERS if cw >= rooms else ROOMS

    @property
    def strakstid_missing(self) -> int:
        return max(0, self.strakstid_needed - self.strakstid_reserve)


SPILL_DAYS = 35  # latest dates beyond the last week still need a place on the day axis
LOOKBACK_WEEKS = 2  # days before the first week, while their offers are known


@dataclass
class _Counts:
    """Per run and week: times kept, of those in person, strakstid, citizens left without."""

    held: np.ndarray
    in_person: np.ndarray
    strakstid: np.ndarray
    unmet: np.ndarray

    @classmethod
    def empty(cls, runs: int, nweeks: int) -> _Counts:
        return cls(*(np.zeros((runs, nweeks), dtype=np.int64) for _ in range(4)))

    def add(self, other: _Counts) -> None:
        self.held += other.held
        self.in_person += other.in_person
        self.strakstid += other.strakstid
        self.unmet += other.unmet


@dataclass
class Forecast:
    weeks: list[date]
    rows: list[WeekForecast] = field(default_factory=list)

    def of(self, site_id: str, type_code: str = ALL_TYPES) -> list[WeekForecast]:
        return [r for r in self.rows if r.site_id == site_id and r.type_code == type_code]

    def short_weeks(self) -> list[WeekForecast]:
        return [r for r in self.rows if r.type_code != ALL_TYPES and r.short]


def _choice(rng: np.random.Generator, probs: Sequence[float], size: tuple[int, int]) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    return rng.choice(len(p), size=size, p=p / p.sum())


def _simulate_cohort(
    rng: np.random.Generator,
    d: DemandCount,
    b: Behaviour,
    runs: int,
    first: int,
    nweeks: int,
    counts: _Counts,
    requests: booking_sim.Requests,
    type_index: int,
) -> None:
    """Add one cohort's simulated conversations to ``counts`` and its bookings, cancellations
    and rebookings to ``requests``."""
    n = d.count
    if n <= 0:
        return
    size = (runs, n)
    monday = d.deadline_week.toordinal()
    deadline = monday + rng.integers(0, 5, size=size)
    latest = deadline + d.margin_days
    miss = rng.random(size) < b.miss_share
    booked = deadline - _choice(rng, b.before_deadline, size)
    held = np.minimum(booked + np.maximum(_choice(rng, b.lead, size), 1), latest)
    cancel = rng.random(size) < b.cancel_rate
    late = rng.random(size) < b.late_cancel_share
    rebook = cancel & (rng.random(size) < b.rebook_rate)
    # A booking holds its time unless cancelled early enough for the time to be offered again.
    keeps_time = ~miss & (~cancel | late)
    span = np.maximum(held - booked, 1)
    cancelled_on = booked + (rng.random(size) * span).astype(np.int64)
    held_again = np.minimum(cancelled_on + np.maximum(_choice(rng, b.lead, size), 1), latest)
    again = ~miss & rebook
    # Staff give a strakstid on the first working day after the deadline.
    straks = deadline + np.where(deadline % 7 == 5, 3, 1)  # ordinal % 7: Monday 1, Friday 5
    run_index = np.broadcast_to(np.arange(runs)[:, None], size)

    def count(days: np.ndarray, mask: np.ndarray) -> np.ndarray:
        week = (days - first) // 7
        ok = mask & (week >= 0) & (week < nweeks)
        flat = run_index[ok] * nweeks + week[ok]
        return np.bincount(flat, minlength=runs * nweeks).reshape(runs, nweeks)

    for held_on, mask in ((held, keeps_time), (held_again, again)):
        counts.held += count(held_on, mask)
        counts.in_person += count(held_on, mask & (rng.random(size) < b.in_person_share))
    counts.strakstid += count(straks, miss)
    first_booking = requests.add(
        day=booked, kind=booking_sim.BOOK, type_index=type_index, active=~miss, wanted=held,
        latest=latest,
    )  # fmt: skip
    requests.add(
        day=cancelled_on, kind=booking_sim.RELEASE, type_index=type_index,
        active=~miss & cancel & ~late, frees=first_booking,
    )  # fmt: skip
    requests.add(
        day=cancelled_on, kind=booking_sim.BOOK, type_index=type_index, active=again,
        wanted=held_again, latest=latest,
    )  # fmt: skip


def forecast(
    demand: Iterable[DemandCount],
    behaviours: Mapping[tuple[str, str], Behaviour],
    capacity: Iterable[WeekCapacity],
    weeks: Sequence[date],
    *,
    runs: int = 300,
    seed: int = 17,
    level: float = 0.9,
    pools: Mapping[tuple[str, date], Mapping[frozenset[str], Sequence[int]]] | None = None,
    steps: Mapping[str, int] | None = None,
) -> Forecast:
    """The forecast for ``weeks`` (Mondays), per site and type and per site in total.

    ``pools`` holds the caseworkers' bookable minutes per (site, week), grouped by the set of
    types they offer, per weekday; ``steps`` the minutes a conversation of each type takes
    (buffers included). With them, citizens of all types compete for shared caseworkers as
    they do; without them each type books only its own offers (``WeekCapacity.daily``)."""
    weeks = sorted({monday_of(w) for w in weeks})
    result = Forecast(list(weeks))
    if not weeks:
        return result
    first, nweeks = weeks[0].toordinal(), (weeks[-1] - weeks[0]).days // 7 + 1
    index = {w: (w - weeks[0]).days // 7 for w in weeks}
    caps: dict[tuple[str, str, date], WeekCapacity] = {}
    for c in capacity:
        caps[(c.site_id, c.type_code, monday_of(c.week))] = c
    groups: dict[tuple[str, str], list[DemandCount]] = {}
    for d in demand:
        groups.setdefault((d.site_id, d.type_code), []).append(d)
    keys = sorted(set(groups) | {(s, t) for s, t, _ in caps})
    lookback = 0
    while lookback < LOOKBACK_WEEKS and any(
        w == weeks[0] - timedelta(weeks=lookback + 1) for _, _, w in caps
    ):
        lookback += 1
    axis0 = first - 7 * lookback
    ndays = 7 * lookback + 7 * nweeks + SPILL_DAYS
    axis_weeks = [date.fromordinal(axis0) + timedelta(weeks=k) for k in range(ndays // 7)]
    types = sorted({t for _, t in keys})
    sites = sorted({s for s, _ in keys})
    last = first + 7 * nweeks
    rng = np.random.default_rng(seed)
    per_type: dict[tuple[str, str], _Counts] = {}
    batches, frees = [], []
    all_sets: list[frozenset[int]] = []
    site_minutes: list[dict[frozenset[int], list[int]]] = []
    for site_id in sites:
        requests = booking_sim.Requests.empty()
        for i, type_code in enumerate(types):
            if (site_id, type_code) not in keys:
                continue
            c = per_type[(site_id, type_code)] = _Counts.empty(runs, nweeks)
            behaviour = with_prior(behaviours.get((site_id, type_code)))
            for d in sorted(groups.get((site_id, type_code), ()), key=lambda x: x.deadline_week):
                if _relevant(d, axis0, last):
                    _simulate_cohort(rng, d, behaviour, runs, first, nweeks, c, requests, i)
        batches.append(booking_sim.batch(requests, runs))
        sets, minutes = _pools(site_id, types, axis_weeks, caps, pools, steps)
        site_minutes.append(dict(zip(sets, minutes, strict=True)))
        all_sets.extend(s for s in sets if s not in all_sets)
    for m in site_minutes:
        grid = np.array([m.get(s, [0] * ndays) for s in all_sets], dtype=np.int64)
        frees.append(
            np.broadcast_to(grid.reshape(len(all_sets), ndays), (runs, len(all_sets), ndays))
        )
    cat = booking_sim.stack(batches)
    free = np.concatenate(frees, axis=0).copy() if frees else np.zeros((0, 0, ndays), np.int64)
    step_list = [max(1, (steps or {}).get(t, 1)) if pools is not None else 1 for t in types]
    unserved = booking_sim.run(cat, all_sets, free, step_list, axis0, rng)
    week = (cat["latest"] - first) // 7
    for n, site_id in enumerate(sites):
        rows = slice(n * runs, (n + 1) * runs)
        for i, type_code in enumerate(types):
            if (site_id, type_code) not in per_type:
                continue
            mask = unserved[rows] & (cat["type_index"][rows] == i)
            mask &= (week[rows] >= 0) & (week[rows] < nweeks)
            r = np.broadcast_to(np.arange(runs)[:, None], mask.shape)[mask]
            per_type[(site_id, type_code)].unmet += np.bincount(
                r * nweeks + week[rows][mask], minlength=runs * nweeks
            ).reshape(runs, nweeks)
        total = _Counts.empty(runs, nweeks)
        for (s_id, type_code), c in per_type.items():
            if s_id != site_id:
                continue
            total.add(c)
            for w in weeks:
                cap = caps.get((site_id, type_code, w)) or WeekCapacity(site_id, type_code, w, 0)
                result.rows.append(_row(site_id, type_code, w, cap, c, index[w], level))
        for w in weeks:
            parts = [caps[k] for k in caps if k[0] == site_id and k[2] == w]
            cap = WeekCapacity(
                site_id,
                ALL_TYPES,
                w,
                offers=sum(p.offers for p in parts),
                room_places=_room_total(parts),
                strakstid=sum(p.strakstid for p in parts),
                booked=sum(p.booked for p in parts),
                booked_in_person=sum(p.booked_in_person for p in parts),
                room_free=parts[0].room_free if parts else (),
            )
            result.rows.append(_row(site_id, ALL_TYPES, w, cap, total, index[w], level))
    return result


def _room_total(parts: Sequence[WeekCapacity]) -> int | None:
    """Rooms are shared by the types: the site's places are the most any type can use."""
    known = [p.room_places for p in parts if p.room_places is not None]
    return max(known) if known else None


def _daily(cap: WeekCapacity | None) -> list[int]:
    """Times per day, Monday to Sunday; spread over the working days when only a sum is known."""
    if cap is None:
        return [0] * 7
    if len(cap.daily) == 7:
        return list(cap.daily)
    base, extra = divmod(cap.offers, 5)
    return [base + (1 if i < extra else 0) for i in range(5)] + [0, 0]


def _relevant(d: DemandCount, axis0: int, last: int) -> bool:
    """Whether a cohort can book any day from the start of the axis to the last week's end."""
    monday = d.deadline_week.toordinal()
    return monday + 4 + d.margin_days >= axis0 and monday - MAX_BEFORE_DEADLINE < last


def _pools(
    site_id: str,
    types: Sequence[str],
    axis_weeks: Sequence[date],
    caps: Mapping[tuple[str, str, date], WeekCapacity],
    pools: Mapping[tuple[str, date], Mapping[frozenset[str], Sequence[int]]] | None,
    steps: Mapping[str, int] | None,
) -> tuple[list[frozenset[int]], list[list[int]]]:
    """Caseworker groups (by the set of types they offer) and their free minutes per day.
    Without ``pools`` every type is its own group holding its offers (one unit per time)."""
    index = {t: i for i, t in enumerate(types)}
    per_week: list[Mapping[frozenset[str], Sequence[int]]] = []
    for w in axis_weeks:
        if pools is not None and steps is not None:
            per_week.append(pools.get((site_id, w), {}))
        else:
            per_week.append({frozenset({t}): _daily(caps.get((site_id, t, w))) for t in types})
    keys = sorted({k for p in per_week for k in p}, key=lambda k: sorted(k))
    sets = [frozenset(index[t] for t in k if t in index) for k in keys]
    minutes = [[m for p in per_week for m in p.get(k, (0,) * 7)] for k in keys]
    return sets, minutes


def _row(
    site_id: str,
    type_code: str,
    week: date,
    cap: WeekCapacity,
    t: _Counts,
    i: int,
    level: float,
) -> WeekForecast:
    demand = t.held[:, i]
    in_person = t.in_person[:, i]
    return WeekForecast(
        site_id=site_id,
        type_code=type_code,
        week=week,
        offers=cap.offers,
        booked=cap.booked,
        demand_mean=float(demand.mean()),
        demand_low=float(np.quantile(demand, 1 - level)),
        demand_high=float(np.quantile(demand, level)),
        unmet_mean=float(t.unmet[:, i].mean()),
        unmet_high=float(np.quantile(t.unmet[:, i], level)),
        room_places=cap.room_places,
        booked_in_person=cap.booked_in_person,
        in_person_mean=float(in_person.mean()),
        in_person_high=float(np.quantile(in_person, level)),
        strakstid_reserve=cap.strakstid,
        strakstid_needed=math.ceil(float(np.quantile(t.strakstid[:, i], level))),
        level=level,
        room_free=cap.room_free,
    )


def weeks_from(monday: date, count: int) -> list[date]:
    start = monday_of(monday)
    return [start + timedelta(weeks=k) for k in range(count)]
