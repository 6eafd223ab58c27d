"""How citizens of one site book one conversation type, learned from the booking history.

The history is one ``BookingFact`` per booking (no citizen identity, only dates and flags).
Distributions are estimated from complete observations only (a cohort whose deadline has passed,
a conversation whose date has passed), and blended with a prior in proportion to how much was
seen, so a small site with little history still gets a sensible answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date

MAX_BEFORE_DEADLINE = 21  # days; earlier bookings count as 21
MAX_LEAD = 42  # days from booking to conversation (the booking horizon)
LAST_DAYS = 3  # "books on the last days" = within 3 days of the deadline
PRIOR_WEIGHT = 50  # the prior counts as this many observations


def _normalise(weights: Sequence[float]) -> tuple[float, ...]:
    total = float(sum(weights))
    if total <= 0:
        return tuple(1.0 / len(weights) for _ in weights)
    return tuple(w / total for w in weights)


def _geometric(n: int, ratio: float, start: int = 0) -> tuple[float, ...]:
    return _normalise([0.0] * start + [ratio**k for k in range(n - start)])


@dataclass(frozen=True)
class Behaviour:
    """Probabilities for one site and conversation type."""

    before_deadline: tuple[float, ...]  # P(book k days before the deadline), k = 0..21
    lead: tuple[float, ...]  # P(conversation d days after booking), d = 0..42
    cancel_rate: float  # share of self-bookings cancelled
    late_cancel_share: float  # of those, too late for the time to be offered again
    rebook_rate: float  # of those, the citizen books a new time
    miss_share: float  # share of citizens who miss the deadline: staff book a strakstid
    in_person_share: float  # share of conversations held in person (needs a room)
    observations: int = 0  # bookings the estimate rests on (0: the prior alone)

    @property
    def last_days_share(self) -> float:
        """Share of citizens who book within the last days before their deadline."""
        return sum(self.before_deadline[:LAST_DAYS])

    def mean_lead(self) -> float:
        return sum(d * p for d, p in enumerate(self.lead))


# From the evaluations of self-booking: many book on the last days, up to 40 % cancel.
PRIOR = Behaviour(
    before_deadline=_geometric(MAX_BEFORE_DEADLINE + 1, 0.75),
    lead=_geometric(MAX_LEAD + 1, 0.85, start=1),
    cancel_rate=0.40,
    late_cancel_share=0.25,
    rebook_rate=0.40,
    miss_share=0.05,
    in_person_share=0.5,
)


@dataclass(frozen=True)
class BookingFact:
    """One booking as history, in local dates. ``deadline`` is the citizen's frist when the
    front end sent it; ``strakstid`` marks a staff booking on a strakstid time."""

    site_id: str
    type_code: str
    booked_on: date
    held_on: date  # the conversation's date
    self_booked: bool = True
    in_person: bool = False
    cancelled_on: date | None = None
    cancelled_late: bool = False  # cancelled within the minimum notice: the time was lost
    rebooked: bool = False  # this booking replaced a cancelled one of the same citizen
    strakstid: bool = False
    deadline: date | None = None


def _blend(seen: Counter[int], size: int, prior: Sequence[float]) -> tuple[float, ...]:
    n = sum(seen.values())
    w = PRIOR_WEIGHT
    return _normalise([(seen.get(k, 0) + w * prior[k]) / (n + w) for k in range(size)])


def _rate(hits: int, n: int, prior: float) -> float:
    return (hits + PRIOR_WEIGHT * prior) / (n + PRIOR_WEIGHT)


def learn(facts: Iterable[BookingFact], as_of: date, prior: Behaviour = PRIOR) -> Behaviour:
    """Estimate one site's and type's behaviour from the bookings known on ``as_of``.

    Only complete observations count: the booking day relative to the deadline from cohorts
    whose deadline has passed (a later cohort has not shown its late bookers yet); cancellation
    and rebooking from conversations whose date has passed (a future one may still cancel)."""
    before: Counter[int] = Counter()
    lead: Counter[int] = Counter()
    held = cancelled = late = rebooked = staff = first = in_person = 0
    total = 0
    for f in facts:
        if f.booked_on >= as_of:
            continue
        total += 1
        if f.strakstid:
            if f.held_on < as_of:
                staff += 1
            continue
        if not f.self_booked:
            continue
        lead[min(max((f.held_on - f.booked_on).days, 0), MAX_LEAD)] += 1
        in_person += f.in_person
        if f.deadline is not None and f.deadline < as_of:
            before[min(max((f.deadline - f.booked_on).days, 0), MAX_BEFORE_DEADLINE)] += 1
        if f.held_on < as_of:
            held += 1
            first += not f.rebooked
            rebooked += f.rebooked
            if f.cancelled_on is not None:
                cancelled += 1
                late += f.cancelled_late
    self_total = sum(lead.values())
    return Behaviour(
        before_deadline=_blend(before, MAX_BEFORE_DEADLINE + 1, prior.before_deadline),
        lead=_blend(lead, MAX_LEAD + 1, prior.lead),
        cancel_rate=_rate(cancelled, held, prior.cancel_rate),
        late_cancel_share=_rate(late, cancelled, prior.late_cancel_share),
        rebook_rate=min(1.0, _rate(rebooked, cancelled, prior.rebook_rate)),
        miss_share=_rate(staff, staff + first, prior.miss_share),
        in_person_share=_rate(in_person, self_total, prior.in_person_share),
        observations=total,
    )


def learn_all(
    facts: Iterable[BookingFact], as_of: date, prior: Behaviour = PRIOR
) -> dict[tuple[str, str], Behaviour]:
    """Behaviour per (site, type) from one pass over the history."""
    groups: dict[tuple[str, str], list[BookingFact]] = {}
    for f in facts:
        groups.setdefault((f.site_id, f.type_code), []).append(f)
    return {key: learn(group, as_of, prior) for key, group in groups.items()}


def with_prior(behaviour: Behaviour | None) -> Behaviour:
    return behaviour if behaviour is not None else replace(PRIOR)
