"""Idempotency keys (draft-ietf-httpapi-idempotency-key-header): the first answer to a POST
is kept with its key, so a client that lost the answer may send the same request again and
get that answer instead of a second hold. The same key with a different request is refused;
a key whose first request is still running is refused for now (the client retries later).

Rows are per API client and expire (``api.idempotency_hours``); a first request that died
without an answer gives its key up after ``ABANDONED``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from syncd.store.db import Database
from syncd.store.tables import IdempotencyRow

ABANDONED = timedelta(minutes=2)


@dataclass(frozen=True)
class Stored:
    status: int
    body: str


class KeyReused(Exception):
    """The key came with a different request (method, path or body)."""


class InFlight(Exception):
    """The key's first request has not answered yet."""


def claim(
    db: Database, client: str, key: str, request_hash: str, now: datetime, ttl: timedelta
) -> Stored | None:
    """Claim the key for this request (None: go ahead and act) or return the first answer."""
    for _ in range(3):
        try:
            with db.write() as s:
                row = s.get(IdempotencyRow, (client, key))
                if row is not None:
                    stale = row.expires_at <= now or (
                        row.status is None and row.created_at <= now - ABANDONED
                    )
                    if not stale:
                        if row.request_hash != request_hash:
                            raise KeyReused()
                        if row.status is None or row.response is None:
                            raise InFlight()
                        return Stored(row.status, row.response)
                    s.delete(row)
                    s.flush()
                s.add(
                    IdempotencyRow(
                        client=client, key=key, request_hash=request_hash, status=None,
                        response=None, created_at=now, expires_at=now + ttl,
                    )
                )  # fmt: skip
            return None
        except IntegrityError:  # another request with the key claimed it first: look again
            continue
    raise InFlight()


def record(db: Database, client: str, key: str, status: int, body: str) -> None:
    with db.write() as s:
        s.execute(
            update(IdempotencyRow)
            .where(IdempotencyRow.client == client, IdempotencyRow.key == key)
            .values(status=status, response=body)
        )


def forget(db: Database, client: str, key: str) -> None:
    """The first request failed on our side: the client may try again with the same key."""
    with db.write() as s:
        s.execute(
            delete(IdempotencyRow).where(IdempotencyRow.client == client, IdempotencyRow.key == key)
        )


def purge_expired(db: Database, now: datetime) -> int:
    with db.write() as s:
        return s.execute(delete(IdempotencyRow).where(IdempotencyRow.expires_at <= now)).rowcount
