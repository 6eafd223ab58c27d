"""The dashboard application: security headers, error pages and the routers. Shared state and
the checks routes depend on are in ``web.deps``; sign-in is in ``web.signin``."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncd.runtime import Runtime
from syncd.web import actions, capacity, feeds, plan, signin, views
from syncd.web.deps import HERE, Dashboard, LoginRequired, Refused, base_path, wants_json
from syncd.web.edges import BadField, clean_inputs, refusal, validation_message

SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' "
     b"data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
     b"object-src 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),  # feed URLs carry their token
    (b"cross-origin-opener-policy", b"same-origin"),
]  # fmt: skip


class SecurityHeaders:
    """Pure ASGI (no buffering), so the live event stream passes straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


def create_dashboard(rt: Runtime) -> FastAPI:
    app = FastAPI(
        docs_url=None, redoc_url=None, openapi_url=None, dependencies=[Depends(clean_inputs)]
    )
    app.state.dashboard = d = Dashboard(rt)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired) -> Response:
        if wants_json(request) or request.url.path.endswith(("/live", ".csv")):
            return refusal(401, "Log ind igen")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(
            f"{base_path(request)}/login?next={quote(target, safe='')}", status_code=303
        )

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> Response:
        if wants_json(request):
            return refusal(exc.status, exc.message)
        return d.render(request, "error.html", exc.status, message=exc.message, user=None)

    @app.exception_handler(BadField)
    async def _bad_field(request: Request, exc: BadField) -> Response:
        return await _refused(request, Refused(400, exc.message))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return await _refused(request, Refused(400, validation_message(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = {404: "Siden findes ikke", 405: "Den handling findes ikke her"}.get(
            exc.status_code, "Forespørgslen kunne ikke behandles"
        )
        if wants_json(request):
            return refusal(exc.status_code, message)
        return d.render(request, "error.html", exc.status_code, message=message, user=None)

    @app.get("/", include_in_schema=False)
    def root(request: Request) -> Response:
        return RedirectResponse(f"{base_path(request)}/today", status_code=303)

    app.include_router(signin.router)
    app.include_router(plan.router)  # before views: its /fragments/plan is specific
    app.include_router(views.router)
    app.include_router(actions.router)
    app.include_router(feeds.router)
    app.include_router(capacity.router)
    return app
