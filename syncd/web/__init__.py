"""The room coordinators' dashboard, served by syncd under /dashboard."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from syncd.runtime import Runtime

PREFIX = "/dashboard"


def mount_dashboard(app: FastAPI, rt: Runtime) -> None:
    """Serve the dashboard from ``app`` under /dashboard (its own sub-application, so its
    sessions, errors and headers never mix with the booking API's)."""
    from syncd.web.app import create_dashboard

    app.mount(PREFIX, create_dashboard(rt), name="dashboard")

    @app.get(PREFIX, include_in_schema=False)
    def _dashboard_root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/today", status_code=303)
