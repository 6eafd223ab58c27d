"""Operations endpoints: liveness, readiness and Prometheus metrics (no API key needed; expose
them only inside the cluster or behind the reverse proxy)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text

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
    if oldest_due is not None and now - oldest_due > OUTBOX_STUCK_AFTER:
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

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
