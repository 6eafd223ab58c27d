"""Configuration of the EWS connector: endpoint, authentication, mailboxes, limits.

Kept apart from the connector so ``syncd check`` and config loading can validate it without
touching the network. Secrets are excluded from ``repr`` so a config never ends up in a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

AuthMode = Literal["ntlm", "basic", "oauth", "none"]


@dataclass(frozen=True)
class RoomConfig:
    """A room mailbox named in configuration (GetRooms does not know capacities)."""

    email: str
    name: str | None = None
    capacity: int | None = None


@dataclass(frozen=True)
class EWSConfig:
    """Everything the EWS connector needs. ``endpoint`` is the fixed EWS URL (no autodiscover)."""

    endpoint: str
    auth: AuthMode = "ntlm"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # OAuth 2 client credentials through msal (Exchange Online / hybrid): certificate or secret.
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    certificate_key_pem: str | None = field(default=None, repr=False)
    # The certificate itself (PEM): msal then names it by its SHA-256 thumbprint (x5t#S256).
    certificate_pem: str | None = None
    certificate_thumbprint: str | None = None  # SHA-1 hex (deprecated by msal; legacy only)
    authority: str | None = None  # default https://login.microsoftonline.com/<tenant_id>
    oauth_scope: str = "https://outlook.office365.com/.default"
    oauth_verify: bool | str = True  # CA bundle path for a private token endpoint
    token_refresh_margin: float = 240.0  # seconds before expiry a token is replaced
    # One service account reaching every mailbox (ApplicationImpersonation / full_access_as_app).
    impersonation: bool = True
    mailboxes: tuple[str, ...] = ()  # caseworker mailboxes
    rooms: tuple[RoomConfig, ...] = ()
    discover_rooms: bool = True  # GetRoomLists + GetRooms in list_calendars
    timezone: str = "Europe/Copenhagen"  # zone for free/busy and items without a known zone
    territory: str = "DK"  # Windows -> IANA zone preference (see mappings.timezones)
    max_concurrency: int = 8  # requests in flight overall
    max_per_mailbox: int = 2  # requests in flight per mailbox
    max_inline_backoff: float = 5.0  # wait this long for a server back-off hint; beyond: Throttled
    max_busy_retries: int = 3
    version: str | None = None  # "Exchange2016" / "Exchange2019": skip the version probe
    timeout: float = 60.0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> EWSConfig:
        """Build from a plain mapping (TOML/env); unknown keys are an error, not silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown EWS config keys: {sorted(unknown)}")
        values = dict(data)
        values["mailboxes"] = tuple(m.lower() for m in values.get("mailboxes", ()))
        values["rooms"] = tuple(_room(r) for r in values.get("rooms", ()))
        return cls(**values)

    def __post_init__(self) -> None:
        if self.auth not in ("ntlm", "basic", "oauth", "none"):
            raise ValueError(f"unknown EWS auth mode {self.auth!r}")
        if self.auth in ("ntlm", "basic") and not (self.username and self.password):
            raise ValueError(f"EWS auth {self.auth!r} needs username and password")
        if self.auth == "ntlm" and not ("\\" in self.username or "@" in self.username):  # type: ignore[operator]
            raise ValueError(
                f"EWS NTLM username {self.username!r} needs its domain: DOMAIN\\user or "
                "user@domain.dk"
            )
        if self.auth == "oauth":
            if not (self.client_id and (self.tenant_id or self.authority)):
                raise ValueError("EWS oauth needs client_id and tenant_id (or authority)")
            has_cert = bool(
                self.certificate_key_pem and (self.certificate_pem or self.certificate_thumbprint)
            )
            if not (has_cert or self.client_secret):
                raise ValueError(
                    "EWS oauth needs a certificate (private key + certificate, or private key + "
                    "SHA-1 thumbprint) or a client secret"
                )
        if self.max_concurrency < 1 or self.max_per_mailbox < 1:
            raise ValueError("EWS concurrency limits must be at least 1")


def _room(value: Any) -> RoomConfig:
    if isinstance(value, RoomConfig):
        return value
    if isinstance(value, str):
        return RoomConfig(email=value.lower())
    return RoomConfig(
        email=str(value["email"]).lower(), name=value.get("name"), capacity=value.get("capacity")
    )
