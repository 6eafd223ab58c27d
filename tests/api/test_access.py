"""Keys only do their own work: a booking belongs to the API client that made it; another
booking key gets 403 on it, a staff key may act on it; only staff lift a restriction."""

from __future__ import annotations

import httpx
import pytest

from syncd.api.app import create_app
from tests.store.helpers import publish
from tests.support.http import serving
from tests.support.jobcentre import API_KEY, OTHER_KEY, STAFF_KEY, at


@pytest.fixture
def base(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    with serving(create_app(rt)) as url:
        yield url


def client(base: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"X-API-Key": key})


def test_a_second_booking_key_gets_403_on_the_first_ones_booking(base):
    with client(base, API_KEY) as first, client(base, OTHER_KEY) as second:
        offers = first.get("/api/v1/offers", params={"mode": "in_person"}).json()["offers"]
        hold = first.post(
            "/api/v1/holds", json={"offer_id": offers[0]["offer_id"], "citizen_ref": "c-1"}
        ).json()
        for r in (
            second.get(f"/api/v1/holds/{hold['id']}"),
            second.post(f"/api/v1/holds/{hold['id']}/confirm"),
            second.delete(f"/api/v1/holds/{hold['id']}"),
        ):
            assert r.status_code == 403 and r.json()["error"]["code"] == "not_your_booking"
        booking = first.post(f"/api/v1/holds/{hold['id']}/confirm").json()
        for r in (
            second.get(f"/api/v1/bookings/{booking['id']}"),
            second.post(f"/api/v1/bookings/{booking['id']}/cancel", json={"reason": "x"}),
            second.post(
                f"/api/v1/bookings/{booking['id']}/rebook",
                json={"offer_id": offers[1]["offer_id"]},
            ),
        ):
            assert r.status_code == 403 and r.json()["error"]["code"] == "not_your_booking"
        assert first.get(f"/api/v1/bookings/{booking['id']}").json()["status"] == "confirmed"


def test_a_staff_key_acts_on_any_booking(base):
    with client(base, API_KEY) as first, client(base, STAFF_KEY) as staff:
        offers = first.get("/api/v1/offers", params={"mode": "in_person"}).json()["offers"]
        hold = first.post(
            "/api/v1/holds", json={"offer_id": offers[0]["offer_id"], "citizen_ref": "c-1"}
        ).json()
        assert staff.get(f"/api/v1/holds/{hold['id']}").status_code == 200
        booking = staff.post(f"/api/v1/holds/{hold['id']}/confirm").json()
        r = staff.post(f"/api/v1/bookings/{booking['id']}/cancel", json={"reason": "syg"})
        assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_only_staff_lift_a_restriction(base):
    with client(base, API_KEY) as booking_key, client(base, STAFF_KEY) as staff:
        assert (
            booking_key.post("/api/v1/restrictions", json={"citizen_ref": "x"}).status_code == 204
        )
        r = booking_key.delete("/api/v1/restrictions/x")
        assert r.status_code == 403 and r.json()["error"]["code"] == "staff_only"
        assert staff.delete("/api/v1/restrictions/x").status_code == 204
