"""The dashboard's edges on both stores: dates far out, ids past PostgreSQL's integer, NUL in
a field, form errors. Each is a clear 4xx (never a 500), in the dashboard's JSON with the
API's error envelope when the page asked for JSON."""

from __future__ import annotations

import httpx
import pytest

from syncd.api.app import create_app
from syncd.runtime import open_runtime
from tests.support import jobcentre
from tests.support.http import serving
from tests.web.conftest import dashboard_config, page_csrf, sign_in

FETCH = {"X-Requested-With": "fetch"}


@pytest.fixture
def anne(store_url, clock, password_hashes):
    config = jobcentre.config(store_url, dashboard=dashboard_config(password_hashes))
    rt = open_runtime(config, clock=clock)
    try:
        with serving(create_app(rt)) as base, sign_in(base, "anne") as client:
            yield client
    finally:
        rt.db.dispose()


def refused(r: httpx.Response, status: int = 400) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["ok"] is False and body["message"]
    assert set(body["error"]) == {"code", "message"} and body["error"]["code"]
    return body["message"]


@pytest.mark.parametrize(
    "path,params",
    [
        ("/dashboard/today", {"day": "9999-12-31"}),
        ("/dashboard/today", {"day": "0001-01-01"}),
        ("/dashboard/utilisation", {"week": "9999-W52"}),
        ("/dashboard/utilisation", {"week": "0001-W01"}),
        ("/dashboard/self-booking", {"week": "9999-W52"}),
        ("/dashboard/fragments/timeline", {"day": "9999-12-31"}),
        ("/dashboard/export/allocations.csv", {"start": "9999-12-25", "end": "9999-12-31"}),
        ("/dashboard/export/utilisation.csv", {"start": "0001-01-01", "end": "0001-01-07"}),
        ("/dashboard/today", {"site": "lilleby\u0000"}),
        ("/dashboard/plan", {"day": "0001-01-01"}),
        ("/dashboard/plan", {"day": "9999-W52"}),
        ("/dashboard/fragments/plan", {"day": "9999-12-31"}),
        ("/dashboard/fragments/plan", {"day": "0001-01-01"}),
        ("/dashboard/fragments/plan", {"day": "9999-W52"}),
        ("/dashboard/export/allocations.csv", {"start": "9999-12-31"}),
        ("/dashboard/export/utilisation.csv", {"start": "9999-W52"}),
        ("/dashboard/export/self-booking.csv", {"start": "9999-12-31"}),
        ("/dashboard/export/self-booking.csv", {"start": "9999-W52"}),
    ],
)
def test_dates_outside_the_window_and_nul_in_the_query_are_400(anne, path, params):
    refused(anne.get(path, params=params, headers=FETCH))
    page = anne.get(path, params=params)  # a browser gets the error page, not a 500
    assert page.status_code == 400


@pytest.mark.parametrize(
    "action,fields",
    [
        ("release-block", {"block_id": str(2**40)}),
        ("retry", {"outbox_id": str(2**40)}),
        ("retry", {"outbox_id": "-1"}),
        ("retry", {}),
        ("pin", {"booking_id": "b\u00001"}),
        ("pin", {"booking_id": "b-1", "reason": "x\u0000"}),
        (
            "block",
            {"room_id": "l1", "start": "9999-12-31T08:00", "end": "9999-12-31T09:00"},
        ),
        (
            "block",
            {"room_id": "l1", "start": "0001-01-01T08:00", "end": "0001-01-01T09:00"},
        ),
    ],
)
def test_form_errors_are_a_clear_4xx(anne, action, fields):
    csrf = page_csrf(anne)
    r = anne.post(f"/dashboard/actions/{action}", data={"csrf": csrf, **fields}, headers=FETCH)
    assert 400 <= r.status_code < 500, r.text
    refused(r, r.status_code)
    assert "[{" not in r.text  # not FastAPI's raw list of errors


@pytest.mark.parametrize(
    "cpr",
    [
        "010190.1234",
        "010190/1234",
        "01.01.90-1234",
        "010190\u20131234",
        "010190\u200b1234",
        "01.01.1990-1234",
        "0 1 0 1 9 0 1 2 3 4",
    ],
)
def test_written_forms_of_a_cpr_number_are_refused_in_reasons(anne, cpr):
    r = anne.post(
        "/dashboard/actions/block",
        data={
            "csrf": page_csrf(anne),
            "room_id": "l1",
            "start": "2026-12-01T08:00",
            "end": "2026-12-01T09:00",
            "reason": f"borger {cpr}",
        },
        headers=FETCH,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "cpr_not_allowed"
    assert cpr not in r.text
