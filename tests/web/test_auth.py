"""Signing in to the dashboard over real HTTP: local accounts, sessions, CSRF, roles, and the
booking API's keys, which must not open it."""

from __future__ import annotations

import re

import httpx
import pytest

from syncd.api.app import create_app
from syncd.config import ConfigError, parse_config
from syncd.web.auth import Signer, hash_password, verify_password
from tests.support import jobcentre
from tests.support.http import serving
from tests.web.conftest import PASSWORDS, SESSION_SECRET, login_csrf, page_csrf, sign_in
from tests.web.helpers import book, open_tuesday

ACTIONS = ["pin", "unpin", "move", "find-room", "block", "release-block", "retry"]


def test_hash_password_is_argon2_and_verifies():
    h = hash_password("en god adgangskode")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "en god adgangskode") and not verify_password(h, "forkert")
    with pytest.raises(ValueError):
        hash_password("kort")


def test_config_refuses_plain_passwords_and_duplicate_users():
    with pytest.raises(ConfigError, match="argon2"):
        parse_config({"dashboard": {"users": [{"name": "a", "password_hash": "hemmelig"}]}})
    h = hash_password("adgangskode-1")
    with pytest.raises(ConfigError, match="twice"):
        parse_config(
            {
                "dashboard": {
                    "users": [{"name": "a", "password_hash": h}, {"name": "A", "password_hash": h}]
                }
            }
        )


def test_sign_in_sets_a_protected_session_cookie(server):
    with httpx.Client(base_url=server) as client:
        r = client.get("/dashboard/today")
        assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/login")
        csrf = login_csrf(client)
        r = client.post(
            "/dashboard/login",
            data={
                "username": "anne",
                "password": PASSWORDS["anne"],
                "csrf": csrf,
                "next": "/dashboard/utilisation",
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/dashboard/utilisation"
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("syncd_session="))
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert "httponly" in flags and "samesite=lax" in flags and "path=/dashboard" in flags
        assert "secure" not in flags  # plain http here; "auto" adds Secure over https
        page = client.get("/dashboard/today")
        assert page.status_code == 200
        assert "Anne Koordinator" in page.text and "Koordinator" in page.text
        assert page.headers["x-frame-options"] == "DENY"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer"


def test_secure_cookie_when_configured(make_rt):
    rt = make_rt(cookie_secure="always")
    with serving(create_app(rt)) as base, httpx.Client(base_url=base) as client:
        page = client.get("/dashboard/login")
        login_cookie = page.headers["set-cookie"]
        assert "secure" in {p.strip().lower() for p in login_cookie.split(";")}
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        # httpx keeps Secure cookies from plain http, as it should: hand it over as a browser
        # behind TLS would.
        r = client.post(
            "/dashboard/login",
            data={"username": "bo", "password": PASSWORDS["bo"], "csrf": csrf},
            headers={"Cookie": login_cookie.split(";")[0]},
        )
        assert r.status_code == 303
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("syncd_session="))
        assert "secure" in {p.strip().lower() for p in cookie.split(";")}


def test_wrong_password_unknown_user_and_missing_login_csrf(server):
    with httpx.Client(base_url=server) as client:
        csrf = login_csrf(client)
        for name, password in (("anne", "forkert-kode"), ("ukendt", "hvad-som-helst")):
            r = client.post(
                "/dashboard/login", data={"username": name, "password": password, "csrf": csrf}
            )
            assert r.status_code == 401
            assert "Forkert brugernavn eller adgangskode" in r.text
            assert "syncd_session" not in r.headers.get("set-cookie", "")
            csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)  # a fresh form
        r = client.post(
            "/dashboard/login", data={"username": "anne", "password": PASSWORDS["anne"]}
        )
        assert r.status_code == 403 and "syncd_session" not in r.headers.get("set-cookie", "")
    with httpx.Client(base_url=server) as fresh:  # a token, but not the cookie it belongs to
        r = fresh.post(
            "/dashboard/login",
            data={"username": "anne", "password": PASSWORDS["anne"], "csrf": csrf},
        )
        assert r.status_code == 403


def test_open_redirects_are_refused(server):
    with httpx.Client(base_url=server) as client:
        for target in ("https://evil.example/", "//evil.example/x", "/api/v1/offers"):
            csrf = login_csrf(client)
            r = client.post(
                "/dashboard/login",
                data={
                    "username": "anne",
                    "password": PASSWORDS["anne"],
                    "csrf": csrf,
                    "next": target,
                },
            )
            assert r.headers["location"] == "/dashboard/today"


def test_booking_api_keys_do_not_open_the_dashboard(server):
    for headers in (
        {"X-API-Key": jobcentre.API_KEY},
        {"Authorization": f"Bearer {jobcentre.STAFF_KEY}"},
    ):
        with httpx.Client(base_url=server, headers=headers) as client:
            assert client.get("/api/v1/sites").status_code == 200  # the key itself is fine
            r = client.get("/dashboard/today")
            assert r.status_code == 303 and "/dashboard/login" in r.headers["location"]
            r = client.get("/dashboard/fragments/timeline", headers={"X-Requested-With": "fetch"})
            assert r.status_code == 401
            assert client.get("/dashboard/export/allocations.csv").status_code == 401
            assert client.get("/dashboard/live").status_code == 401
            for action in ACTIONS:
                r = client.post(f"/dashboard/actions/{action}", data={"booking_id": "x"})
                assert r.status_code == 401, action


