"""What ``syncd check`` says about push: whether the backend offers it and is set up for it,
whether the public notification endpoint answers Graph's validation handshake, and per
calendar the state of its subscription as the running daemon recorded it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.engine import make_url

from connectors.base import PushSource, WebhookSource
from syncd.config import Config
from syncd.engine.push import ENDPOINT_PATH
from syncd.store.tables import PushSubscriptionRow


def push_overview(config: Config, connector: object) -> tuple[list[str], bool]:
    """Lines about push for the whole backend, and whether calendars should have
    subscriptions."""
    push = config.push
    if not push.enabled:
        return [
            f"push: off (push.enabled = false); polling every {config.sync.poll_interval_seconds:g} s"
        ], False
    if isinstance(connector, PushSource):
        return [
            f"push: EWS streaming notifications, up to {push.ews_mailboxes_per_connection} "
            f"mailboxes per connection; safety poll every {push.safety_poll_seconds:g} s"
        ], True
    if not isinstance(connector, WebhookSource):
        every = config.sync.poll_interval_seconds
        return [f"push: not offered by {config.backend.kind}; polling every {every:g} s"], False
    if not push.public_url or not push.resolved_client_state():
        return ["push: NOT set up: Graph needs push.public_url and push.client_state"], False
    url = push.public_url + ENDPOINT_PATH
    token = "syncd-check-" + secrets.token_hex(8)
    try:
        reply = httpx.post(url, params={"validationToken": token}, timeout=10)
        ok = reply.status_code == 200 and reply.text == token
        state = (
            "answers the validation handshake"
            if ok
            else f"NOT answering it: HTTP {reply.status_code}"
        )
    except httpx.HTTPError as exc:
        state = f"NOT reachable from here: {exc.__class__.__name__}"
    return [f"push: Graph change notifications to {url}: {state}"], True


def push_states(config: Config) -> dict[str, str]:
    """Per calendar: its subscription as the running daemon last recorded it in the store
    (empty when the store cannot be read: ``syncd check`` works without one)."""
    from syncd.store.db import Database

    now = datetime.now(UTC)
    out: dict[str, str] = {}
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return out  # no store yet, and ``syncd check`` must not create one
    try:
        db = Database(config.database_url, pool_size=1)
    except Exception:
        return out
    try:
        with db.read() as s:
            rows = list(s.scalars(select(PushSubscriptionRow)))
    except Exception:  # no store yet, or an older schema: nothing recorded
        return out
    finally:
        db.dispose()
    for row in rows:
        if row.state == "active" and (row.expires_at is None or row.expires_at > now):
            until = f" until {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else ""
            out[row.calendar_id] = f"push active{until}"
        elif row.state == "active":
            out[row.calendar_id] = "push EXPIRED (renewed at the daemon's next check)"
        else:
            why = f": {row.last_error[:200]}" if row.last_error else ""
            out[row.calendar_id] = f"push {row.state.upper()}{why} (polled meanwhile)"
    return out
