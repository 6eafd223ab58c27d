"""Inputs an attacker or a careless client sends: each is a clear 4xx in the one envelope
``{"error": {"code", "message"}}``, on both stores (PostgreSQL refuses NUL in text and has a
32-bit integer, so a missed check there is a 500)."""

from __future__ import annotations

import httpx
import pytest

from syncd.api.app import create_app
from tests.store.helpers import publish
from tests.support.http import serving
from tests.support.jobcentre import API_KEY, at

NUL = "\u0000"
NUL_IN_URL = "%00"  # what a client sends for NUL in a path


@pytest.fixture
def api(rt):
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    with (
        serving(create_app(rt)) as base,
        httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}) as client,
    ):
        yield client


def refused(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


def an_offer(api) -> str:
    r = api.get("/api/v1/offers", params={"type": "jobsamtale", "mode": "in_person"})
    return r.json()["offers"][0]["offer_id"]


@pytest.mark.parametrize(
    "body",
    [
        {"offer_id": f"x{NUL}y", "citizen_ref": "c-1"},
        {"offer_id": "OFFER", "citizen_ref": f"c{NUL}1"},
        {"offer_id": "OFFER", "citizen_ref": "c" * 201},
        {"offer_id": "OFFER", "citizen_ref": "line\nbreak"},
    ],
)
def test_hold_with_bad_text_is_422(api, body):
    body = {k: v.replace("OFFER", an_offer(api)) for k, v in body.items()}
    refused(api.post("/api/v1/holds", json=body), 422, "invalid_request")


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", f"/api/v1/holds/h{NUL_IN_URL}1"),
        ("POST", f"/api/v1/holds/h{NUL_IN_URL}1/confirm"),
        ("DELETE", f"/api/v1/holds/h{NUL_IN_URL}1"),
        ("GET", f"/api/v1/bookings/b{NUL_IN_URL}1"),
        ("POST", f"/api/v1/bookings/b{NUL_IN_URL}1/cancel"),
        ("DELETE", f"/api/v1/restrictions/c{NUL_IN_URL}1"),
        ("GET", "/api/v1/bookings/" + "b" * 201),
    ],
)
def test_bad_ids_in_the_path_are_422(api, method, path):
    refused(api.request(method, path), 422, "invalid_request")


def test_rebook_cancel_and_restriction_bodies_with_nul_are_422(api):
    refused(api.post("/api/v1/bookings/b-1/rebook", json={"offer_id": f"a{NUL}bc"}), 422)
    refused(api.post("/api/v1/bookings/b-1/cancel", json={"reason": f"syg{NUL}"}), 422)
    for body in (
        {"citizen_ref": f"c{NUL}"},
        {"citizen_ref": "c", "caseworker_id": f"mette{NUL}"},
        {"citizen_ref": "c", "reason": f"grund{NUL}"},
        {"citizen_ref": "c", "reason": "x" * 501},
    ):
        refused(api.post("/api/v1/restrictions", json=body), 422, "invalid_request")


@pytest.mark.parametrize("after", ["2147483648", "9223372036854775808", "-1", "1e3"])
def test_event_cursor_out_of_range_is_422(api, after):
    refused(api.get("/api/v1/events", params={"after": after}), 422, "invalid_request")


def test_event_cursor_at_the_top_of_the_range_is_fine(api):
    r = api.get("/api/v1/events", params={"after": 2**31 - 1})
    assert r.status_code == 200 and r.json() == {"events": [], "next_after": 2**31 - 1}


@pytest.mark.parametrize(
    "params",
    [
        {"from": "9999-12-31T00:00:00+00:00"},
        {"to": "9999-12-31T23:59:59+00:00"},
        {"from": "0001-01-01T00:00:00+00:00"},
        {"from": "0001-01-01T00:00:00+00:00", "to": "0001-01-02T00:00:00+00:00"},
        {"caseworker": f"mette{NUL}"},
        {"site": "s" * 201},
        {"type": f"job{NUL}"},
    ],
)
def test_offers_outside_the_window_or_with_bad_text_are_422(api, params):
    refused(api.get("/api/v1/offers", params=params), 422, "invalid_request")


def test_caseworkers_filter_with_nul_is_422(api):
    refused(api.get("/api/v1/caseworkers", params={"site": f"l{NUL}"}), 422, "invalid_request")