def test_viewer_is_refused_every_change_even_with_a_valid_csrf_token(server, web_rt):
    open_tuesday(web_rt, "mette")
    booking = book(web_rt, "mette", jobcentre.at(0, 9))
    with sign_in(server, "bo") as viewer:
        page = viewer.get("/dashboard/today?day=2026-12-01")
        assert page.status_code == 200 and booking.reference in page.text
        assert "Læseadgang" in page.text
        assert "js-action" not in page.text and "data-action" not in page.text
        csrf = page_csrf(viewer)
        form = {
            "csrf": csrf,
            "booking_id": booking.id,
            "room_id": "L9",
            "start": "2026-12-01T08:00",
            "end": "2026-12-01T12:00",
            "reason": "forsøg",
            "block_id": "1",
            "outbox_id": "1",
        }
        for action in ACTIONS:
            r = viewer.post(
                f"/dashboard/actions/{action}", data=form, headers={"X-Requested-With": "fetch"}
            )
            assert r.status_code == 403, action
            assert r.json()["message"] == "Din rolle giver kun læseadgang"
    assert web_rt.bookings.get(booking.id).room_id == booking.room_id


def test_coordinator_needs_the_csrf_token_and_same_origin(server, web_rt):
    open_tuesday(web_rt, "mette")
    booking = book(web_rt, "mette", jobcentre.at(0, 9))
    fetch = {"X-Requested-With": "fetch"}
    with sign_in(server, "anne") as anne:
        r = anne.post("/dashboard/actions/pin", data={"booking_id": booking.id}, headers=fetch)
        assert r.status_code == 403 and "CSRF" in r.json()["message"]
        r = anne.post(
            "/dashboard/actions/pin", data={"booking_id": booking.id, "csrf": "gæt"}, headers=fetch
        )
        assert r.status_code == 403
        csrf = page_csrf(anne)
        r = anne.post(
            "/dashboard/actions/pin",
            data={"booking_id": booking.id, "csrf": csrf},
            headers=fetch | {"Origin": "https://evil.example"},
        )
        assert r.status_code == 403
        r = anne.post(
            "/dashboard/actions/pin",
            data={"booking_id": booking.id},
            headers=fetch | {"X-CSRF-Token": csrf},
        )
        assert r.status_code == 200, r.text
        assert r.json() == {
            "ok": True,
            "message": f"{booking.reference} er låst til Mødelokale {booking.room_id}.",
        }
        # A refused operation comes back as a Danish message with the store's status.
        r = anne.post(
            "/dashboard/actions/move",
            data={"booking_id": booking.id, "room_id": booking.room_id, "csrf": csrf},
            headers=fetch,
        )
        assert r.status_code == 422 and r.json()["message"].startswith("Samtalen er allerede i")
        # Without script the same form answers with a page.
        r = anne.post("/dashboard/actions/unpin", data={"booking_id": booking.id, "csrf": csrf})
        assert r.status_code == 200 and "ikke længere låst" in r.text


def test_tampered_or_foreign_cookies_are_ignored(server):
    with sign_in(server, "anne") as anne:
        token = anne.cookies.get("syncd_session")
    body, mac = token.split(".")
    forged_role = Signer(b"not-the-secret").sign(
        "session", {"u": "eve", "r": "coordinator", "s": "oidc", "c": "x"}, 3600
    )
    for value in (body + "." + mac[::-1], forged_role, "garbage"):
        with httpx.Client(base_url=server, cookies={"syncd_session": value}) as client:
            assert client.get("/dashboard/today").status_code == 303
    genuine = Signer(SESSION_SECRET.encode()).sign(
        "session", {"u": "eve", "r": "coordinator", "s": "oidc", "d": "Eve", "c": "x"}, 3600
    )
    with httpx.Client(base_url=server, cookies={"syncd_session": genuine}) as client:
        assert client.get("/dashboard/today").status_code == 200  # the secret is what counts


def test_changing_a_password_ends_her_sessions(make_rt, password_hashes):
    rt = make_rt()
    with serving(create_app(rt)) as base, sign_in(base, "anne") as anne:
        cookie = anne.cookies.get("syncd_session")
    users = [
        u.model_copy(update={"password_hash": hash_password("ny-adgangskode-1")})
        if u.name == "anne"
        else u
        for u in rt.config.dashboard.users
    ]
    dashboard = rt.config.dashboard.model_copy(update={"users": tuple(users)})
    rt.config = rt.config.model_copy(update={"dashboard": dashboard})
    with (
        serving(create_app(rt)) as base,
        httpx.Client(base_url=base, cookies={"syncd_session": cookie}) as old,
    ):
        assert old.get("/dashboard/today").status_code == 303


def test_logout_needs_csrf_and_clears_the_cookie(server):
    with sign_in(server, "anne") as anne:
        assert anne.post("/dashboard/logout", data={}).status_code == 403
        r = anne.post("/dashboard/logout", data={"csrf": page_csrf(anne)})
        assert r.status_code == 303
        assert (
            'syncd_session=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
        )


def test_dashboard_can_be_switched_off(make_rt):
    rt = make_rt(enabled=False)
    with serving(create_app(rt)) as base, httpx.Client(base_url=base) as client:
        assert client.get("/dashboard/login").status_code == 404
