"""The booking API over real HTTP, as Jobnet's side would call it."""

from __future__ import annotations

import httpx
import pytest

from syncd.api.app import create_app
from tests.store.helpers import publish
from tests.support.http import serving
from tests.support.jobcentre import API_KEY, STAFF_KEY, at


@pytest.fixture
def api(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    with (
        serving(create_app(rt)) as base,
        httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}) as client,
    ):
        yield client


def in_person_offers(api, **params):
    r = api.get("/api/v1/offers", params={"type": "jobsamtale", "mode": "in_person", **params})
    assert r.status_code == 200, r.text
    return r.json()["offers"]


def test_without_or_with_wrong_key_is_401(api):
    assert api.get("/api/v1/offers", headers={"X-API-Key": ""}).status_code == 401
    r = api.get("/api/v1/offers", headers={"X-API-Key": "wrong"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = httpx.get(
        str(api.base_url).rstrip("/") + "/api/v1/offers",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert r.status_code == 200


def test_directory_endpoints(api):
    assert [t["code"] for t in api.get("/api/v1/conversation-types").json()] == [
        "faellessamtale",
        "jobsamtale",
    ]
    assert {c["id"] for c in api.get("/api/v1/caseworkers", params={"site": "lilleby"}).json()} == {
        "mette",
        "lars",
        "pia",
    }
    assert api.get("/api/v1/sites").json() == [{"id": "lilleby", "name": "Jobcenter Lilleby"}]


def test_story_reserve_confirm_shows_room_and_location(api):
    offers = in_person_offers(api)
    assert [o["start"][11:16] for o in offers] == ["08:00", "08:40", "09:20", "10:00"]  # UTC
    hold = api.post("/api/v1/holds", json={"offer_id": offers[1]["offer_id"], "citizen_ref": "c-1"})
    assert hold.status_code == 201, hold.text
    assert hold.json()["status"] == "held" and hold.json()["hold_expires_at"]
    booking = api.post(f"/api/v1/holds/{hold.json()['id']}/confirm")
    assert booking.status_code == 200
    body = booking.json()
    assert body["status"] == "confirmed"
    assert body["location"] in (
        "Mødelokale L1, Jobcenter Lilleby",
        "Mødelokale L2, Jobcenter Lilleby",
    )
    assert api.get(f"/api/v1/bookings/{body['id']}").json()["room_id"] == body["room_id"]
    events = api.get("/api/v1/events").json()["events"]
    assert [e["type"] for e in events] == ["booking.confirmed"]


def test_taken_offer_is_409_with_code(api):
    offer = in_person_offers(api)[0]["offer_id"]
    assert (
        api.post("/api/v1/holds", json={"offer_id": offer, "citizen_ref": "a"}).status_code == 201
    )
    r = api.post("/api/v1/holds", json={"offer_id": offer, "citizen_ref": "b"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "slot_taken"


def test_expired_hold_is_a_clear_409(api, clock):
    offer = in_person_offers(api)[0]["offer_id"]
    hold = api.post("/api/v1/holds", json={"offer_id": offer, "citizen_ref": "a"}).json()
    clock.advance(minutes=11)
    r = api.post(f"/api/v1/holds/{hold['id']}/confirm")
    assert r.status_code == 409 and r.json()["error"]["code"] == "hold_expired"
    assert "reserve" in r.json()["error"]["message"]


def test_cpr_is_422_and_not_echoed(api):
    offer = in_person_offers(api)[0]["offer_id"]
    r = api.post("/api/v1/holds", json={"offer_id": offer, "citizen_ref": "241085-1234"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "cpr_not_allowed"
    assert "241085" not in r.text


def test_invalid_input_is_422_without_echo(api):
    r = api.post("/api/v1/holds", json={"offer_id": "x", "citizen_ref": "0101901234", "extra": 1})
    assert r.status_code == 422 and "0101901234" not in r.text
    r = api.get("/api/v1/offers", params={"from": "2026-12-01T09:00:00"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    r = api.get("/api/v1/offers", params={"type": "nope"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_type"


def test_unknown_booking_is_404(api):
    r = api.get("/api/v1/bookings/b-doesnotexist")
    assert r.status_code == 404 and r.json()["error"]["code"] == "booking_not_found"


def test_cancel_and_rebook(api):
    first, second, *_ = in_person_offers(api)
    hold = api.post(
        "/api/v1/holds", json={"offer_id": first["offer_id"], "citizen_ref": "c"}
    ).json()
    booking = api.post(f"/api/v1/holds/{hold['id']}/confirm").json()
    moved = api.post(
        f"/api/v1/bookings/{booking['id']}/rebook", json={"offer_id": second["offer_id"]}
    )
    assert moved.status_code == 200 and moved.json()["start"] == second["start"]
    assert first["offer_id"] in [o["offer_id"] for o in in_person_offers(api)]
    cancelled = api.post(f"/api/v1/bookings/{booking['id']}/cancel", json={"reason": "syg"})
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["room_id"] is None
    types = [e["type"] for e in api.get("/api/v1/events").json()["events"]]
    assert types == ["booking.confirmed", "booking.rebooked", "booking.cancelled"]


def test_restrictions_give_403(api):
    offer = in_person_offers(api)[0]["offer_id"]
    assert (
        api.post(
            "/api/v1/restrictions", json={"citizen_ref": "x1", "caseworker_id": "mette"}
        ).status_code
        == 204
    )
    r = api.post("/api/v1/holds", json={"offer_id": offer, "citizen_ref": "x1"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "caseworker_barred"
    r = api.delete("/api/v1/restrictions/x1")
    assert r.status_code == 403 and r.json()["error"]["code"] == "staff_only"
    assert (
        api.delete("/api/v1/restrictions/x1", headers={"X-API-Key": STAFF_KEY}).status_code == 204
    )
    assert (
        api.post("/api/v1/holds", json={"offer_id": offer, "citizen_ref": "x1"}).status_code == 201
    )


def test_strakstid_only_for_staff(rt):
    rt.config = rt.config.model_copy()
    from datetime import timedelta

    from syncd.domain.slots import WindowOccurrence
    from syncd.store.publishing import publish_caseworker
    from tests.support.jobcentre import NOW

    with rt.db.write() as s:
        publish_caseworker(
            s, rt.index, "lars", [WindowOccurrence("lars", at(0, 8), at(0, 16))], [],
            horizon=(NOW, NOW + timedelta(days=42)), zone=rt.zone, strakstid_share=0.5, now=NOW,
        )  # fmt: skip
    with serving(create_app(rt)) as base:
        citizen = httpx.get(
            f"{base}/api/v1/offers",
            params={"caseworker": "lars", "mode": "phone", "strakstid": True},
            headers={"X-API-Key": API_KEY},
        ).json()["offers"]
        staff = httpx.get(
            f"{base}/api/v1/offers",
            params={"caseworker": "lars", "mode": "phone", "strakstid": True},
            headers={"X-API-Key": STAFF_KEY},
        ).json()["offers"]
    assert not any(o["strakstid"] for o in citizen)
    assert any(o["strakstid"] for o in staff) and len(staff) > len(citizen)


def test_self_booked_follows_who_booked_not_the_keys_scopes(rt):
    """A staff key books as staff unless the hold says the citizen booked, and the other way
    round: the figure records who booked, the scopes only what the key may do."""
    from sqlalchemy import select

    from syncd.store.tables import BookingRow

    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    with serving(create_app(rt)) as base:
        made = {}
        for name, key, booked_by in [
            ("staff-default", STAFF_KEY, None),
            ("staff-for-citizen", STAFF_KEY, "citizen"),
            ("jobnet-default", API_KEY, None),
            ("jobnet-by-staff", API_KEY, "staff"),
        ]:
            h = {"X-API-Key": key}
            offers = httpx.get(f"{base}/api/v1/offers", params={"mode": "phone"}, headers=h).json()[
                "offers"
            ]
            body = {"offer_id": offers[0]["offer_id"], "citizen_ref": name}
            if booked_by:
                body["booked_by"] = booked_by
            r = httpx.post(f"{base}/api/v1/holds", json=body, headers=h)
            assert r.status_code == 201, r.text
            made[name] = r.json()["id"]
        bad = httpx.post(
            f"{base}/api/v1/holds",
            json={"offer_id": "x:y", "citizen_ref": "z", "booked_by": "robot"},
            headers={"X-API-Key": API_KEY},
        )
        assert bad.status_code == 422
    with rt.db.read() as s:
        rows = {r.citizen_ref: r for r in s.scalars(select(BookingRow))}
    assert {n: (r.booked_by, r.self_booked) for n, r in rows.items()} == {
        "staff-default": ("staff", False),
        "staff-for-citizen": ("citizen", True),
        "jobnet-default": ("citizen", True),
        "jobnet-by-staff": ("staff", False),
    }


def test_openapi_document(api):
    doc = api.get("/openapi.json").json()
    assert "/api/v1/holds/{hold_id}/confirm" in doc["paths"]
    assert "409" in doc["paths"]["/api/v1/holds"]["post"]["responses"]
