"""Who is signed in to the dashboard: local accounts with argon2 password hashes, signed session
cookies, CSRF tokens and the two roles (coordinator may change things, viewer may only look).

Sessions are a cookie holding the user, role, CSRF token and expiry, signed with HMAC-SHA256
by itsdangerous; signing out records the session as ended on the server (``store.signin``).
A local user's session also carries a fingerprint of her password hash, so changing the
password (or removing the user) in the configuration ends her sessions.
The booking API's keys play no part here: only this cookie opens the dashboard.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import itsdangerous
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from syncd.config import DashboardConfig, DashboardUser

COORDINATOR = "coordinator"
VIEWER = "viewer"
ROLE_NAMES = {COORDINATOR: "Koordinator", VIEWER: "Læseadgang"}

# OWASP's recommended argon2id settings (19 MiB, 2 passes, 1 lane): about 30 ms per check on a
# small server, so sign-ins stay quick while guessing stays expensive. Hashes made with other
# settings verify too: the settings travel inside each hash.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Checked when the user name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash for ``dashboard.users[].password_hash``."""
    if len(password) < 8:
        raise ValueError("a dashboard password must be at least 8 characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signed, expiring JSON tokens (itsdangerous' HMAC-SHA256 signer, with the purpose as its
    salt, so a token of one kind (login form, OIDC state, session) is never accepted as
    another). The expiry travels inside the signed body."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def key(self, purpose: str) -> bytes:
        """A key of its own for ``purpose`` (the feed URLs' tokens)."""
        return hmac.new(self._secret, f"syncd-dashboard:{purpose}".encode(), "sha256").digest()

    def _signer(self, purpose: str) -> itsdangerous.Signer:
        return itsdangerous.Signer(
            self._secret,
            salt=f"syncd-dashboard:{purpose}",
            key_derivation="hmac",
            digest_method=hashlib.sha256,
        )

    def sign(self, purpose: str, data: dict[str, Any], max_age: float) -> str:
        body = _b64(json.dumps({**data, "exp": int(time.time() + max_age)}).encode())
        return self._signer(purpose).sign(body).decode()

    def unsign(self, purpose: str, token: str | None) -> dict[str, Any] | None:
        if not token:
            return None
        try:
            body = self._signer(purpose).unsign(token)
            data = json.loads(_unb64(body.decode()))
        except (itsdangerous.BadSignature, ValueError, TypeError):
            return None
        if not isinstance(data, dict) or data.get("exp", 0) < time.time():
            return None
        return data


@dataclass(frozen=True)
class User:
    name: str
    display_name: str
    role: str
    source: str  # "local" or "oidc"
    csrf: str

    @property
    def can_change(self) -> bool:
        return self.role == COORDINATOR

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, self.role)

    @property
    def actor(self) -> str:
        """How the audit log names her."""
        return f"dashboard:{self.name}" if self.source == "local" else f"oidc:{self.name}"


class Accounts:
    """The local accounts of the configuration."""

    def __init__(self, users: tuple[DashboardUser, ...]) -> None:
        self._users = {u.name.casefold(): u for u in users}

    def __bool__(self) -> bool:
        return bool(self._users)

    def get(self, name: str) -> DashboardUser | None:
        return self._users.get(name.casefold())

    def authenticate(self, name: str, password: str) -> DashboardUser | None:
        user = self.get(name.strip())
        ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
        return user if ok and user is not None else None


class Sessions:
    """Issuing and reading the session cookie."""

    COOKIE = "syncd_session"

    def __init__(self, config: DashboardConfig, signer: Signer, accounts: Accounts) -> None:
        self.config = config
        self.signer = signer
        self.accounts = accounts
        self.max_age = config.session_hours * 3600

    def issue_local(self, user: DashboardUser) -> str:
        return self.signer.sign(
            "session",
            {"u": user.name, "s": "local", "h": fingerprint(user.password_hash),
             "c": secrets.token_urlsafe(24)},
            self.max_age,
        )  # fmt: skip

    def issue_oidc(self, name: str, display_name: str, role: str) -> str:
        return self.signer.sign(
            "session",
            {"u": name, "d": display_name, "r": role, "s": "oidc",
             "c": secrets.token_urlsafe(24)},
            self.max_age,
        )  # fmt: skip

    def read(self, token: str | None) -> User | None:
        data = self.signer.unsign("session", token)
        if data is None:
            return None
        if data.get("s") == "local":
            user = self.accounts.get(str(data.get("u", "")))
            if user is None or fingerprint(user.password_hash) != data.get("h"):
                return None
            return User(user.name, user.display_name or user.name, user.role, "local", data["c"])
        if data.get("s") == "oidc" and data.get("r") in ROLE_NAMES:
            return User(
                str(data["u"]), str(data.get("d") or data["u"]), data["r"], "oidc", data["c"]
            )
        return None


def same_token(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())
