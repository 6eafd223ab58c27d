"""Backtest of the Kapacitet forecast on the large scenario.

The world: the scenario's caseworker windows (after busy time and weekly caps) give the offers.
Citizens with deadlines (frist) are generated per site, type and deadline week, with a seeded
load that varies from week to week, and book, cancel, cancel too late, rebook or miss the
deadline according to a "true" behaviour the forecaster does not know (it learns it from the
history). Each booking takes a real time from a caseworker's day; when the week the citizen
wants is full she is pushed to another week or, failing that, to a strakstid: that week fell
short for her.

The test: run weeks 1-3, forecast weeks 4-6 from the history so far and the demand counts,
then run them and print the forecast error per week. Then, as a coordinator would use it, a
forecast issued 7 days before each of the six weeks 4-9 says whether the week falls short;
compared with what really happened that gives hits, misses and false alarms.

    PYTHONPATH=. .venv/bin/python bench/capacity.py            # 2,000 caseworkers
    PYTHONPATH=. .venv/bin/python bench/capacity.py --caseworkers 200 --runs 100   # quick
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from syncd import scenario
from syncd.capacity.behaviour import (
    MAX_BEFORE_DEADLINE,
    MAX_LEAD,
    Behaviour,
    BookingFact,
    learn_all,
)
from syncd.capacity.demand import DemandCount
from syncd.capacity.forecast import (
    MIN_SHORTFALL,
    MIN_SHORTFALL_SHARE,
    Forecast,
    WeekCapacity,
    forecast,
    threshold,
)
from syncd.capacity.supply import CaseworkerWeek, offers_by_type, pools

ROOT = Path(__file__).resolve().parent.parent
START = date(2027, 1, 11)  # a Monday with no public holiday in the ten weeks that follow
HISTORY_WEEKS = 3  # weeks 1-3 run before the forecast
FORECAST_WEEKS = 3  # weeks 4-6 forecast from the end of week 3
FLAG_WEEKS = 6  # weeks 4-9 each forecast 7 days before they begin
TOTAL_WEEKS = HISTORY_WEEKS + FLAG_WEEKS + 1  # one more week for latest dates to spill into
LATEST_AFTER_DAYS = 11  # cohort's latest date: Friday the week after; a citizen's: deadline + 7
NOTICE_DAYS = 1  # citizens book until the day before
# Citizens per deadline week as a share of the offers: each week is quiet, normal or a surge.
LOADS = ((0.3, (0.6, 0.75)), (0.45, (0.75, 0.9)), (0.25, (1.0, 1.2)))


def _weights(values: list[float]) -> tuple[float, ...]:
    total = sum(values)
    return tuple(v / total for v in values)


def true_behaviour(type_code: str, in_person: float, rng: random.Random) -> Behaviour:
    """What the citizens of one site really do; unknown to the forecaster."""
    ratio = rng.uniform(0.6, 0.8)
    before = [ratio**k for k in range(MAX_BEFORE_DEADLINE + 1)]
    before[0] += rng.uniform(0.3, 0.6)  # the last day
    peak = rng.randint(3, 7)
    lead = [0.0] + [
        (k / peak) ** 2 * 0.8 ** max(0, k - peak) if k <= peak else 0.8 ** (k - peak)
        for k in range(1, MAX_LEAD + 1)
    ]
    return Behaviour(
        before_deadline=_weights(before),
        lead=_weights(lead),
        cancel_rate=rng.uniform(0.3, 0.4),
        late_cancel_share=rng.uniform(0.15, 0.3),
        rebook_rate=rng.uniform(0.4, 0.6),
        miss_share=rng.uniform(0.04, 0.09),
        in_person_share=in_person,
    )


@dataclass
class Caseworker:
    site_id: str
    types: tuple[str, ...]
    cap: int | None
    minutes: dict[int, int]  # free window minutes per day (ordinal)
    per_week: dict[int, int] = field(default_factory=dict)


@dataclass
class World:
    gen: scenario.Generated
    steps: dict[str, int]
    caseworkers: list[Caseworker]
    by_site_type: dict[tuple[str, str], list[int]]
    demand: list[DemandCount]
    behaviours: dict[tuple[str, str], Behaviour]
    weeks: list[date]
    load: list[float]
    capacity: list[WeekCapacity] = field(default_factory=list)
    pools: dict[tuple[str, date], dict[frozenset[str], tuple[int, ...]]] = field(
        default_factory=dict
    )


def week_index(day: int) -> int:
    return (day - START.toordinal()) // 7


def build(caseworkers: int | None, seed: int) -> World:
    data = scenario.load(ROOT / "syncd" / "data" / "large.toml")
    data["jobcentre"]["weeks"] = TOTAL_WEEKS
    gen = scenario.generate(data, start=START, caseworkers=caseworkers)
    rng = random.Random(seed)
    steps = {t.code: int(t.step.total_seconds() // 60) for t in gen.directory.conversation_types}
    busy: dict[str, list[tuple[object, object]]] = defaultdict(list)
    for b in gen.busy:
        busy[b.caseworker_id].append((b.start, b.end))
    windows: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for w in gen.windows:
        minutes = (w.end - w.start).total_seconds() / 60
        for bs, be in busy[w.caseworker_id]:
            lo, hi = max(w.start, bs), min(w.end, be)  # type: ignore[type-var]
            if lo < hi:
                minutes -= (hi - lo).total_seconds() / 60  # type: ignore[operator]
        windows[w.caseworker_id][w.start.date().toordinal()] += int(minutes)
    cws = [
        Caseworker(c.site_id, c.conversation_types, c.weekly_cap, dict(windows[c.id]))
        for c in gen.directory.caseworkers
    ]
    by_site_type: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, c in enumerate(cws):
        for t in c.types:
            by_site_type[(c.site_id, t)].append(i)
    weeks = [START + timedelta(weeks=k) for k in range(TOTAL_WEEKS)]
    offers = offers_by_type(_caseworker_weeks(cws, weeks), steps)
    # Demand: the offers of a week, scaled by a load that varies by week (a seasonal surge,
    # a quiet week) and a little by site. Deadline weeks 1..9; week 10 only takes spill-over.
    load = []
    for _ in weeks:
        lo, hi = rng.choices([r for _, r in LOADS], [p for p, _ in LOADS])[0]
        load.append(rng.uniform(lo, hi))
    demand: list[DemandCount] = []
    for (site_id, type_code, week), days in sorted(offers.items()):
        n = sum(days)
        k = (week - START).days // 7
        if k >= TOTAL_WEEKS - 1:
            continue
        factor = load[k] * rng.uniform(0.95, 1.05)
        count = round(n * factor)
        demand.append(
            DemandCount(site_id, type_code, week, week + timedelta(days=LATEST_AFTER_DAYS), count)
        )
    in_person = {code: dict(shares) for code, shares in gen.mode_shares.items()}
    behaviours = {
        (site.id, t.code): true_behaviour(
            t.code, in_person[t.code].get(scenario.Mode.IN_PERSON, 0.0), rng
        )
        for site in gen.directory.sites
        for t in gen.directory.conversation_types
    }
    world = World(gen, steps, cws, dict(by_site_type), demand, behaviours, weeks, load)
    world.capacity = capacities(world)
    return world


def _caseworker_weeks(cws: list[Caseworker], weeks: list[date]) -> list[CaseworkerWeek]:
    out = []
    for c in cws:
        for w in weeks:
            lo = w.toordinal()
            mins = tuple((d - lo, m) for d, m in c.minutes.items() if lo <= d < lo + 7)
            out.append(CaseworkerWeek(c.site_id, w, c.types, mins, c.cap))
    return out


@dataclass
class Outcome:
    facts: list[BookingFact]
    wanted: dict[tuple[str, str, int], int]  # times wanted per (site, type, week index), net
    pushed: dict[tuple[str, str, int], int]  # of those, not found in that week
    unserved: dict[tuple[str, str, int], int]  # no time by the latest date (week of that date)


def _draw(rng: random.Random, probs: tuple[float, ...]) -> int:
    return rng.choices(range(len(probs)), probs)[0]


def run(world: World, seed: int) -> Outcome:
    """Let every citizen in the demand act, day by day, against the caseworkers' real time."""
    rng = random.Random(seed + 1)
    events: list[tuple[int, int, int, tuple[object, ...]]] = []  # (day, order, seq, payload)
    counter = itertools.count()
    for d in world.demand:
        b = world.behaviours[(d.site_id, d.type_code)]
        for _ in range(d.count):
            deadline = d.deadline_week.toordinal() + rng.randrange(5)
            latest = deadline + d.margin_days
            seq = next(counter)
            if rng.random() < b.miss_share:
                straks = deadline + (3 if deadline % 7 == 5 else 1)
                events.append((deadline, 2, seq, ("straks", d, straks, deadline)))
                continue
            booked = deadline - _draw(rng, b.before_deadline)
            wanted = min(booked + max(1, _draw(rng, b.lead)), latest)
            events.append((booked, 1, seq, ("book", d, wanted, deadline, False)))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    out = Outcome([], defaultdict(int), defaultdict(int), defaultdict(int))
    i = 0
    pending = events
    # Cancellations and rebookings are created as the run goes; a heap keeps them in day order.
    heap: list[tuple[int, int, int, tuple[object, ...]]] = []
    while i < len(pending) or heap:
        if heap and (i >= len(pending) or heap[0][:3] < pending[i][:3]):
            day, _, _, payload = heapq.heappop(heap)
        else:
            day, _, _, payload = pending[i]
            i += 1
        kind = payload[0]
        if kind == "straks":
            _, d, straks, deadline = payload
            out.facts.append(
                BookingFact(d.site_id, d.type_code, date.fromordinal(deadline),  # type: ignore[union-attr]
                            date.fromordinal(straks), self_booked=False, strakstid=True,  # type: ignore[arg-type]
                            deadline=date.fromordinal(deadline))  # type: ignore[arg-type]
            )  # fmt: skip
            continue
        if kind == "cancel":
            _, d, cw_i, held, late, fact_i, wanted_week = payload
            cw = world.caseworkers[cw_i]  # type: ignore[index]
            f = out.facts[fact_i]  # type: ignore[index]
            out.facts[fact_i] = BookingFact(  # type: ignore[index]
                f.site_id, f.type_code, f.booked_on, f.held_on, True, f.in_person,
                date.fromordinal(day), bool(late), f.rebooked, False, f.deadline,
            )  # fmt: skip
            if not late:  # the time is offered again: it no longer counts as demand
                out.wanted[(d.site_id, d.type_code, wanted_week)] -= 1  # type: ignore[union-attr]
                cw.minutes[held] += world.steps[d.type_code]  # type: ignore[index,union-attr]
                cw.per_week[week_index(held)] -= 1  # type: ignore[arg-type]
            beh = world.behaviours[(d.site_id, d.type_code)]  # type: ignore[union-attr]
            if rng.random() < beh.rebook_rate:
                deadline = f.deadline.toordinal() if f.deadline else day
                latest = deadline + d.margin_days  # type: ignore[union-attr]
                wanted = min(day + max(1, _draw(rng, beh.lead)), latest)
                heapq.heappush(heap, (day, 1, next(counter), ("book", d, wanted, deadline, True)))
            continue
        _, d, wanted, deadline, rebooked = payload
        _book(world, out, rng, heap, counter, day, d, wanted, deadline, rebooked)  # type: ignore[arg-type]
    return out


