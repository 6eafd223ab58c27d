"""The dashboard application: shared state, security (sessions, CSRF, roles, headers) and the
sign-in routes. The views, actions, live updates and feeds are in their own modules."""

from __future__ import annotations

import hmac
import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncd.logs import get_logger
from syncd.runtime import Runtime
from syncd.store.coordination import CoordinationService
from syncd.store.stats import Conversation
from syncd.web.auth import Accounts, Sessions, Signer, User, same_token
from syncd.web.format import MODES, Formats
from syncd.web.oidc import OIDCClient, OIDCError

log = get_logger("syncd.dashboard")
HERE = Path(__file__).resolve().parent
LOGIN_COOKIE = "syncd_login"
FLASH_COOKIE = "syncd_flash"
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


class LoginRequired(Exception):
    """No valid session: pages go to the sign-in page, scripts get a 401."""


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Dashboard:
    """What every route needs: the runtime, the signer, accounts, OIDC and templates."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.config = rt.config.dashboard
        secret = self.config.resolved_session_secret()
        if not secret:
            secret = secrets.token_urlsafe(32)
            log.warning(
                "dashboard.session_secret is not set: sessions and feed URLs last only as long "
                "as this process"
            )
        self.signer = Signer(secret.encode())
        feed_secret = self.config.resolved_feed_secret()
        self.feed_key = feed_secret.encode() if feed_secret else self.signer.key("feed")
        self.accounts = Accounts(self.config.users)
        self.sessions = Sessions(self.config, self.signer, self.accounts)
        self.oidc = OIDCClient(self.config.oidc, self.signer) if self.config.oidc else None
        self.formats = Formats(rt.zone)
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters.update(self.formats.filters())
        self.templates.globals["conversation_json"] = self.conversation_json

    def conversation_json(self, c: Conversation) -> str:
        """What the conversation dialog shows (no citizen identity: there is none to show)."""
        f = self.formats
        room = self.rt.index.rooms.get(c.room_id or "")
        return json.dumps(
            {
                "id": c.booking_id,
                "reference": c.reference,
                "caseworker": c.caseworker_name,
                "type": c.type_title,
                "mode": MODES.get(c.mode, c.mode),
                "time": f"{f.long_day(c.start)}, {f.hm(c.start)}–{f.hm(c.end)}",
                "room": c.room_id or "",
                "roomName": room.name if room else "Intet lokale",
                "pinned": c.pinned,
                "held": c.status == "held",
                "conflict": c.conflict or "",
                "inPerson": c.mode == "in_person",
            },
            ensure_ascii=False,
        )

    @property
    def hours(self) -> tuple[int, int]:
        return (self.config.day_start_hour, self.config.day_end_hour)

    def coordination(self) -> CoordinationService:
        return CoordinationService.for_runtime(self.rt)

    def feed_token(self, kind: str, ident: str) -> str:
        return hmac.new(self.feed_key, f"feed:{kind}:{ident}".encode(), "sha256").hexdigest()[:32]

    def secure_cookies(self, request: Request) -> bool:
        mode = self.config.cookie_secure
        return mode == "always" or (mode == "auto" and request.url.scheme == "https")

    def set_cookie(
        self, response: Response, request: Request, name: str, value: str, max_age: float
    ) -> None:
        response.set_cookie(
            name, value, max_age=int(max_age), path=base_path(request) or "/", httponly=True,
            samesite="lax", secure=self.secure_cookies(request),
        )  # fmt: skip

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            base=base_path(request), request=request, **context
        )
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def base_path(request: Request) -> str:
    """Where the dashboard is mounted (``/dashboard``)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def dashboard(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found


def current_user(request: Request) -> User | None:
    d = dashboard(request)
    return d.sessions.read(request.cookies.get(Sessions.COOKIE))


def signed_in(request: Request) -> User:
    user = current_user(request)
    if user is None:
        raise LoginRequired()
    return user


async def coordinator(request: Request) -> User:
    """Mutating requests: a session, the session's CSRF token, a same-origin request and the
    coordinator role. Anything else is refused before the operation runs."""
    user = current_user(request)
    if user is None:
        raise Refused(401, "Du er ikke logget ind")
    check_origin(request)
    token = request.headers.get("x-csrf-token")
    if token is None:
        form = await request.form()
        value = form.get("csrf")
        token = value if isinstance(value, str) else None
    if not same_token(token, user.csrf):
        raise Refused(403, "Ugyldig eller manglende CSRF-token. Genindlæs siden.")
    if not user.can_change:
        raise Refused(403, "Din rolle giver kun læseadgang")
    return user


def check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc != host:
            raise Refused(403, "Forespørgslen kom fra et andet websted")


def wants_json(request: Request) -> bool:
    return request.headers.get("x-requested-with") == "fetch"


def safe_next(request: Request, value: str | None) -> str:
    base = base_path(request)
    if value and value.startswith(base + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return f"{base}/today"


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
    from syncd.web import actions, feeds, views

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dashboard = d = Dashboard(rt)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired) -> Response:
        if wants_json(request) or request.url.path.endswith(("/live", ".csv")):
            return JSONResponse({"ok": False, "message": "Log ind igen"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(
            f"{base_path(request)}/login?next={quote(target, safe='')}", status_code=303
        )

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> Response:
        if wants_json(request):
            return JSONResponse({"ok": False, "message": exc.message}, status_code=exc.status)
        return d.render(request, "error.html", exc.status, message=exc.message, user=None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = {404: "Siden findes ikke", 405: "Den handling findes ikke her"}.get(
            exc.status_code, "Forespørgslen kunne ikke behandles"
        )
        if wants_json(request):
            return JSONResponse({"ok": False, "message": message}, status_code=exc.status_code)
        return d.render(request, "error.html", exc.status_code, message=message, user=None)

    @app.get("/", include_in_schema=False)
    def root(request: Request) -> Response:
        return RedirectResponse(f"{base_path(request)}/today", status_code=303)

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str | None = None) -> Response:
        return _login_form(request, d, next_url=safe_next(request, next))

    @app.post("/login")
    def login(
        request: Request,
        username: str = Form(""),
        password: str = Form(""),
        csrf: str = Form(""),
        next: str = Form(""),
    ) -> Response:
        check_origin(request)
        flow = d.signer.unsign("login", request.cookies.get(LOGIN_COOKIE))
        if flow is None or not same_token(csrf, flow["c"]):
            return _login_form(
                request, d, next_url=safe_next(request, next), status=403,
                error="Siden var udløbet. Prøv igen.",
            )  # fmt: skip
        user = d.accounts.authenticate(username, password)
        if user is None:
            # Only a known name is logged: whatever else was typed could be anything.
            known = d.accounts.get(username.strip())
            log.info("dashboard sign-in refused", user=known.name if known else "(ukendt)")
            return _login_form(
                request, d, next_url=safe_next(request, next), status=401,
                error="Forkert brugernavn eller adgangskode", username=username,
            )  # fmt: skip
        log.info("dashboard sign-in", user=user.name, role=user.role)
        response = RedirectResponse(safe_next(request, next), status_code=303)
        d.set_cookie(
            response, request, Sessions.COOKIE, d.sessions.issue_local(user), d.sessions.max_age
        )
        response.delete_cookie(LOGIN_COOKIE, path=base_path(request) or "/")
        return response

    @app.post("/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        user = current_user(request)
        check_origin(request)
        if user is not None and not same_token(csrf, user.csrf):
            raise Refused(403, "Ugyldig eller manglende CSRF-token. Genindlæs siden.")
        response = RedirectResponse(f"{base_path(request)}/login", status_code=303)
        response.delete_cookie(Sessions.COOKIE, path=base_path(request) or "/")
        return response

    @app.get("/oidc/start")
    def oidc_start(request: Request, next: str | None = None) -> Response:
        if d.oidc is None:
            raise Refused(404, "Log-ind med OpenID Connect er ikke sat op")
        redirect_uri = d.config.oidc.redirect_url or (  # type: ignore[union-attr]
            f"{request.url.scheme}://{request.url.netloc}{base_path(request)}/oidc/callback"
        )
        try:
            url, cookie = d.oidc.start(redirect_uri)
        except OIDCError as exc:
            return _login_form(request, d, next_url=safe_next(request, next), status=502,
                               error=str(exc))  # fmt: skip
        response = RedirectResponse(url, status_code=303)
        d.set_cookie(response, request, OIDCClient.COOKIE, cookie, 600)
        return response

    @app.get("/oidc/callback")
    def oidc_callback(
        request: Request,
        state: str | None = None,
        code: str | None = None,
        error: str | None = None,
    ) -> Response:
        if d.oidc is None:
            raise Refused(404, "Log-ind med OpenID Connect er ikke sat op")
        try:
            if error:
                raise OIDCError("Identitetsudbyderen afbrød log-ind")
            who = d.oidc.finish(request.cookies.get(OIDCClient.COOKIE), state, code)
        except OIDCError as exc:
            log.info("dashboard OIDC sign-in refused", reason=str(exc))
            refused = _login_form(request, d, next_url=safe_next(request, None), status=403,
                                  error=str(exc))  # fmt: skip
            refused.delete_cookie(OIDCClient.COOKIE, path=base_path(request) or "/")
            return refused
        log.info("dashboard sign-in", user=who.name, role=who.role, via="oidc")
        response = RedirectResponse(f"{base_path(request)}/today", status_code=303)
        d.set_cookie(response, request, Sessions.COOKIE,
                     d.sessions.issue_oidc(who.name, who.display_name, who.role),
                     d.sessions.max_age)  # fmt: skip
        response.delete_cookie(OIDCClient.COOKIE, path=base_path(request) or "/")
        return response

    app.include_router(views.router)
    app.include_router(actions.router)
    app.include_router(feeds.router)
    return app


def _login_form(
    request: Request,
    d: Dashboard,
    *,
    next_url: str,
    status: int = 200,
    error: str | None = None,
    username: str = "",
) -> HTMLResponse:
    csrf = secrets.token_urlsafe(24)
    response = d.render(
        request, "login.html", status, csrf=csrf, next_url=next_url, error=error,
        username=username, oidc=d.config.oidc, has_accounts=bool(d.accounts), user=None,
    )  # fmt: skip
    d.set_cookie(response, request, LOGIN_COOKIE, d.signer.sign("login", {"c": csrf}, 3600), 3600)
    return response


SignedIn = Depends(signed_in)
Coordinator = Depends(coordinator)
