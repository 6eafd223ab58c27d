"""What every dashboard route depends on: the shared state (``Dashboard``), the session and
role checks, and the refusals they raise. Routers import this module, never ``web.app``."""

from __future__ import annotations

import hmac
import json
import secrets
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from syncd.inputs import day_in_window
from syncd.logs import get_logger
from syncd.runtime import Runtime
from syncd.store.coordination import CoordinationService
from syncd.store.signin import session_ended
from syncd.store.stats import Conversation
from syncd.web.auth import Accounts, Sessions, Signer, User, same_token
from syncd.web.format import MODES, Formats
from syncd.web.oidc import OIDCClient

__all__ = [
    "Coordinator", "Dashboard", "LoginRequired", "Refused", "SignedIn", "User", "base_path",
    "check_origin", "coordinator", "current_user", "dashboard", "safe_next", "signed_in",
    "wants_json",
]  # fmt: skip

log = get_logger("syncd.dashboard")
HERE = Path(__file__).resolve().parent


class LoginRequired(Exception):
    """No valid session: pages go to the sign-in page, scripts get a 401."""


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_day(value: str, what: str = "dato", label: str = "Datoen") -> date:
    """A date from a query parameter (2026-12-01, or the ISO forms Python reads such as
    2026-W49), inside the 2000-2099 window every door keeps, so that no page steps a day, week
    or month past year 1 or 9999. The one place the dashboard reads a date: anything else is a
    400 naming what was wrong, never a 500."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Refused(400, f"Ugyldig {what}") from None
    if not day_in_window(day):
        raise Refused(400, f"{label} skal ligge mellem år 2000 og 2099")
    return day


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
                "start": c.start.isoformat(),  # with the room: where the page saw it
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
    user = d.sessions.read(request.cookies.get(Sessions.COOKIE))
    if user is not None and session_ended(d.rt.db, user.csrf):  # signed out on the server
        return None
    return user


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
        raise Refused(403, "Ugyldigt eller manglende CSRF-token. Genindlæs siden.")
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


SignedIn = Depends(signed_in)
Coordinator = Depends(coordinator)
