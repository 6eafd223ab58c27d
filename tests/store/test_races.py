"""Many concurrent citizens against the same few slots and rooms: never a double booking."""

from __future__ import annotations

import random
import threading

from syncd.domain.model import Mode
from syncd.store.errors import BookingError
from tests.store.helpers import publish
from tests.store.invariants import assert_no_double_booking
from tests.store.test_bookings import offers
from tests.support.jobcentre import at


def test_concurrent_confirmations_never_double_book(rt):
    for cw in ("mette", "lars", "pia"):
        publish(rt, cw, [(at(0, 9), at(0, 10, 20))], types=("jobsamtale",))
    pool = [o.offer_id for o in offers(rt)]
    assert len(pool) == 3 * 2 * 3  # 3 caseworkers, 2 slots, 3 modes
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(24)

    def citizen(n: int) -> None:
        rng = random.Random(n)
        barrier.wait()
        for attempt in range(6):
            offer = rng.choice(pool)
            try:
                hold = rt.bookings.reserve(offer, f"c-{n}-{attempt}")
                booking = rt.bookings.confirm(hold.id)
                with lock:
                    results.append(booking.id)
                if rng.random() < 0.3:
                    rt.bookings.cancel(booking.id)
            except BookingError as exc:
                assert exc.status in (404, 409), exc
            except BaseException as exc:  # anything else is a bug
                with lock:
                    errors.append(exc)

    threads = [threading.Thread(target=citizen, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    assert results, "nobody got a booking"
    counts = assert_no_double_booking(rt.db)
    # Two slots per caseworker, three caseworkers: at most six live bookings.
    assert counts["live"] <= 6
    in_person = [o for o in offers(rt) if o.mode is Mode.IN_PERSON]
    assert len(in_person) <= 6


def test_concurrent_bookings_never_exceed_the_weekly_cap(rt):
    """Mette may have 12 conversations a week. Twenty citizens at once, each on a time of her
    own in the same week: exactly 12 get one (PostgreSQL serialises them by her lock, SQLite
    by its one writer)."""
    publish(rt, "mette", [(at(d, 8), at(d, 15)) for d in range(4)], types=("jobsamtale",))
    pool = [o.offer_id for o in offers(rt, caseworker_id="mette", modes=(Mode.PHONE,))]
    pool = pool[::2][:20]  # every other slot: none of them overlap
    assert len(pool) == 20
    outcomes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(pool))

    def citizen(n: int) -> None:
        barrier.wait()
        try:
            hold = rt.bookings.reserve(pool[n], f"c-{n}")
            rt.bookings.confirm(hold.id)
            outcome = "booked"
        except BookingError as exc:
            outcome = exc.code
        except BaseException as exc:  # anything else is a bug
            with lock:
                errors.append(exc)
            return
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=citizen, args=(n,)) for n in range(len(pool))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    assert sorted(outcomes) == ["booked"] * 12 + ["weekly_cap_reached"] * 8
    assert_no_double_booking(rt.db)
