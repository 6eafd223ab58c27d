"""No CPR number, secret or token in any log line or metric of a full run: the booking API
(including refused CPR references), the engine on a real Radicale, the outbox and read-back."""

from __future__ import annotations

import io
import logging
import re

import httpx
import pytest

from mappings.privacy import contains_cpr
from syncd.api.app import create_app
from syncd.logs import configure_logging
from tests.engine.world import ics, make_world
from tests.support.http import serving
from tests.support.jobcentre import API_KEY, at

CPRS = ("010190-1234", "2412851234", "311299-4321")
SECRET_SHAPES = re.compile(r"(sha256:[0-9a-f]{64}|Bearer\s+\S+|password\s*[=:]\s*\S+)", re.I)


@pytest.fixture
def captured_logs():
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    yield stream
    logging.getLogger().handlers.clear()
    logging.getLogger().setLevel(logging.WARNING)


def test_full_run_logs_and_metrics_carry_no_cpr_or_secret(captured_logs, radicale, tmp_path, clock):
    world = make_world(radicale, f"sqlite:///{tmp_path / 's.db'}", clock)
    world.put("caseworkers", "mette", "w1", ics("w1", "Selvbook", at(0, 9), at(0, 12)))
    # A caseworker who wrote a CPR number into her own calendar: we read it, never repeat it.
    world.put(
        "caseworkers", "mette", "n1", ics("n1", f"Ring til borger {CPRS[2]}", at(1, 9), at(1, 10))
    )
    world.settle()
    with (
        serving(create_app(world.rt)) as base,
        httpx.Client(base_url=base, headers={"X-API-Key": API_KEY}) as api,
    ):
        offers = api.get("/api/v1/offers", params={"mode": "in_person"}).json()["offers"]
        for cpr in CPRS[:2]:
            r = api.post(
                "/api/v1/holds", json={"offer_id": offers[0]["offer_id"], "citizen_ref": cpr}
            )
            assert r.status_code == 422
        hold = api.post(
            "/api/v1/holds", json={"offer_id": offers[0]["offer_id"], "citizen_ref": "ref-77"}
        )
        booking = api.post(f"/api/v1/holds/{hold.json()['id']}/confirm").json()
        world.settle()
        uid = next(e["uid"] for e in world.events("caseworkers", "mette") if e["ours"])
        world.move_own_event("caseworkers", "mette", uid, at(0, 13), at(0, 13, 30))
        world.settle()
        api.post(f"/api/v1/bookings/{booking['id']}/cancel")
        world.settle()
        r = api.get("/api/v1/offers", headers={"X-API-Key": "wrong-" + API_KEY})
        assert r.status_code == 401
        metrics = api.get("/metrics").text
    logging.getLogger("syncd.test").warning("citizen %s called", CPRS[0])  # a careless library
    logs = captured_logs.getvalue()
    assert logs.count("\n") > 10, "the run logged nothing: the scan would prove nothing"
    for text, where in ((logs, "logs"), (metrics, "metrics")):
        assert not contains_cpr(text), f"CPR-shaped number in {where}"
        assert API_KEY not in text, f"API key in {where}"
        assert not SECRET_SHAPES.search(text), (
            f"secret-shaped text in {where}: {SECRET_SHAPES.search(text)}"
        )
    assert "syncd_bookings" in metrics
    # ... and nothing we wrote to a calendar carries one either.
    for kind, names in (("caseworkers", ("mette", "lars", "pia")), ("rooms", ("L1", "L2", "L9"))):
        for name in names:
            for event in world.events(kind, name):
                if event["ours"]:
                    assert not contains_cpr(event["raw"])
    world.rt.db.dispose()


def test_json_logs_carry_the_traceback_text_scrubbed(captured_logs):
    try:
        raise RuntimeError(f"store said no for {CPRS[0]}")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    import json

    line = json.loads(captured_logs.getvalue().splitlines()[-1])
    assert "Traceback (most recent call last)" in line["exception"]
    assert "RuntimeError: store said no for" in line["exception"]
    assert "traceback object" not in captured_logs.getvalue()
    assert not contains_cpr(captured_logs.getvalue())
