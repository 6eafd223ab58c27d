"""Offer thinning by room capacity (``_RoomBudget``): checked by brute force on small cases."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.store.offers import _matchable, _RoomBudget

T0 = datetime(2026, 3, 2, 8, 0)
STEP = timedelta(minutes=15)
ROOMS = ("r0", "r1", "r2", "r3")

Offer = tuple[datetime, datetime, str, frozenset[str]]


def _sdr(sets: list[frozenset[str]]) -> bool:
    """Brute force: distinct rooms, one from each set."""
    return any(
        len(set(pick)) == len(pick) for pick in itertools.product(*(sorted(s) for s in sets))
    )


def _holds(offers: list[Offer]) -> bool:
    """At every instant, every choice of one running offer per caseworker has distinct rooms."""
    instants = sorted({o[0] for o in offers})
    for t in instants:
        per_cw: dict[str, list[frozenset[str]]] = {}
        for start, end, cw, rooms in offers:
            if start <= t < end:
                per_cw.setdefault(cw, []).append(rooms)
        for pick in itertools.product(*per_cw.values()):
            if not _sdr(list(pick)):
                return False
    return True


@st.composite
def candidates(draw: st.DrawFn) -> list[Offer]:
    slots = []
    for _ in range(draw(st.integers(1, 12))):
        start = draw(st.integers(1, 8))
        rooms = draw(st.frozensets(st.sampled_from(ROOMS), max_size=4))
        before = draw(st.sampled_from([0, 0, 1]))  # a buffer before some conversation types
        slots.append(
            (
                start,
                T0 + (start - before) * STEP,
                T0 + (start + draw(st.integers(1, 4))) * STEP,
                draw(st.sampled_from(["cw1", "cw2", "cw3", "cw4", "cw5"])),
                rooms,
            )
        )
    # find_offers hands them over in order of slot start (not of the buffered start).
    slots.sort(key=lambda o: o[0])
    return [o[1:] for o in slots]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(candidates())
def test_accepts_exactly_what_keeps_every_choice_matchable(cands) -> None:  # type: ignore[no-untyped-def]
    """Accepted offers keep the invariant, and (the combinations being few here, so the check
    is exact) a rejected one would have broken it."""
    budget = _RoomBudget()
    accepted: list[Offer] = []
    for start, end, cw, rooms in cands:
        took = budget.take(cw, rooms, start, end)
        with_it = [*accepted, (start, end, cw, rooms)]
        if took:
            accepted = with_it
            assert _holds(accepted)
        else:
            assert not rooms or not _holds(with_it)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(candidates())
def test_a_room_nobody_else_could_use_is_enough(cands) -> None:  # type: ignore[no-untyped-def]
    """Never stricter than it must be: an offer with a free room that no other caseworker's
    running offer could use is always taken (the old pairwise check took these too)."""
    budget = _RoomBudget()
    accepted: list[Offer] = []
    for start, end, cw, rooms in cands:
        used = {r for s, e, c, rs in accepted if c != cw and s < end and start < e for r in rs}
        took = budget.take(cw, rooms, start, end)
        if rooms - used:
            assert took
        if took:
            accepted.append((start, end, cw, rooms))


def test_hall_violation_that_pairwise_counting_missed() -> None:
    """Three caseworkers, rooms {a}, {a, b}, {a, b}: every pair fits, all three do not. The old
    pairwise check (competitors sharing a room < my rooms) accepted the third."""
    budget = _RoomBudget()
    end = T0 + 4 * STEP
    assert budget.take("cw1", frozenset({"a"}), T0, end)
    assert budget.take("cw2", frozenset({"a", "b"}), T0, end)
    assert not budget.take("cw3", frozenset({"a", "b"}), T0, end)
    assert budget.take("cw3", frozenset({"a", "b", "c"}), T0, end)


def test_a_caseworkers_own_offers_are_alternatives() -> None:
    budget = _RoomBudget()
    end = T0 + 4 * STEP
    assert budget.take("cw1", frozenset({"a"}), T0, end)
    assert budget.take("cw1", frozenset({"a"}), T0, end)  # same caseworker: one room at most
    assert not budget.take("cw2", frozenset({"a"}), T0, end)
    # cw1 may pick either kind of offer, so the others need rooms besides each choice.
    assert budget.take("cw1", frozenset({"b"}), T0 + STEP, end)
    assert budget.take("cw2", frozenset({"a", "b"}), T0 + STEP, end)
    assert not budget.take("cw3", frozenset({"a", "b"}), T0 + STEP, end)
    assert budget.take("cw3", frozenset({"a", "c"}), T0 + STEP, end)


def test_matchable() -> None:
    assert _matchable([frozenset("a"), frozenset("ab")])
    assert not _matchable([frozenset("a"), frozenset("a")])
    assert _matchable([frozenset("ab"), frozenset("bc"), frozenset("ca")])
    assert not _matchable([frozenset("ab"), frozenset("ab"), frozenset("ab")])


def test_many_slots_over_a_busy_day() -> None:
    """A few thousand candidates over a day of 50 rooms and 200 caseworkers: some fit, some not."""
    import random

    rng = random.Random(3)
    rooms = [f"r{i}" for i in range(50)]
    cands = []
    for _ in range(3000):
        start = T0 + rng.randrange(32) * STEP
        cands.append(
            (
                start,
                start + rng.choice([3, 4]) * STEP,
                f"cw{rng.randrange(200)}",
                frozenset(rng.sample(rooms, rng.randint(5, 40))),
            )
        )
    cands.sort(key=lambda c: c[0])
    budget = _RoomBudget()
    taken = sum(budget.take(cw, r, s, e) for s, e, cw, r in cands)
    assert 0 < taken < len(cands)
