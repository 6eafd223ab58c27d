"""The booking API: thin HTTP over the booking operations. No calendar I/O in a request.

The routes live in ``syncd.api.routes`` (one module per resource); what they depend on in
``syncd.api.deps``; the error envelope in ``syncd.api.errors``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from syncd.api.auth import ApiKeys, Client
from syncd.api.errors import install_error_handlers
from syncd.api.ops import mount_ops
from syncd.api.routes import (
    bookings,
    capacity,
    directory,
    events,
    holds,
    offers,
    push,
    restrictions,
    status,
)
from syncd.runtime import Runtime
from syncd.web import mount_dashboard

ROUTERS = (directory, offers, holds, bookings, events, status, restrictions, push, capacity)


def create_app(rt: Runtime) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Requests run in threads; as many at once as the store's pool has connections.
        anyio.to_thread.current_default_thread_limiter().total_tokens = rt.config.api.threads
        yield

    app = FastAPI(
        title="Selvbook syncd booking API",
        version="1",
        description=(
            "Offers, holds and bookings of jobcentre conversations for self-booking. Every "
            "call needs an API key (`X-API-Key` or `Authorization: Bearer`). A booking "
            "belongs to the key that made it; `staff` keys act on any booking. Every refusal "
            'is `{"error": {"code", "message"}}`; the codes are listed with each '
            "response. POSTs accept an `Idempotency-Key` for safe retries."
        ),
        lifespan=lifespan,
        # Served by ``mount_ops`` (from the package, optionally behind a key or on ops.port).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.api_keys = ApiKeys(
        {
            k.resolved_hash(): Client(k.name, frozenset(k.scopes), k.books_as)
            for k in rt.config.api.keys
        }
    )
    app.state.runtime = rt
    if rt.config.dashboard.enabled:
        mount_dashboard(app, rt)
    mount_ops(app, rt)
    install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)
    app.openapi = lambda: _with_security(app)  # type: ignore[method-assign]
    return app


SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "The same API key"},
}


def _with_security(app: FastAPI) -> dict[str, Any]:
    """The document with its security schemes: the API checks keys in its own dependency (no
    extra work per request), so the schemes are declared here, once, for every operation."""
    if app.openapi_schema is None:
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        doc.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for item in doc.get("paths", {}).values():
            for operation in item.values():
                operation["security"] = [{"ApiKey": []}, {"Bearer": []}]
        app.openapi_schema = doc
    return app.openapi_schema
