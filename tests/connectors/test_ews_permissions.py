"""A mailbox the service account may not reach is reported clearly while the others work."""

from __future__ import annotations

from datetime import datetime

import pytest

from connectors.base import EventDraft, NotFound, PermissionDenied
from tests.sims.ews.harness import CPH, JONAS, LOCKED, METTE, READER, WINDOW, running

WHEN = datetime(2027, 3, 2, 9, 0, tzinfo=CPH)


def test_impersonation_denied_is_permission_denied_with_exchange_text() -> None:
    with running(mailboxes=[METTE, LOCKED, JONAS]) as (_sim, _backdoor, conn):
        results = {}
        for mailbox in (METTE, LOCKED, JONAS):
            try:
                results[mailbox] = conn.fetch_changes(mailbox, None, *WINDOW).full
            except PermissionDenied as exc:
                results[mailbox] = exc
        assert results[METTE] is True and results[JONAS] is True
        denied = results[LOCKED]
        assert isinstance(denied, PermissionDenied)
        assert denied.calendar_id == LOCKED
        assert "ErrorImpersonateUserDenied" in str(denied)
        assert "does not have permission to impersonate" in str(denied)


def test_probe_reports_each_mailbox() -> None:
    with running() as (sim, backdoor, conn):
        sim.store.add_mailbox("gone@lilleby.dk", exists=False)
        ok = conn.probe(METTE)
        assert (ok.reachable, ok.writable, ok.error) == (True, True, None)
        locked = conn.probe(LOCKED)
        assert (locked.reachable, locked.writable) == (False, False)
        assert "ErrorImpersonateUserDenied" in locked.error
        reader = conn.probe(READER)
        assert (reader.reachable, reader.writable) == (True, False)
        assert "ErrorAccessDenied" in reader.error
        gone = conn.probe("gone@lilleby.dk")
        assert (gone.reachable, gone.writable) == (False, False)
        assert "ErrorNonExistentMailbox" in gone.error
        assert backdoor.list_events(METTE) == []  # probing leaves nothing behind


def test_writing_to_a_read_only_mailbox_is_refused_and_reported() -> None:
    with running() as (_sim, _backdoor, conn):
        draft = EventDraft(
            external_id="bk-9", summary="Jobsamtale", start=WHEN, end=WHEN.replace(hour=10)
        )
        with pytest.raises(PermissionDenied) as caught:
            conn.upsert_event(READER, draft)
        assert "ErrorAccessDenied" in str(caught.value)
        assert conn.upsert_event(METTE, draft).created is True


def test_unknown_mailbox_is_not_found() -> None:
    with running() as (_sim, _backdoor, conn):
        with pytest.raises(NotFound) as caught:
            conn.fetch_changes("nobody@lilleby.dk", None, *WINDOW)
        assert "ErrorNonExistentMailbox" in str(caught.value)


def test_one_mailboxs_free_busy_error_leaves_the_others(caplog) -> None:
    with running() as (_sim, backdoor, conn):
        backdoor.put_foreign_event(METTE, "m", "Møde", WHEN.replace(hour=9), WHEN.replace(hour=10))
        with caplog.at_level("WARNING", logger="connectors.ews"):
            result = conn.free_busy([METTE, "nobody@lilleby.dk"], WHEN, WHEN.replace(hour=17))
        assert list(result) == [METTE] and len(result[METTE]) == 1
        [record] = [r for r in caplog.records if "nobody@lilleby.dk" in r.getMessage()]
        assert "ErrorMailRecipientNotFound" in record.getMessage()


def test_basic_auth_credentials_are_used_and_never_shown() -> None:
    from tests.sims.ews import EwsSimulator
    from tests.sims.ews.harness import connector, populate

    with EwsSimulator(auth="basic", users={"svc-selvbook": "s3cret-pw"}) as sim:
        populate(sim)
        good = connector(sim, auth="basic", username="svc-selvbook", password="s3cret-pw")
        assert good.fetch_changes(METTE, None, *WINDOW).full is True
        bad = connector(sim, auth="basic", username="svc-selvbook", password="wrong-pw")
        with pytest.raises(PermissionDenied) as caught:
            bad.fetch_changes(METTE, None, *WINDOW)
        assert "wrong-pw" not in str(caught.value) and "s3cret" not in repr(bad.config)
        good.close()
        bad.close()


def test_ntlm_is_how_the_service_account_logs_in() -> None:
    """On-premises Exchange speaks NTLM (Windows authentication on the EWS virtual directory):
    the handshake runs once per connection, then the connection stays authenticated."""
    from tests.sims.ews.harness import SERVICE_USER, running

    with running() as (sim, _backdoor, conn):
        for _ in range(3):
            conn.fetch_changes(METTE, None, *WINDOW)
        assert sim.auth.mode == "ntlm" and sim.auth.rejected == 0
        assert set(sim.auth.logins) == {f"ntlm:{SERVICE_USER}"}
        assert len(sim.auth.logins) <= conn.config.max_concurrency  # one per connection


def test_a_wrong_ntlm_password_is_a_clear_error_without_the_password() -> None:
    from tests.sims.ews.harness import SERVICE_USER, connector, populate, simulator

    with simulator() as sim:
        populate(sim)
        bad = connector(sim, auth="ntlm", username=SERVICE_USER, password="forkert-kode")
        try:
            with pytest.raises(PermissionDenied) as caught:
                bad.fetch_changes(METTE, None, *WINDOW)
        finally:
            bad.close()
        text = str(caught.value)
        assert "NTLM login of 'LILLEBY\\\\svc-syncd'" in text and "Extended Protection" in text
        assert "forkert" not in text and sim.auth.rejected >= 1


def test_an_ntlm_user_without_its_domain_is_refused_at_configuration() -> None:
    from connectors.ews_config import EWSConfig

    with pytest.raises(ValueError, match="needs its domain"):
        EWSConfig(
            endpoint="https://mail.lilleby.dk/EWS/Exchange.asmx", username="svc", password="x"
        )


def test_basic_is_accepted_beside_ntlm() -> None:
    from tests.sims.ews.harness import (
        SERVICE_PASSWORD,
        SERVICE_USER,
        connector,
        populate,
        simulator,
    )

    with simulator() as sim:
        populate(sim)
        conn = connector(sim, auth="basic", username=SERVICE_USER, password=SERVICE_PASSWORD)
        try:
            assert conn.fetch_changes(METTE, None, *WINDOW).full is True
        finally:
            conn.close()
        assert sim.auth.logins[0] == f"basic:{SERVICE_USER}"
