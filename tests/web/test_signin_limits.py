"""Sign-in as an attacker would try it: a cookie replayed after logout, and guessing
passwords. Logout ends the session on the server; too many failures lock the account (and,
with a higher limit, the address) for a while, even for the right password."""

from __future__ import annotations

import httpx

from syncd.api.app import create_app
from syncd.config import parse_config
from syncd.daemon import proxy_options
from tests.support.http import serving
from tests.web.conftest import PASSWORDS, login_csrf, page_csrf, sign_in


def attempt(
    base: str, name: str, password: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    with httpx.Client(base_url=base, headers=headers) as client:
        return client.post(
            "/dashboard/login",
            data={"username": name, "password": password, "csrf": login_csrf(client)},
        )


def test_a_cookie_replayed_after_logout_no_longer_opens_the_dashboard(server):
    with sign_in(server, "anne") as anne:
        cookie = anne.cookies["syncd_session"]
        assert anne.get("/dashboard/today").status_code == 200
        assert anne.post("/dashboard/logout", data={"csrf": page_csrf(anne)}).status_code == 303
    with httpx.Client(base_url=server, cookies={"syncd_session": cookie}) as replay:
        r = replay.get("/dashboard/today")
        assert r.status_code == 303 and "/dashboard/login" in r.headers["location"]
        r = replay.get("/dashboard/today", headers={"X-Requested-With": "fetch"})
        assert r.status_code == 401
    with sign_in(server, "anne") as again:  # a new session works as before
        assert again.get("/dashboard/today").status_code == 200


def test_wrong_passwords_lock_the_account_even_for_the_right_one(server, clock):
    for _ in range(5):
        assert attempt(server, "anne", "forkert-gaet").status_code == 401
    r = attempt(server, "anne", PASSWORDS["anne"])
    assert r.status_code == 429 and "For mange forkerte forsøg" in r.text
    assert attempt(server, "bo", PASSWORDS["bo"]).status_code == 303  # others are not locked
    clock.advance(minutes=16)
    assert attempt(server, "anne", PASSWORDS["anne"]).status_code == 303


def test_one_address_guessing_many_accounts_is_locked(server):
    for i in range(20):
        assert attempt(server, f"gaet{i}", "forkert-gaet").status_code == 401
    assert attempt(server, "bo", PASSWORDS["bo"]).status_code == 429


def test_a_right_password_resets_the_account_count(server):
    for _ in range(4):
        attempt(server, "anne", "forkert-gaet")
    assert attempt(server, "anne", PASSWORDS["anne"]).status_code == 303
    for _ in range(4):
        attempt(server, "anne", "forkert-gaet")
    assert attempt(server, "anne", PASSWORDS["anne"]).status_code == 303


def test_x_forwarded_for_does_not_choose_the_address_unless_a_proxy_is_trusted(web_rt):
    """Served as ``syncd run`` serves (no api.trusted_proxies): a guesser who sends another
    X-Forwarded-For with every try is still one address and is locked."""
    assert proxy_options(web_rt.config) == {"proxy_headers": False}
    with serving(create_app(web_rt), **proxy_options(web_rt.config)) as base:
        for i in range(20):
            xff = {"X-Forwarded-For": f"203.0.113.{i}"}
            assert attempt(base, f"gaet{i}", "forkert-gaet", xff).status_code == 401
        r = attempt(base, "bo", PASSWORDS["bo"], {"X-Forwarded-For": "198.51.100.7"})
        assert r.status_code == 429


def test_a_trusted_proxy_is_configured_explicitly():
    config = parse_config({"api": {"trusted_proxies": ["10.0.0.5", "10.1.0.0/16"]}})
    assert proxy_options(config) == {
        "proxy_headers": True,
        "forwarded_allow_ips": "10.0.0.5,10.1.0.0/16",
    }
