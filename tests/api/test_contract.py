"""The booking API against its own OpenAPI document, with Schemathesis over real HTTP on both
stores: every operation with generated (valid and invalid) input, then stateful sequences
along the document's links (offers -> hold -> confirm -> booking -> cancel/rebook). No
answer may be a server error or break the documented schema, status codes or headers.

Bounded in time: a few examples per operation (the edge cases each have their own test in
test_edges.py); the stateful run is short."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from syncd.api.app import create_app
from syncd.runtime import Runtime, open_runtime
from tests.store.helpers import publish
from tests.support import jobcentre
from tests.support.clock import FakeClock
from tests.support.databases import truncate_all
from tests.support.http import serving
from tests.support.jobcentre import STAFF_KEY, at

EXAMPLES = 12
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
AUTH = {"X-API-Key": STAFF_KEY}


class _Plain(requests.adapters.BaseAdapter):
    """requests' HTTPAdapter behind a plain adapter: Schemathesis counts the pool's connections
    through ``pools.keys()``, which urllib3-future (installed with caldav's niquests, and
    taking urllib3's place) does not have. The requests themselves are unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self._inner = requests.adapters.HTTPAdapter()

    def send(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self._inner.send(*args, **kwargs)

    def close(self) -> None:
        self._inner.close()


def http_session() -> requests.Session:
    session = requests.Session()
    session.adapters.clear()
    session.mount("http://", _Plain())
    return session


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def live_api(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[tuple[str, Runtime]]:
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('contract')) / 'syncd.db'}"
    else:
        url = request.getfixturevalue("_pg_session_url")
        truncate_all(url)
    rt = open_runtime(jobcentre.config(url), clock=FakeClock(jobcentre.NOW))
    publish(rt, "mette", [(at(0, 9), at(0, 12)), (at(1, 9), at(1, 12))])
    try:
        with serving(create_app(rt)) as base:
            yield base, rt
    finally:
        rt.db.dispose()


def load(base: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{base}/openapi.json", headers=AUTH)


def test_every_operation_answers_within_its_contract(live_api):
    base, _ = live_api
    schema = load(base)
    session = http_session()
    failures: list[str] = []
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=base, session=session, headers=AUTH, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # collect all operations' failures, then report them
            failures.append(f"{operation.label}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)


def test_stateful_sequences_follow_the_links(live_api):
    base, _ = live_api
    schema = load(base)
    machine = schema.as_state_machine()
    session = http_session()

    class Machine(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict:
            return {"base_url": base, "session": session, "headers": AUTH}

        def validate_response(self, response, case, **kwargs) -> None:  # type: ignore[no-untyped-def]
            case.validate_response(response, checks=CHECKS)

    Machine.run(
        settings=settings(
            max_examples=15,
            stateful_step_count=6,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )


def test_the_document_describes_every_operation(live_api):
    base, _ = live_api
    doc = requests.get(f"{base}/openapi.json", timeout=10).json()
    assert doc["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    operations = [op for item in doc["paths"].values() for op in item.values()]
    for op in operations:
        assert op.get("description"), op["operationId"]
        assert op["security"] == [{"ApiKey": []}, {"Bearer": []}]
    holds = doc["paths"]["/api/v1/holds"]["post"]
    assert "`slot_taken`" in holds["responses"]["409"]["description"]
    assert "`cpr_not_allowed`" in holds["responses"]["422"]["description"]
    assert holds["responses"]["201"]["links"]["ConfirmHold"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" for p in holds["parameters"])
    assert doc["components"]["schemas"]["HoldIn"]["examples"]
    payload = doc["components"]["schemas"]["EventPayload"]["properties"]
    assert {"reference", "room", "start", "by"} <= set(payload)
    assert (
        "booking.room_lost"
        in doc["components"]["schemas"]["EventOut"]["properties"]["type"]["description"]
    )
    r = requests.get(f"{base}/api/v1/rooms", headers=AUTH, timeout=10)
    assert {room["id"] for room in r.json()} >= {"L1", "L2"}
