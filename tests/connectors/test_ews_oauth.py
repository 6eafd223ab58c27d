"""OAuth 2 client credentials with a certificate through msal's real HTTP path, into exchangelib.

The simulator's token endpoint (HTTPS with a throwaway certificate) verifies msal's signed client
assertion; the EWS endpoint then accepts only its unexpired bearer tokens.
"""

from __future__ import annotations

import time

import pytest

from connectors.base import ConnectorError
from tests.sims.ews import EwsSimulator
from tests.sims.ews.harness import METTE, WINDOW, connector, populate
from tests.sims.ews.tokens import App, make_certificate

CLIENT_ID = "7c1f4c2e-0000-4000-8000-5e1b00c0ffee"


@pytest.fixture(autouse=True)
def _plain_http_ews(monkeypatch: pytest.MonkeyPatch) -> None:
    """oauthlib refuses bearer tokens over http (right for production); the EWS simulator is
    plain http on loopback, so allow it here through oauthlib's documented switch."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def oauth_connector(sim: EwsSimulator, tokens, cert, **options):
    return connector(
        sim,
        auth="oauth",
        client_id=CLIENT_ID,
        tenant_id=tokens.tenant,
        authority=tokens.authority,
        certificate_key_pem=cert.key_pem,
        certificate_thumbprint=cert.thumbprint,
        oauth_verify=tokens.ca_file,
        **options,
    )


def test_certificate_flow_gets_a_token_and_exchange_accepts_it() -> None:
    with EwsSimulator() as sim:
        populate(sim)
        tokens = sim.enable_token_endpoint()
        cert = make_certificate("selvbook-syncd")
        tokens.register(App(CLIENT_ID, certificate=cert))
        conn = oauth_connector(sim, tokens, cert)
        try:
            assert conn.fetch_changes(METTE, None, *WINDOW).full is True
            conn.fetch_changes(METTE, None, *WINDOW)
            assert len(tokens.log.issued) == 1  # reused while valid
            assert sim.auth.rejected == 0
            assert tokens.log.refused == []
            assert tokens.token_url.startswith("https://")
            assert cert.key_pem not in repr(conn.config) and "PRIVATE" not in repr(conn.credentials)
        finally:
            conn.close()


def test_token_is_replaced_before_it_expires() -> None:
    with EwsSimulator() as sim:
        populate(sim)
        tokens = sim.enable_token_endpoint(lifetime=2)
        cert = make_certificate("selvbook-syncd")
        tokens.register(App(CLIENT_ID, certificate=cert))
        conn = oauth_connector(sim, tokens, cert)
        try:
            deadline = time.monotonic() + 10
            while len(tokens.log.issued) < 2:
                assert time.monotonic() < deadline, "no refresh within 10 s"
                conn.fetch_changes(METTE, None, *WINDOW)
            # every EWS request carried a token that was still valid
            assert sim.auth.rejected == 0
            first, second = tokens.log.issued[:2]
            assert second[0] < first[0] + 2  # fetched before the first one expired
        finally:
            conn.close()


def test_wrong_certificate_is_reported_without_secrets() -> None:
    with EwsSimulator() as sim:
        populate(sim)
        tokens = sim.enable_token_endpoint()
        tokens.register(App(CLIENT_ID, certificate=make_certificate("registered")))
        stranger = make_certificate("stranger")
        conn = oauth_connector(sim, tokens, stranger)
        try:
            with pytest.raises(ConnectorError) as caught:
                conn.fetch_changes(METTE, None, *WINDOW)
            assert "AADSTS700027" in str(caught.value)
            assert stranger.key_pem[40:80] not in str(caught.value)
            assert sim.requests() == []  # nothing reached Exchange without a token
        finally:
            conn.close()


def test_client_secret_flow_also_works() -> None:
    with EwsSimulator() as sim:
        populate(sim)
        tokens = sim.enable_token_endpoint()
        tokens.register(App(CLIENT_ID, secret="hemmelig-værdi"))
        conn = connector(
            sim,
            auth="oauth",
            client_id=CLIENT_ID,
            tenant_id=tokens.tenant,
            authority=tokens.authority,
            client_secret="hemmelig-værdi",
            oauth_verify=tokens.ca_file,
        )
        try:
            assert conn.fetch_changes(METTE, None, *WINDOW).full is True
            assert "hemmelig" not in repr(conn.config)
        finally:
            conn.close()


def test_the_certificate_itself_signs_in_with_sha256() -> None:
    """certificate_pem instead of a SHA-1 thumbprint: msal names it by x5t#S256 (PS256)."""
    with EwsSimulator() as sim:
        populate(sim)
        tokens = sim.enable_token_endpoint()
        cert = make_certificate("selvbook-syncd")
        tokens.register(App(CLIENT_ID, certificate=cert))
        conn = connector(
            sim,
            auth="oauth",
            client_id=CLIENT_ID,
            tenant_id=tokens.tenant,
            authority=tokens.authority,
            certificate_key_pem=cert.key_pem,
            certificate_pem=cert.cert_pem,
            oauth_verify=tokens.ca_file,
        )
        try:
            assert conn.fetch_changes(METTE, None, *WINDOW).full is True
        finally:
            conn.close()
        [header] = tokens.log.assertion_headers
        assert header["alg"] == "PS256" and "x5t#S256" in header
