"""Operations endpoints: liveness and readiness (always open), Prometheus metrics and the API's
documentation (open, behind an ``ops``/``staff`` key, or on a port of their own: ``[ops]``)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Depends, FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from starlette.exceptions import HTTPException
from swagger_ui_bundle import swagger_ui_path

from syncd.api.errors import install_error_handlers
from syncd.metrics import REGISTRY, register_store
from syncd.runtime import Runtime
from syncd.store.tables import OutboxRow

OUTBOX_STUCK_AFTER = timedelta(minutes=15)


def readiness(rt: Runtime) -> list[str]:
    """Why the daemon is not ready; empty when it is."""
    problems = []
    now = rt.clock()
    try:
        with rt.db.read() as s:
            s.execute(text("SELECT 1"))
            oldest_due = s.scalar(
                select(func.min(OutboxRow.created_at)).where(
                    OutboxRow.done_at.is_(None),
                    OutboxRow.attempts == 0,
                    OutboxRow.next_attempt_at <= now,
                )
            )
    except Exception as exc:
        return [f"database unreachable: {exc.__class__.__name__}"]
    # Without a calendar backend nothing ever takes calendar writes: an untried write is then
    # the design, not a stuck outbox.
    has_backend = rt.config.backend.kind != "none"
    if has_backend and oldest_due is not None and now - oldest_due > OUTBOX_STUCK_AFTER:
        problems.append(f"outbox stuck: oldest untried write is {now - oldest_due} old")
    engine = rt.extras.get("engine")
    if engine is not None:
        interval = rt.config.sync.poll_interval_seconds
        last = getattr(engine, "last_cycle", None)
        started = rt.extras.get("engine_started_at")
        if last is None:
            if started is not None and (now - started).total_seconds() > max(300, 10 * interval):
                problems.append("no sync cycle has finished since start")
        elif (now - last.started).total_seconds() > max(300, 5 * interval + last.seconds):
            problems.append(f"last sync cycle started {now - last.started} ago")
    return problems


def mount_ops(app: FastAPI, rt: Runtime) -> None:
    """/healthz and /readyz on the API's port, always open (the orchestrator probes them);
    /metrics, /docs and /openapi.json there too unless ``ops.port`` moves them."""
    register_store(rt)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:  # async: no thread needed to say "ok"
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        problems = readiness(rt)
        return JSONResponse(
            {"status": "ok" if not problems else "not ready", "problems": problems},
            status_code=200 if not problems else 503,
        )

    if rt.config.ops.port is None:
        mount_inspection(app, app, rt)


def mount_inspection(target: FastAPI, api: FastAPI, rt: Runtime) -> None:
    """/metrics, /openapi.json (``api``'s document) and /docs (Swagger UI from the installed
    swagger-ui-bundle package: no CDN, so it works on a machine without internet)."""
    guard = [Depends(_ops_key)] if rt.config.ops.access == "key" else []

    @target.get("/metrics", include_in_schema=False, dependencies=guard)
    def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    if not rt.config.ops.docs:
        return

    @target.get("/openapi.json", include_in_schema=False, dependencies=guard)
    async def openapi() -> JSONResponse:
        return JSONResponse(api.openapi())

    @target.get("/docs", include_in_schema=False, dependencies=guard)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{api.title} - Swagger UI",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )

    target.mount("/docs/static", StaticFiles(directory=swagger_ui_path), name="swagger-ui")


async def _ops_key(request: Request) -> None:
    client = request.app.state.api_keys.authenticate(request)
    if not ({"ops", "staff"} & client.scopes):
        raise HTTPException(403, "an API key with the ops or staff scope is needed")


def ops_app(api: FastAPI, rt: Runtime) -> FastAPI:
    """The app on ``ops.port``: /metrics, /docs and /openapi.json of ``api``."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.api_keys = api.state.api_keys
    install_error_handlers(app)
    mount_inspection(app, api, rt)
    return app
