"""The dashboard's endpoints under Schemathesis, signed in as a coordinator and asking for JSON
(as the page's scripts do), over real HTTP on both stores: no input may give a server error.
Their document is the dashboard app's own (it is not published)."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from syncd.api.app import create_app
from syncd.runtime import open_runtime
from syncd.web.app import create_dashboard
from tests.api.test_contract import http_session
from tests.store.helpers import publish
from tests.support import jobcentre
from tests.support.http import serving
from tests.support.jobcentre import at
from tests.web.conftest import dashboard_config, sign_in

SKIP = re.compile(r"^/(login|logout|oidc/|live)")  # sign-in has its own tests; /live streams


@pytest.fixture
def signed_in(store_url, clock, password_hashes):
    config = jobcentre.config(store_url, dashboard=dashboard_config(password_hashes))
    rt = open_runtime(config, clock=clock)
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    try:
        with serving(create_app(rt)) as base, sign_in(base, "anne") as anne:
            page = anne.get("/dashboard/today").text
            csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
            headers = {
                "X-Requested-With": "fetch",
                "X-CSRF-Token": csrf,
                "Origin": base,
                "Cookie": f"syncd_session={anne.cookies['syncd_session']}",
            }
            yield base + "/dashboard", create_dashboard(rt).openapi(), headers
    finally:
        rt.db.dispose()


def test_no_dashboard_input_gives_a_server_error(signed_in):
    base, document, headers = signed_in
    schema = schemathesis.openapi.from_dict(document)
    session = http_session()
    failures: list[str] = []
    operations = [op.ok() for op in schema.get_all_operations()]
    operations = [op for op in operations if not SKIP.match(op.path)]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=base, session=session, headers=headers)
            case.validate_response(response, checks=[checks.not_a_server_error])

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