@pytest.mark.parametrize(
    "content",
    [
        b'{"offer_id": "\xff\xfe", "citizen_ref": "c"}',  # not UTF-8
        b"[" * 100_000 + b"]" * 100_000,  # nesting deeper than any parser should follow
        b'{"offer_id": "abc", "citizen_ref": "c", "needs_wheelchair": ' + b"9" * 5000 + b"}",
    ],
    ids=["bad-utf8", "deep-nesting", "5000-digits"],
)
def test_unreadable_bodies_are_400_in_the_envelope(api, content):
    r = api.post("/api/v1/holds", content=content, headers={"Content-Type": "application/json"})
    refused(r, 400, "malformed_request")


def test_not_json_is_422_in_the_envelope(api):
    r = api.post("/api/v1/holds", content=b"{nope", headers={"Content-Type": "application/json"})
    refused(r, 422, "invalid_request")


def test_unknown_path_and_wrong_method_are_in_the_envelope(api):
    refused(api.get("/api/v1/nowhere"), 404, "not_found")
    refused(api.put("/api/v1/holds"), 405, "method_not_allowed")


CPR_FORMS = [
    "311299-9876",
    "010190.1234",
    "010190/1234",
    "01.01.90-1234",
    "01 01 90 1234",
    # as word processors and careful typists write them
    "010190\u20131234",
    "010190\u20101234",
    "010190\u00a01234",
    "010190_1234",
    "01:01:90:1234",
    "01.01.1990-1234",
    "01-01-1990-1234",
    "0 1 0 1 9 0 1 2 3 4",
]


@pytest.mark.parametrize("cpr", CPR_FORMS)
def test_cpr_in_any_free_text_or_reference_is_refused_and_not_echoed(api, rt, cpr):
    offer = an_offer(api)
    err = refused(api.post("/api/v1/holds", json={"offer_id": offer, "citizen_ref": cpr}), 422)
    assert err["code"] == "cpr_not_allowed"
    hold = api.post("/api/v1/holds", json={"offer_id": offer, "citizen_ref": "c-1"}).json()
    booking = api.post(f"/api/v1/holds/{hold['id']}/confirm").json()
    for r in (
        api.post(
            f"/api/v1/bookings/{booking['id']}/cancel", json={"reason": f"borger {cpr} ringede"}
        ),
        api.post("/api/v1/restrictions", json={"citizen_ref": cpr}),
        api.post(
            "/api/v1/restrictions", json={"citizen_ref": "c-2", "reason": f"borger {cpr} vred"}
        ),
    ):
        assert refused(r, 422)["code"] == "cpr_not_allowed"
        assert cpr not in r.text
    assert api.get(f"/api/v1/bookings/{booking['id']}").json()["status"] == "confirmed"
    from sqlalchemy import select

    from syncd.store.tables import AuditRow, CitizenRestrictionRow

    with rt.db.read() as s:
        assert not list(s.scalars(select(CitizenRestrictionRow)))
        assert not any(cpr in str(a.reason) for a in s.scalars(select(AuditRow)))


@pytest.mark.parametrize(
    "variant",
    ["REF-X", "ref\u2010x", "\uff52\uff45\uff46-\uff58", "ref-x\u200b", "Ref\u2013X"],
    ids=["upper", "u2010", "full-width", "zero-width-tail", "en-dash"],
)
def test_a_restriction_holds_for_every_spelling_of_the_reference(api, variant):
    assert api.post("/api/v1/restrictions", json={"citizen_ref": "ref-x"}).status_code == 204
    # the API refuses invisible characters outright; the store normalises what else arrives
    r = api.post("/api/v1/holds", json={"offer_id": an_offer(api), "citizen_ref": variant})
    if "\u200b" in variant:
        refused(r, 422, "invalid_request")
    else:
        refused(r, 403, "citizen_withdrawn")


def test_the_store_matches_invisible_variants_too(rt):
    rt.bookings.add_restriction("REF-Y\u200b", None, "", "test")
    assert rt.bookings.remove_restrictions("ref\u2010y", "test") == 1


@pytest.mark.parametrize(
    "char",
    ["\u0085", "\u009b", "\u202e", "\u2066", "\u2028", "\u2029", "\ufeff", "\u200b", "\u200d"],
)
def test_references_refuse_invisible_and_control_characters(api, char):
    offer = an_offer(api)
    refused(
        api.post("/api/v1/holds", json={"offer_id": offer, "citizen_ref": f"c{char}1"}),
        422,
        "invalid_request",
    )
    refused(api.get(f"/api/v1/bookings/b{char}1"), 422, "invalid_request")