def _find(world: World, site_type: tuple[str, str], day: int, rng: random.Random) -> int | None:
    """A caseworker with a free time that day: citizens pick among the times offered, so any
    caseworker who offers the type may be the one (not always the first in a list)."""
    step = world.steps[site_type[1]]
    week = week_index(day)
    options = world.by_site_type.get(site_type, ())
    if not options:
        return None
    offset = rng.randrange(len(options))
    for n in range(len(options)):
        cw_i = options[(offset + n) % len(options)]
        cw = world.caseworkers[cw_i]
        if cw.minutes.get(day, 0) >= step and (cw.cap is None or cw.per_week.get(week, 0) < cw.cap):
            return cw_i
    return None


def _book(
    world: World,
    out: Outcome,
    rng: random.Random,
    heap: list[tuple[int, int, int, tuple[object, ...]]],
    counter: Iterator[int],
    day: int,
    d: DemandCount,
    wanted: int,
    deadline: int,
    rebooked: bool,
) -> None:
    key = (d.site_id, d.type_code)
    latest = deadline + d.margin_days
    earliest = day + NOTICE_DAYS
    wanted = max(wanted, earliest)
    week = week_index(wanted)
    monday = START.toordinal() + 7 * week
    in_week = [x for x in range(wanted, monday + 5)] + list(range(wanted - 1, monday - 1, -1))
    later = list(range(monday + 7, latest + 1))
    order = [x for x in in_week if earliest <= x <= latest] + later
    out.wanted[(d.site_id, d.type_code, week)] += 1
    got: tuple[int, int] | None = None
    for x in order:
        if date.fromordinal(x).weekday() >= 5:
            continue
        cw_i = _find(world, key, x, rng)
        if cw_i is not None:
            got = (x, cw_i)
            break
    if got is None or week_index(got[0]) != week:
        out.pushed[(d.site_id, d.type_code, week)] += 1
    if got is None:  # counted in the week of her latest date, as the forecast counts it
        out.unserved[(d.site_id, d.type_code, week_index(latest))] += 1
    b = world.behaviours[key]
    if got is None:  # no time before the latest date: staff give a strakstid
        out.facts.append(
            BookingFact(d.site_id, d.type_code, date.fromordinal(day), date.fromordinal(day + 1),
                        self_booked=False, strakstid=True, deadline=date.fromordinal(deadline))
        )  # fmt: skip
        return
    held, cw_i = got
    cw = world.caseworkers[cw_i]
    cw.minutes[held] -= world.steps[d.type_code]
    cw.per_week[week_index(held)] = cw.per_week.get(week_index(held), 0) + 1
    in_person = rng.random() < b.in_person_share
    out.facts.append(
        BookingFact(d.site_id, d.type_code, date.fromordinal(day), date.fromordinal(held),
                    in_person=in_person, rebooked=rebooked, deadline=date.fromordinal(deadline))
    )  # fmt: skip
    if rng.random() < b.cancel_rate:
        late = rng.random() < b.late_cancel_share
        c_day = held - 1 if late else day + int(rng.random() * max(0, held - 1 - day))
        heapq.heappush(heap, (c_day, 0, next(counter), ("cancel", d, cw_i, held, late,
                                                          len(out.facts) - 1, week)))  # fmt: skip


