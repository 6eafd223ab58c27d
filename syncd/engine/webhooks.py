"""Telling the front end: every event in the feed is POSTed to the configured webhook, signed
with HMAC-SHA256, retried with back-off until it is accepted. The feed itself stays readable at
``/api/v1/events`` for front ends that poll."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import timedelta

import httpx
from sqlalchemy import select

from syncd.config import read_secret
from syncd.logs import get_logger
from syncd.runtime import Runtime
from syncd.store.tables import EventFeedRow

log = get_logger("syncd.webhooks")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        api = rt.config.api
        self.url = api.webhook_url
        self.secret = read_secret(
            api.webhook_secret, api.webhook_secret_env, None, "api.webhook_secret"
        )
        self.http = httpx.Client(timeout=10) if self.url else None

    def deliver_due(self, limit: int = 100) -> int:
        if not self.url or self.http is None:
            return 0
        now = self.rt.clock()
        with self.rt.db.read() as s:
            due = list(
                s.scalars(
                    select(EventFeedRow)
                    .where(EventFeedRow.delivered_at.is_(None), EventFeedRow.next_attempt_at <= now)
                    .order_by(EventFeedRow.id)
                    .limit(limit)
                )
            )
        sent = 0
        for event in due:
            body = json.dumps(
                {"id": event.id, "type": event.type, "at": event.at.isoformat(),
                 "booking_id": event.booking_id, "payload": event.payload},
                ensure_ascii=False,
            ).encode()  # fmt: skip
            headers = {"Content-Type": "application/json", "X-Selvbook-Event": event.type}
            if self.secret:
                headers["X-Selvbook-Signature"] = signature(self.secret, body)
            error = None
            try:
                response = self.http.post(self.url, content=body, headers=headers)
                if response.status_code >= 300:
                    error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{exc.__class__.__name__}: {exc}"
            with self.rt.db.write() as s:
                row = s.get(EventFeedRow, event.id)
                if row is None:
                    continue
                row.attempts += 1
                if error is None:
                    row.delivered_at = self.rt.clock()
                    row.last_error = None
                    sent += 1
                else:
                    ceiling = min(3600, 5 * 2 ** min(row.attempts, 12))
                    row.next_attempt_at = self.rt.clock() + timedelta(
                        seconds=random.uniform(ceiling / 2, ceiling)
                    )
                    row.last_error = error[:500]
            if error:
                log.warning("webhook delivery failed", event_id=event.id, error=error)
                break  # keep order: try again later from this event
        return sent
