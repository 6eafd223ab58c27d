"""Dashboard sign-in state the server keeps: sessions ended by signing out, and failed
sign-ins per account and per address (throttling). Keys are stored as SHA-256 hashes: no
user name, address or session id in the table."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from syncd.store.db import Database
from syncd.store.tables import SessionEndRow, SignInFailureRow


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def end_session(db: Database, session_id: str, expires_at: datetime, now: datetime) -> None:
    with db.write() as s:
        s.execute(delete(SessionEndRow).where(SessionEndRow.expires_at < now))
        if s.get(SessionEndRow, _hash(session_id)) is None:
            s.add(SessionEndRow(session_hash=_hash(session_id), expires_at=expires_at))


def session_ended(db: Database, session_id: str) -> bool:
    with db.read() as s:
        return s.get(SessionEndRow, _hash(session_id)) is not None


@dataclass(frozen=True)
class Throttle:
    """``limit`` failures within ``window`` lock the key for ``lock``."""

    limit: int
    window: timedelta
    lock: timedelta

    def locked_until(self, db: Database, key: str, now: datetime) -> datetime | None:
        with db.read() as s:
            row = s.get(SignInFailureRow, _hash(key))
        if row is not None and row.locked_until is not None and row.locked_until > now:
            return row.locked_until
        return None

    def failed(self, db: Database, key: str, now: datetime) -> None:
        try:
            with db.write() as s:
                s.execute(
                    delete(SignInFailureRow).where(
                        SignInFailureRow.first_at < now - self.window - self.lock
                    )
                )
                row = s.get(SignInFailureRow, _hash(key))
                if row is None:
                    row = SignInFailureRow(key_hash=_hash(key), failures=0, first_at=now)
                    s.add(row)
                elif row.first_at < now - self.window and not (
                    row.locked_until and row.locked_until > now
                ):
                    row.failures, row.first_at, row.locked_until = 0, now, None
                row.failures += 1
                if row.failures >= self.limit:
                    row.locked_until = now + self.lock
        except IntegrityError:  # a concurrent first failure of the same key: count is close
            pass

    def succeeded(self, db: Database, key: str) -> None:
        with db.write() as s:
            s.execute(delete(SignInFailureRow).where(SignInFailureRow.key_hash == _hash(key)))


def locked(db: Database, throttles: list[tuple[Throttle, str]], now: datetime) -> datetime | None:
    """The latest lock among the keys, if any is locked."""
    found = [t.locked_until(db, k, now) for t, k in throttles]
    return max((f for f in found if f is not None), default=None)
