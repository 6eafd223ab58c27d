"""Keys only do their own work: a booking belongs to the API client that made it; another
booking key gets 403 on it, a staff key may act on it; only staff lift a restriction."""

from __future__ import annotations

import httpx
import pytest

from syncd.api.app import create_app
from syncd.config import hash_api_key
from syncd.runtime import open_runtime
from tests.store.helpers import publish
from tests.support import jobcentre
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


OPS_KEY = "test-key-ops-only-0123456789abcdef"
NO_SCOPE_KEY = "test-key-no-scope-0123456789abcdef"


@pytest.fixture
def scoped_base(tmp_path, clock):
    keys = [
        {"name": "jobnet", "hash": hash_api_key(API_KEY)},
        {"name": "prometheus", "hash": hash_api_key(OPS_KEY), "scopes": ["ops"]},
        {"name": "nothing", "hash": hash_api_key(NO_SCOPE_KEY), "scopes": []},
        {"name": "staff", "hash": hash_api_key(STAFF_KEY), "scopes": ["staff"]},
    ]
    runtime = open_runtime(
        jobcentre.config(f"sqlite:///{tmp_path / 's.db'}", api={"keys": keys}), clock=clock
    )
    publish(runtime, "mette", [(at(0, 9), at(0, 12))])
    with serving(create_app(runtime)) as url:
        yield url
    runtime.db.dispose()


def test_every_booking_operation_needs_the_booking_scope(scoped_base):
    """An ops-only key (Prometheus) or a key without scopes may not read offers or the directory,
    nor hold, confirm, cancel or follow events; staff implies booking."""
    with client(scoped_base, API_KEY) as booker:
        offers = booker.get("/api/v1/offers", params={"mode": "phone"}).json()["offers"]
        hold = booker.post(
            "/api/v1/holds", json={"offer_id": offers[0]["offer_id"], "citizen_ref": "c-1"}
        ).json()
    calls = [
        ("GET", "/api/v1/offers", None),
        ("GET", "/api/v1/events", None),
        ("GET", "/api/v1/caseworkers", None),
        ("GET", "/api/v1/rooms", None),
        ("GET", "/api/v1/sites", None),
        ("GET", "/api/v1/conversation-types", None),
        ("POST", "/api/v1/holds", {"offer_id": offers[1]["offer_id"], "citizen_ref": "c-2"}),
        ("GET", f"/api/v1/holds/{hold['id']}", None),
        ("POST", f"/api/v1/holds/{hold['id']}/confirm", None),
        ("POST", f"/api/v1/bookings/{hold['id']}/cancel", {"reason": "x"}),
        ("POST", "/api/v1/restrictions", {"citizen_ref": "c-3"}),
    ]
    for key in (OPS_KEY, NO_SCOPE_KEY):
        with client(scoped_base, key) as http:
            for method, path, body in calls:
                r = http.request(method, path, json=body)
                assert r.status_code == 403, (key, path, r.text)
                assert r.json()["error"]["code"] == "booking_scope_needed"
    with client(scoped_base, STAFF_KEY) as staff:
        assert staff.get("/api/v1/offers").status_code == 200
        assert staff.post(f"/api/v1/holds/{hold['id']}/confirm").status_code == 200


def test_events_belong_to_the_client_whose_booking_they_are_about(base):
    """Another booking key does not read the first one's booking ids, references and times in
    the event feed; a staff key reads every event."""
    with (
        client(base, API_KEY) as first,
        client(base, OTHER_KEY) as second,
        client(base, STAFF_KEY) as staff,
    ):
        offers = first.get("/api/v1/offers", params={"mode": "phone"}).json()["offers"]
        mine = []
        for http, offer in ((first, offers[0]), (second, offers[1])):
            hold = http.post(
                "/api/v1/holds", json={"offer_id": offer["offer_id"], "citizen_ref": "c-1"}
            ).json()
            mine.append(http.post(f"/api/v1/holds/{hold['id']}/confirm").json()["id"])
        for http, own in ((first, mine[0]), (second, mine[1])):
            feed = http.get("/api/v1/events").json()["events"]
            assert feed and {e["booking_id"] for e in feed} == {own}
        everything = staff.get("/api/v1/events").json()["events"]
        assert {e["booking_id"] for e in everything} == set(mine)
