"""Idempotency-Key on the API's POSTs (draft-ietf-httpapi-idempotency-key-header): a retried
POST /holds with the same key returns the same hold instead of 409 slot_taken behind an
orphaned hold; the same key with another body is refused; keys expire."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from syncd.api.app import create_app
from syncd.store.tables import BookingRow
from tests.store.helpers import publish
from tests.support.http import serving
from tests.support.jobcentre import API_KEY, OTHER_KEY, at


@pytest.fixture
def base(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    with serving(create_app(rt)) as url:
        yield url


@pytest.fixture
def api(base):
    with httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}) as client:
        yield client


def offers(api) -> list[str]:
    r = api.get("/api/v1/offers", params={"mode": "in_person", "type": "jobsamtale"})
    return [o["offer_id"] for o in r.json()["offers"]]


def test_a_retried_hold_with_the_same_key_returns_the_same_hold(api, rt):
    body = {"offer_id": offers(api)[0], "citizen_ref": "c-1"}
    key = {"Idempotency-Key": "retry-1"}
    first = api.post("/api/v1/holds", json=body, headers=key)
    again = api.post("/api/v1/holds", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    with rt.db.read() as s:
        assert s.scalar(select(func.count()).select_from(BookingRow)) == 1
    # Without the key the retry is a second request: the time is taken.
    assert api.post("/api/v1/holds", json=body).json()["error"]["code"] == "slot_taken"


def test_the_same_key_with_another_body_is_422(api):
    first, second, *_ = offers(api)
    key = {"Idempotency-Key": "k-2"}
    assert (
        api.post(
            "/api/v1/holds", json={"offer_id": first, "citizen_ref": "c-1"}, headers=key
        ).status_code
        == 201
    )
    r = api.post("/api/v1/holds", json={"offer_id": second, "citizen_ref": "c-1"}, headers=key)
    assert r.status_code == 422 and r.json()["error"]["code"] == "idempotency_key_reused"


def test_a_refusal_is_replayed_too_and_confirm_cancel_are_idempotent(api):
    offer = offers(api)[0]
    hold = api.post("/api/v1/holds", json={"offer_id": offer, "citizen_ref": "c-1"}).json()
    taken = {"offer_id": offer, "citizen_ref": "c-2"}
    key = {"Idempotency-Key": "k-3"}
    first = api.post("/api/v1/holds", json=taken, headers=key)
    assert first.status_code == 409
    assert api.post("/api/v1/holds", json=taken, headers=key).json() == first.json()
    ck = {"Idempotency-Key": "confirm-1"}
    confirmed = api.post(f"/api/v1/holds/{hold['id']}/confirm", headers=ck)
    assert api.post(f"/api/v1/holds/{hold['id']}/confirm", headers=ck).json() == confirmed.json()
    xk = {"Idempotency-Key": "cancel-1"}
    url = f"/api/v1/bookings/{hold['id']}/cancel"
    cancelled = api.post(url, json={"reason": "syg"}, headers=xk)
    assert cancelled.status_code == 200
    assert api.post(url, json={"reason": "syg"}, headers=xk).json() == cancelled.json()
    rk = {"Idempotency-Key": "restrict-1"}
    for _ in range(2):
        r = api.post("/api/v1/restrictions", json={"citizen_ref": "c-9"}, headers=rk)
        assert r.status_code == 204


def test_keys_are_per_client_and_expire(base, api, clock):
    first, second, *_ = offers(api)
    key = {"Idempotency-Key": "shared"}
    a = api.post("/api/v1/holds", json={"offer_id": first, "citizen_ref": "c-1"}, headers=key)
    with httpx.Client(base_url=base, headers={"X-API-Key": OTHER_KEY}) as other:
        b = other.post(
            "/api/v1/holds", json={"offer_id": second, "citizen_ref": "c-2"}, headers=key
        )
    assert a.status_code == b.status_code == 201, b.text
    assert a.json()["id"] != b.json()["id"]
    clock.advance(hours=25)
    r = api.post("/api/v1/holds", json={"offer_id": second, "citizen_ref": "c-1"}, headers=key)
    assert r.status_code != 422  # the old use has expired: the key acts anew


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_a_malformed_key_is_422(api, key):
    r = api.post(
        "/api/v1/holds",
        json={"offer_id": offers(api)[0], "citizen_ref": "c"},
        headers={"Idempotency-Key": key},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
