"""/metrics, /docs and /openapi.json: open by default, behind an ops/staff key when
``ops.access = "key"``, or on a port of their own (``ops.port``); /docs is served from the
installed package, never a CDN; /healthz stays open for the orchestrator."""

from __future__ import annotations

import httpx
import pytest

from syncd.api.app import create_app
from syncd.api.ops import ops_app
from syncd.config import ConfigError, parse_config
from syncd.runtime import open_runtime
from tests.support import jobcentre
from tests.support.http import serving
from tests.support.jobcentre import API_KEY, STAFF_KEY

PATHS = ["/metrics", "/openapi.json", "/docs"]


def runtime(tmp_path, clock, **ops):
    config = jobcentre.config(f"sqlite:///{tmp_path / 'ops.db'}", ops=ops)
    return open_runtime(config, clock=clock)


def test_docs_come_from_the_package_not_a_cdn(tmp_path, clock):
    rt = runtime(tmp_path, clock)
    with serving(create_app(rt)) as base, httpx.Client(base_url=base) as http:
        page = http.get("/docs")
        assert page.status_code == 200
        assert "cdn" not in page.text.lower() and "/docs/static/swagger-ui-bundle.js" in page.text
        js = http.get("/docs/static/swagger-ui-bundle.js")
        assert js.status_code == 200 and len(js.content) > 100_000
        assert http.get("/docs/static/swagger-ui.css").status_code == 200
        assert http.get("/openapi.json").json()["paths"]
        assert http.get("/metrics").status_code == 200
        assert http.get("/redoc").status_code == 404


def test_with_access_key_they_need_an_ops_or_staff_key(tmp_path, clock):
    rt = runtime(tmp_path, clock, access="key")
    with serving(create_app(rt)) as base, httpx.Client(base_url=base) as http:
        for path in PATHS:
            r = http.get(path)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
            r = http.get(path, headers={"X-API-Key": API_KEY})
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
            r = http.get(path, headers={"Authorization": f"Bearer {STAFF_KEY}"})
            assert r.status_code == 200
        assert http.get("/healthz").status_code == 200


def test_on_their_own_port_they_leave_the_api_port(tmp_path, clock):
    rt = runtime(tmp_path, clock, port=0)
    api = create_app(rt)
    with serving(api) as base, serving(ops_app(api, rt)) as ops_base:
        for path in PATHS:
            assert httpx.get(base + path).status_code == 404
            assert httpx.get(ops_base + path).status_code == 200
        assert httpx.get(base + "/healthz").status_code == 200
        assert "/api/v1/holds" in httpx.get(ops_base + "/openapi.json").json()["paths"]


def test_a_separate_port_needs_one_worker():
    with pytest.raises(ConfigError, match=r"ops\.port"):
        parse_config({"api": {"workers": 2}, "ops": {"port": 9100}})
