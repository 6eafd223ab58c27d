"""OpenID Connect sign-in (authorization code with PKCE) against a local provider, over real
HTTP between three parties: the browser (httpx), syncd and the provider."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from syncd.api.app import create_app
from syncd.store.tables import AuditRow
from tests.support.http import serving
from tests.support.jobcentre import at
from tests.web.conftest import page_csrf
from tests.web.helpers import book, open_tuesday
from tests.web.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, _key

ANNE = {
    "sub": "u-anne",
    "preferred_username": "anne@lilleby.dk",
    "name": "Anne Andersen",
    "roles": ["Lokaler.Koordinator"],
}


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider()
    with serving(p.app()) as base:
        p.issuer = base
        yield p


@pytest.fixture
def oidc_server(make_rt, provider, monkeypatch) -> Iterator[tuple[str, object]]:
    monkeypatch.setenv("SYNCD_TEST_OIDC_SECRET", CLIENT_SECRET)
    rt = make_rt(
        oidc={
            "issuer": provider.issuer,
            "client_id": CLIENT_ID,
            "client_secret_env": "SYNCD_TEST_OIDC_SECRET",
            "coordinator_values": ["Lokaler.Koordinator"],
            "viewer_values": ["Lokaler.Laeser"],
        }
    )
    with serving(create_app(rt)) as base:
        yield base, rt


def start(client: httpx.Client) -> str:
    """Press the sign-in button; returns the provider's authorize URL."""
    r = client.get("/dashboard/oidc/start")
    assert r.status_code == 303, r.text
    return r.headers["location"]


def through_provider(client: httpx.Client, authorize_url: str) -> str:
    """The provider signs the user in and sends the browser back: returns the callback URL."""
    r = client.get(authorize_url)
    assert r.status_code == 302, r.text
    return r.headers["location"]


def sign_in_via_oidc(client: httpx.Client) -> httpx.Response:
    return client.get(through_provider(client, start(client)))


def test_sign_in_with_pkce_and_role_from_claim(oidc_server, provider):
    base, rt = oidc_server
    provider.user = ANNE
    with httpx.Client(base_url=base) as browser:
        login = browser.get("/dashboard/login").text
        assert "Log ind med Microsoft Entra ID" in login
        authorize = start(browser)
        q = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
        assert authorize.startswith(provider.issuer + "/authorize?")
        assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
        assert q["redirect_uri"] == f"{base}/dashboard/oidc/callback"
        assert q["state"] and q["nonce"] and q["scope"] == "openid profile email"
        r = browser.get(through_provider(browser, authorize))
        assert r.status_code == 303 and r.headers["location"] == "/dashboard/today"
        # The verifier syncd sent matched the challenge (the provider checks it).
        (tok,) = provider.token_requests
        assert len(tok["code_verifier"]) >= 43 and tok["code_verifier"] != q["code_challenge"]
        page = browser.get("/dashboard/today")
        assert page.status_code == 200
        assert "Anne Andersen" in page.text and "Koordinator" in page.text
        open_tuesday(rt, "mette")
        talk = book(rt, "mette", at(0, 9))
        r = browser.post(
            "/dashboard/actions/pin",
            data={"booking_id": talk.id, "csrf": page_csrf(browser)},
            headers={"X-Requested-With": "fetch"},
        )
        assert r.status_code == 200, r.text
    with rt.db.read() as s:
        actors = {a.actor for a in s.query(AuditRow).filter(AuditRow.action == "room.pinned")}
    assert actors == {"oidc:anne@lilleby.dk"}


def test_viewer_role_from_claim_cannot_change(oidc_server, provider):
    base, _ = oidc_server
    provider.user = ANNE | {"roles": ["Lokaler.Laeser"], "name": "Bo Berg"}
    with httpx.Client(base_url=base) as browser:
        assert sign_in_via_oidc(browser).status_code == 303
        page = browser.get("/dashboard/today").text
        assert "Bo Berg" in page and "Læseadgang" in page
        r = browser.post(
            "/dashboard/actions/find-room",
            data={"booking_id": "x", "csrf": page_csrf(browser)},
            headers={"X-Requested-With": "fetch"},
        )
        assert r.status_code == 403


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p.user.update(roles=["Noget.Andet"]), "ingen rolle"),
        (lambda p: setattr(p, "wrong_nonce", True), "hører ikke til"),
        (lambda p: setattr(p, "wrong_audience", True), "ugyldigt"),
        (lambda p: setattr(p, "foreign_key", _key()), "ugyldigt"),
    ],
    ids=["no-role", "wrong-nonce", "wrong-audience", "forged-signature"],
)
def test_refused_id_tokens_open_nothing(oidc_server, provider, setup, message):
    base, _ = oidc_server
    provider.user = dict(ANNE)
    setup(provider)
    with httpx.Client(base_url=base) as browser:
        r = sign_in_via_oidc(browser)
        assert r.status_code == 403 and message in r.text
        assert "syncd_session" not in browser.cookies
        assert browser.get("/dashboard/today").status_code == 303


def test_state_and_pkce_bind_the_code_to_its_own_browser_flow(oidc_server, provider):
    base, _ = oidc_server
    provider.user = ANNE
    with httpx.Client(base_url=base) as browser:
        first = through_provider(browser, start(browser))  # code A, flow cookie A
        second_authorize = start(browser)  # flow cookie B replaces A
        # State B with code A: syncd sends verifier B, the provider checks it against
        # challenge A and refuses.
        code_a = parse_qs(urlsplit(first).query)["code"][0]
        state_b = parse_qs(urlsplit(second_authorize).query)["state"][0]
        r = browser.get("/dashboard/oidc/callback", params={"code": code_a, "state": state_b})
        assert r.status_code == 403 and "afviste" in r.text
        assert len(provider.token_requests) == 1
        # A callback whose state is not the current flow's is refused before any token request.
        start(browser)
        r = browser.get(first)
        assert r.status_code == 403 and "udløbet eller ugyldigt" in r.text
        assert len(provider.token_requests) == 1
        assert "syncd_session" not in browser.cookies
    with httpx.Client(base_url=base) as stranger:  # someone else's callback URL, no flow cookie
        r = stranger.get(through_provider(stranger, second_authorize))
        assert r.status_code == 403 and len(provider.token_requests) == 1


def test_provider_down_gives_a_clear_message(make_rt):
    rt = make_rt(
        oidc={"issuer": "http://127.0.0.1:9", "client_id": CLIENT_ID, "timeout_seconds": 2}
    )
    with serving(create_app(rt)) as base, httpx.Client(base_url=base) as browser:
        r = browser.get("/dashboard/oidc/start")
        assert r.status_code == 502 and "kan ikke nås" in r.text