def capacities(world: World) -> list[WeekCapacity]:
    """Offers per site, type and week as the store would compute them (split by demand)."""
    weights: dict[tuple[str, str, date], float] = defaultdict(float)
    for d in world.demand:
        weights[(d.site_id, d.type_code, d.deadline_week)] += d.count
    # The offers of a week are the windows' times, booked or not: the demand counts both.
    # Called before the run, while the caseworkers' minutes are untouched.
    cw_weeks = _caseworker_weeks(world.caseworkers, world.weeks)
    offers = offers_by_type(cw_weeks, world.steps, weights)
    world.pools = pools(cw_weeks, world.steps)
    return [
        WeekCapacity(s, t, w, sum(days), daily=days) for (s, t, w), days in sorted(offers.items())
    ]


def issue(
    world: World, outcome: Outcome, as_of: date, weeks: list[date], runs: int, level: float = 0.9
) -> Forecast:
    """The forecast a coordinator would see on ``as_of``: behaviour learned from the history
    known then, the demand counts, the offers."""
    facts = [f for f in outcome.facts if f.booked_on < as_of]
    behaviours = learn_all(facts, as_of)
    return forecast(
        world.demand,
        behaviours,
        world.capacity,
        weeks,
        runs=runs,
        seed=17,
        level=level,
        pools=world.pools,
        steps=world.steps,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--caseworkers", type=int, default=None, help="default: the scenario's 2,000")
    ap.add_argument("--runs", type=int, default=300, help="simulation runs per forecast")
    ap.add_argument("--seed", type=int, default=4807296)
    ap.add_argument("--level", type=float, default=0.9, help="forecast level (default 0.9)")
    ap.add_argument("--detail", action="store_true", help="print every site and type")
    args = ap.parse_args(argv)
    report = backtest(args.caseworkers, args.seed, args.runs, args.level)
    print(report.text(detail=args.detail))
    return 0 if report.done else 1


@dataclass
class Report:
    lines: list[str]
    detail_lines: list[str]
    real_short: list[int]
    flagged: list[int]
    false_alarms: list[int]
    missed: list[int]
    errors: dict[int, float]

    @property
    def done(self) -> bool:
        return not self.missed and len(self.false_alarms) <= 1

    def text(self, detail: bool = False) -> str:
        return "\n".join(self.lines + (self.detail_lines if detail else []))


def backtest(caseworkers: int | None, seed: int, runs: int, level: float = 0.9) -> Report:
    t0 = time.monotonic()
    world = build(caseworkers, seed)
    t1 = time.monotonic()
    outcome = run(world, seed)
    t2 = time.monotonic()
    lines = [
        f"Kapacitet backtest: {len(world.caseworkers)} caseworkers, "
        f"{sum(d.count for d in world.demand)} citizens with deadlines in weeks 1-"
        f"{TOTAL_WEEKS - 1}, {len(outcome.facts)} bookings; {runs} runs per forecast, "
        f"level {level:.0%}",
        f"A week falls short when, for a site and type, at least {MIN_SHORTFALL} citizens and "
        f"{MIN_SHORTFALL_SHARE:.0%} of the "
        "week's bookings get no time by their latest date in it",
        "Load by deadline week (citizens / offers): "
        + ", ".join(f"{k + 1}: {x:.2f}" for k, x in enumerate(world.load[: TOTAL_WEEKS - 1])),
        f"(setup {t1 - t0:.1f} s, world {t2 - t1:.1f} s)",
    ]
    detail: list[str] = []

    def real(week: int) -> list[tuple[str, str, int, int]]:
        return [
            (s, t, n, outcome.wanted[(s, t, week)])
            for (s, t, w), n in sorted(outcome.unserved.items())
            if w == week and n >= threshold(outcome.wanted[(s, t, week)])
        ]

    # 1. Run weeks 1-3, forecast weeks 4-6 (issued on the Monday week 4 begins).
    as_of = START + timedelta(weeks=HISTORY_WEEKS)
    weeks = [as_of + timedelta(weeks=k) for k in range(FORECAST_WEEKS)]
    fc = issue(world, outcome, as_of, weeks, runs, level)
    lines.append("")
    lines.append(f"Forecast issued {as_of} (after weeks 1-3) against what happened:")
    lines.append(
        f"{'week':>6} {'offers':>7} {'forecast':>9} {'band 10-90 %':>13} {'actual':>7} "
        f"{'error':>7} {'error %':>8} {'no time: fc/real':>17} {'short? fc/real':>15}"
    )
    errors: dict[int, float] = {}
    for k, w in enumerate(weeks, start=HISTORY_WEEKS + 1):
        rows = [r for r in fc.rows if r.week == w and r.type_code != ""]
        offers = sum(r.offers for r in rows)
        mean = sum(r.demand_mean for r in rows)
        unmet = sum(r.unmet_mean for r in rows)
        unserved = sum(n for (s, t, x), n in outcome.unserved.items() if x == k - 1)
        low = sum(r.demand_low for r in rows)
        high = sum(r.demand_high for r in rows)
        actual = sum(n for (s, t, x), n in outcome.wanted.items() if x == k - 1)
        err = mean - actual
        errors[k] = err / actual if actual else 0.0
        fc_short = any(r.short for r in rows)
        lines.append(
            f"{k:>6} {offers:>7} {mean:>9.0f} {low:>6.0f}-{high:<6.0f} {actual:>7} "
            f"{err:>+7.0f} {100 * errors[k]:>+7.1f}% {unmet:>10.0f}/{unserved:<6} "
            f"{('yes' if fc_short else 'no'):>8}/"
            f"{'yes' if real(k - 1) else 'no'}"
        )
        for r in rows:
            got = outcome.wanted[(r.site_id, r.type_code, k - 1)]
            detail.append(
                f"  week {k} {r.site_id:>10} {r.type_code:>14}: offers {r.offers:>5}, forecast "
                f"{r.demand_mean:>4.0f} ({r.demand_low:.0f}-{r.demand_high:.0f}), unmet "
                f"{r.unmet_mean:>4.1f} ({r.unmet_high:.0f}), actual {got:>4}, "
                f"pushed {outcome.pushed[(r.site_id, r.type_code, k - 1)]:>4}, unserved "
                f"{outcome.unserved[(r.site_id, r.type_code, k - 1)]:>4}"
            )
    # 2. Each of weeks 4-9 forecast 7 days before it begins.
    lines.append("")
    lines.append("Shortfall flags, each forecast issued 7 days before its week begins:")
    real_short, flagged, false_alarms, missed = [], [], [], []
    for k in range(HISTORY_WEEKS + 1, HISTORY_WEEKS + 1 + FLAG_WEEKS):
        w = START + timedelta(weeks=k - 1)
        issued = w - timedelta(days=7)
        f = issue(world, outcome, issued, [w], runs, level)
        flags = [(r.site_id, r.type_code, r.shortfall) for r in f.short_weeks()]
        really = real(k - 1)
        if really:
            real_short.append(k)
        if flags:
            flagged.append(k)
        if flags and not really:
            false_alarms.append(k)
        if really and not flags:
            missed.append(k)
        verdict = (
            "hit" if flags and really else "MISSED" if really else "false alarm" if flags else "ok"
        )
        lines.append(
            f"  week {k} (issued {issued}): flagged "
            + (", ".join(f"{s}/{t} {n}" for s, t, n in flags) or "nothing")
            + "; really short: "
            + (", ".join(f"{s}/{t} {n} of {m}" for s, t, n, m in really) or "nothing")
            + f" -> {verdict}"
        )
    lines.append("")
    lines.append(
        f"Real shortfall weeks {real_short or 'none'}; flagged >= 7 days ahead "
        f"{[k for k in real_short if k in flagged]}; missed {missed or 'none'}; "
        f"false alarms {false_alarms or 'none'} in {FLAG_WEEKS} weeks "
        f"(total {time.monotonic() - t0:.0f} s)"
    )
    return Report(lines, detail, real_short, flagged, false_alarms, missed, errors)


if __name__ == "__main__":
    sys.exit(main())
