"""API keys: compared by hash, in constant time; a missing or wrong key is a 401."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import HTTPException, Request

from syncd.config import hash_api_key


@dataclass(frozen=True)
class Client:
    name: str
    scopes: frozenset[str]
    books_as: str = "citizen"  # who books through this key unless a hold says otherwise

    @property
    def staff(self) -> bool:
        return "staff" in self.scopes

    @property
    def books(self) -> bool:
        """May use the booking API at all: the ``booking`` scope, or ``staff`` (which acts on
        any booking, so it implies booking)."""
        return bool({"booking", "staff"} & self.scopes)

    @property
    def owner(self) -> str | None:
        """Whose bookings the key acts on: its own; None (anyone's) for a staff key."""
        return None if self.staff else self.name


class ApiKeys:
    def __init__(self, hashed: dict[str, Client]) -> None:
        self._hashed = hashed

    def authenticate(self, request: Request) -> Client:
        key = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        if not key:
            raise HTTPException(401, "missing API key (X-API-Key or Authorization: Bearer)")
        digest = hash_api_key(key)
        for known, client in self._hashed.items():
            if hmac.compare_digest(known, digest):
                return client
        raise HTTPException(401, "unknown API key")
