"""Sign-in and sign-out: the local account form and OpenID Connect (authorisation code with
PKCE). Sessions themselves are in ``web.auth``; the checks every route runs are in ``web.deps``."""

from __future__ import annotations

import secrets
from datetime import timedelta

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from syncd.logs import get_logger
from syncd.store import signin as signin_state
from syncd.web.auth import Sessions, same_token
from syncd.web.deps import (
    Dashboard,
    Refused,
    base_path,
    check_origin,
    current_user,
    dashboard,
    safe_next,
)  # fmt: skip
from syncd.web.oidc import OIDCClient, OIDCError

log = get_logger("syncd.dashboard")
LOGIN_COOKIE = "syncd_login"
router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    d = dashboard(request)
    return _login_form(request, d, next_url=safe_next(request, next))


@router.post("/login")
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    csrf: str = Form(""),
    next: str = Form(""),
) -> Response:
    d = dashboard(request)
    check_origin(request)
    flow = d.signer.unsign("login", request.cookies.get(LOGIN_COOKIE))
    if flow is None or not same_token(csrf, flow["c"]):
        return _login_form(
            request, d, next_url=safe_next(request, next), status=403,
            error="Siden var udløbet. Prøv igen.",
        )  # fmt: skip
    now = d.rt.clock()
    throttles = _throttles(d, request, username)
    until = signin_state.locked(d.rt.db, throttles, now)
    if until is not None:
        minutes = max(1, round((until - now).total_seconds() / 60))
        log.info("dashboard sign-in throttled")
        return _login_form(
            request, d, next_url=safe_next(request, next), status=429,
            error=f"For mange forkerte forsøg. Prøv igen om {minutes} minutter.",
            username=username,
        )  # fmt: skip
    user = d.accounts.authenticate(username, password)
    if user is None:
        for throttle, key in throttles:
            throttle.failed(d.rt.db, key, now)
        # Only a known name is logged: whatever else was typed could be anything.
        known = d.accounts.get(username.strip())
        log.info("dashboard sign-in refused", user=known.name if known else "(ukendt)")
        return _login_form(
            request, d, next_url=safe_next(request, next), status=401,
            error="Forkert brugernavn eller adgangskode", username=username,
        )  # fmt: skip
    throttles[0][0].succeeded(d.rt.db, throttles[0][1])
    log.info("dashboard sign-in", user=user.name, role=user.role)
    response = RedirectResponse(safe_next(request, next), status_code=303)
    d.set_cookie(
        response, request, Sessions.COOKIE, d.sessions.issue_local(user), d.sessions.max_age
    )
    response.delete_cookie(LOGIN_COOKIE, path=base_path(request) or "/")
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    user = current_user(request)
    check_origin(request)
    if user is not None and not same_token(csrf, user.csrf):
        raise Refused(403, "Ugyldigt eller manglende CSRF-token. Genindlæs siden.")
    if user is not None:  # the cookie stays signed until it expires: the server forgets it
        d = dashboard(request)
        now = d.rt.clock()
        signin_state.end_session(
            d.rt.db, user.csrf, now + timedelta(seconds=d.sessions.max_age), now
        )
    response = RedirectResponse(f"{base_path(request)}/login", status_code=303)
    response.delete_cookie(Sessions.COOKIE, path=base_path(request) or "/")
    return response


@router.get("/oidc/start")
def oidc_start(request: Request, next: str | None = None) -> Response:
    d = dashboard(request)
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


@router.get("/oidc/callback")
def oidc_callback(
    request: Request,
    state: str | None = None,
    code: str | None = None,
    error: str | None = None,
) -> Response:
    d = dashboard(request)
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


def _throttles(
    d: Dashboard, request: Request, username: str
) -> list[tuple[signin_state.Throttle, str]]:
    """The account's throttle first, then the address's."""
    cfg = d.config.signin_throttle
    window, lock = timedelta(minutes=cfg.window_minutes), timedelta(minutes=cfg.lock_minutes)
    address = request.client.host if request.client else "?"
    return [
        (signin_state.Throttle(cfg.per_account, window, lock),
         f"account:{username.strip().casefold()}"),
        (signin_state.Throttle(cfg.per_address, window, lock), f"address:{address}"),
    ]  # fmt: skip


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
