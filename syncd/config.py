"""Configuration: one TOML file, validated, with errors that name the key and the problem.

Secrets never sit in the file in clear text if the admin does not want them to: any secret can be
given as ``<name>_env`` (an environment variable) or ``<name>_file`` (a file, e.g. a Kubernetes
Secret). API keys are stored as hashes (``sha256:<hex>``); ``syncd hash-key`` makes one.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from syncd.domain.model import (
    Caseworker,
    ConversationType,
    Directory,
    Mode,
    Room,
    Site,
)

ENV_CONFIG = "SYNCD_CONFIG"


class ConfigError(Exception):
    """The configuration is unusable; the message names the file, the key and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def read_secret(value: str | None, env: str | None, file: str | None, what: str) -> str | None:
    """A secret from the file itself, an environment variable or a file; never logged."""
    if env:
        if env not in os.environ:
            raise ConfigError(f"{what}: environment variable {env} is not set")
        return os.environ[env]
    if file:
        try:
            return Path(file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read secret file {file}: {exc.strerror}") from None
    return value


def hash_api_key(key: str) -> str:
    """API keys are long random strings, so one SHA-256 is the right hash: fast to check on
    every request, and useless to whoever reads the configuration."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class ApiKey(_Strict):
    name: str
    hash: str | None = None
    key_env: str | None = None
    key_file: str | None = None
    # booking: offers, holds, own bookings; staff: anyone's bookings, restrictions, status;
    # ops: /metrics, /docs and /openapi.json when ``ops.access = "key"``.
    scopes: tuple[Literal["booking", "staff", "ops"], ...] = ("booking",)
    # Who books through this key when a hold does not say (``booked_by``): Jobnet's citizens
    # ("citizen"), or staff booking on a citizen's behalf ("staff"). Scopes say what a key may
    # do; this says who is booking, which is what the self-booking figures count.
    books_as: Literal["citizen", "staff"] = "citizen"

    @model_validator(mode="after")
    def _one_source(self) -> ApiKey:
        if not (self.hash or self.key_env or self.key_file):
            raise ValueError("give one of hash, key_env or key_file")
        if self.hash and not self.hash.startswith("sha256:"):
            raise ValueError("hash must look like 'sha256:<hex>' (make one with `syncd hash-key`)")
        return self

    def resolved_hash(self) -> str:
        if self.hash:
            return self.hash
        key = read_secret(None, self.key_env, self.key_file, f"api.keys[{self.name}]")
        assert key is not None
        return hash_api_key(key)


class ApiConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    keys: tuple[ApiKey, ...] = ()
    hold_ttl_seconds: int = Field(600, ge=10, le=3600)
    # HTTP worker processes for the booking API (one per core pays on PostgreSQL).
    workers: int = Field(1, ge=1, le=64)
    # Requests each worker process handles at once (threads). The store's connection pool is
    # sized to match, so no request opens a connection of its own. More threads than this only
    # queue for the interpreter lock: at 200 bookings/s on 2 cores, 16 threads per worker gave
    # a p99 of about 100 ms where 8 gave 10-35 ms (bench/booking.py).
    threads: int = Field(8, ge=1, le=256)
    # How long the first answer to a POST with an Idempotency-Key is kept for retries.
    idempotency_hours: float = Field(24, gt=0, le=24 * 30)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_secret_env: str | None = None
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IP addresses or
    # networks, "*" for any). Empty: none, the socket's peer is the client (the sign-in
    # throttle counts per address, so a header anyone can send must not choose the address).
    trusted_proxies: tuple[str, ...] = ()

    @field_validator("keys")
    @classmethod
    def _distinct_names(cls, keys: tuple[ApiKey, ...]) -> tuple[ApiKey, ...]:
        """A booking belongs to the key's name: two keys of one name would share bookings."""
        seen: set[str] = set()
        for key in keys:
            if key.name in seen:
                raise ValueError(f"two keys are named {key.name!r}; give each key its own name")
            seen.add(key.name)
        return keys


def _time_zone(name: str) -> str:
    """An IANA time zone the machine knows (Europe/Copenhagen), checked when the file is read
    rather than when the first week is published."""
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone {name!r} (use e.g. Europe/Copenhagen)") from None
    return name


def _calendar_template(template: str | None) -> str | None:
    """A calendar template may use {id} and {email}, nothing else."""
    import string

    if template is None:
        return None
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc}); use {{id}} and {{email}}") from None
    unknown = sorted(f or "{}" for f in fields - {"id", "email"})
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; use {{id}} and {{email}}")
    return template


DATABASE_SCHEMES = ("sqlite", "postgresql")


def _database_url(url: str) -> str:
    scheme = url.partition("://")[0].partition("+")[0] if "://" in url else ""
    if not url.strip():
        raise ValueError("empty; use sqlite:///path/to/syncd.db or postgresql://user@host/db")
    if scheme not in DATABASE_SCHEMES:
        raise ValueError(
            f"unsupported scheme {scheme or url!r}; use sqlite:///path/to/syncd.db or "
            "postgresql://user@host/db"
        )
    if scheme == "sqlite" and not url.startswith("sqlite:///"):
        raise ValueError("a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path")
    return url


class SiteConfig(_Strict):
    id: str
    name: str
    timezone: str = "Europe/Copenhagen"

    _zone = field_validator("timezone")(classmethod(lambda cls, v: _time_zone(v)))


class RoomConfig(_Strict):
    id: str
    site: str
    name: str | None = None
    capacity: int = Field(ge=1)
    features: tuple[str, ...] = ()
    calendar: str | None = None
    email: str | None = None
    floor: str | None = None
    # Exchange: the room's BookingWindowInDays (Set-CalendarProcessing; Exchange's default is
    # 180). Lets syncd say why the room declined a conversation booked further ahead.
    booking_window_days: int | None = Field(None, ge=0, le=1080)
    backend: str | None = None  # a name from [backends]; default: [backend]


class CaseworkerConfig(_Strict):
    id: str
    name: str
    site: str
    team: str | None = None
    email: str | None = None
    calendar: str | None = None
    conversation_types: tuple[str, ...] = ()
    other_sites: tuple[str, ...] = ()
    weekly_cap: int | None = Field(None, ge=0)
    backend: str | None = None  # a name from [backends]; default: [backend]


class ConversationTypeConfig(_Strict):
    code: str
    title: str
    minutes: int = Field(ge=5, le=480)
    buffer_before_minutes: int = Field(0, ge=0, le=120)
    buffer_after_minutes: int = Field(0, ge=0, le=120)
    modes: tuple[Mode, ...] = (Mode.IN_PERSON, Mode.PHONE, Mode.VIDEO)
    min_room_capacity: int = Field(2, ge=1)
    required_features: tuple[str, ...] = ()
    min_notice_hours: float = Field(24, ge=0)
    horizon_days: int = Field(42, ge=1, le=366)


class PublishingConfig(_Strict):
    horizon_days: int = Field(42, ge=1, le=366)
    strakstid_share: float = Field(0.0, ge=0, lt=1)
    closing_days: tuple[str, ...] = ()
    default_weekly_cap: int | None = Field(None, ge=0)

    @field_validator("closing_days")
    @classmethod
    def _iso_dates(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from datetime import date

        for day in value:
            try:
                date.fromisoformat(day)
            except ValueError:
                raise ValueError(f"{day!r} is not an ISO date (YYYY-MM-DD)") from None
        return value


class CalDAVBackend(_Strict):
    kind: Literal["caldav"]
    url: str
    username: str | None = None
    password: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    homes: dict[str, Literal["caseworker", "room"]] = {}
    max_connections: int = Field(8, ge=1, le=64)


class _PassThroughBackend(BaseModel):
    """A backend whose settings the connector itself validates (unknown keys are errors there,
    reported as ``backend.<key>``). Any setting may come from the environment as ``<key>_env``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    def settings(self) -> dict[str, Any]:
        data = {k: v for k, v in self.model_dump().items() if k != "kind"}
        for key in [k for k in data if k.endswith("_env")]:
            env = data.pop(key)
            data[key.removesuffix("_env")] = read_secret(None, env, None, f"backend.{key}")
        return data


class EWSBackend(_PassThroughBackend):
    """Exchange Server over EWS: endpoint, auth (ntlm|basic|oauth|none), username/password,
    OAuth tenant_id/client_id with certificate_key_pem + certificate_thumbprint, impersonation,
    mailboxes, rooms, ... (see connectors/ews_config.py and docs/admin-guide.md)."""

    kind: Literal["ews"]
    endpoint: str


class GraphBackend(_PassThroughBackend):
    """Exchange Online over Microsoft Graph: tenant_id, client_id, private_key_file +
    thumbprint (or client_secret_file), room_lists, ... (see connectors/graph.py)."""

    kind: Literal["graph"]
    tenant_id: str
    client_id: str


DEFAULT_BACKEND = "default"  # the name [backend] goes by among [backends]


class NoBackend(_Strict):
    kind: Literal["none"] = "none"


Backend = Annotated[
    CalDAVBackend | EWSBackend | GraphBackend | NoBackend, Field(discriminator="kind")
]


class SyncConfig(_Strict):
    poll_interval_seconds: float = Field(30, gt=0)
    workers: int = Field(8, ge=1, le=128)
    max_backoff_seconds: float = Field(3600, gt=0)
    outbox_workers: int = Field(4, ge=1, le=64)
    rules_file: str | None = None
    territory: str = "DK"
    # Where a caseworker's or room's calendar is when the directory does not say: a template
    # with {id} and {email}, e.g. "http://dav.example/caseworkers/{id}/" or "{email}".
    caseworker_calendar: str | None = None
    room_calendar: str | None = None

    _templates = field_validator("caseworker_calendar", "room_calendar")(
        classmethod(lambda cls, v: _calendar_template(v))
    )
    # Several replicas on PostgreSQL divide the calendars by leases of this length; a replica
    # that dies loses its calendars to the others after at most this long.
    lease_seconds: float = Field(60, ge=2, le=3600)


class PushConfig(_Strict):
    """Push notifications from the calendar server (Graph change notifications, EWS streaming).

    A notification is only a hint to sync that calendar now; polling stays the safety net, every
    ``safety_poll_seconds`` for a calendar whose subscription is healthy and every
    ``sync.poll_interval_seconds`` for one whose subscription is broken or missing.
    Graph needs ``public_url``: the HTTPS address (through the reverse proxy) where Microsoft
    Graph reaches ``/push/graph`` on this daemon, and ``client_state``, a shared secret every
    replica knows (never logged)."""

    enabled: bool = True
    public_url: str | None = None
    client_state: str | None = None
    client_state_env: str | None = None
    client_state_file: str | None = None
    safety_poll_seconds: float = Field(900, gt=0)
    # Graph: Outlook event subscriptions live at most 10,080 minutes (under seven days).
    subscription_minutes: int = Field(10_070, ge=5, le=10_079)
    renew_before_minutes: int = Field(1_440, ge=1)
    check_seconds: float = Field(30, gt=0)  # how often subscriptions are checked and renewed
    # Graph: how often the app's subscriptions are listed (GET /subscriptions, one request per
    # page) to find ones Graph deleted without a lifecycle notification, and leftovers.
    verify_seconds: float = Field(300, gt=0)
    # EWS: the longest a GetStreamingEvents connection stays open (1-30 minutes), and how many
    # mailboxes share one connection (Exchange allows 200 subscriptions per connection).
    ews_connection_minutes: int = Field(29, ge=1, le=30)
    ews_mailboxes_per_connection: int = Field(200, ge=1, le=200)

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("public_url must be an https:// address")
        return value.rstrip("/") if value else value

    def resolved_client_state(self) -> str | None:
        return read_secret(
            self.client_state, self.client_state_env, self.client_state_file, "push.client_state"
        )


class DashboardUser(_Strict):
    """A local dashboard account. ``password_hash`` is an argon2 hash (make one with
    ``python -c "from syncd.web.auth import hash_password; print(hash_password('...'))"``)."""

    name: str = Field(min_length=1, max_length=200)
    display_name: str | None = None
    password_hash: str
    role: Literal["coordinator", "viewer"] = "viewer"

    @field_validator("password_hash")
    @classmethod
    def _argon2(cls, value: str) -> str:
        if not value.startswith("$argon2"):
            raise ValueError("password_hash must be an argon2 hash ('$argon2id$...')")
        return value


class OIDCConfig(_Strict):
    """OpenID Connect sign-in (e.g. Microsoft Entra ID): authorization code flow with PKCE.

    ``issuer`` is e.g. ``https://login.microsoftonline.com/<tenant>/v2.0``; its discovery
    document is read from ``<issuer>/.well-known/openid-configuration``. The role comes from the
    ``role_claim`` of the ID token (Entra app roles: ``roles``)."""

    issuer: str
    client_id: str
    client_secret: str | None = None
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    role_claim: str = "roles"
    coordinator_values: tuple[str, ...] = ()
    viewer_values: tuple[str, ...] = ()
    default_role: Literal["coordinator", "viewer"] | None = None  # None: no matching role, no entry
    name_claim: str = "name"
    username_claim: str = "preferred_username"
    redirect_url: str | None = None  # default: <this server>/dashboard/oidc/callback
    button_text: str = "Log ind med Microsoft Entra ID"
    timeout_seconds: float = Field(10, gt=0, le=120)

    def resolved_secret(self) -> str | None:
        return read_secret(
            self.client_secret,
            self.client_secret_env,
            self.client_secret_file,
            "dashboard.oidc.client_secret",
        )


class OpsConfig(_Strict):
    """Who may read /metrics, /docs and /openapi.json. ``access = "open"``: anyone who reaches
    the port (put them behind the reverse proxy); ``"key"``: an API key with the ``ops`` or
    ``staff`` scope (Prometheus sends it as ``Authorization: Bearer``). ``port``: serve them
    on a port of their own instead (only there; one API worker), e.g. bound to the cluster's
    inside. /healthz and /readyz stay open on the API's port for the orchestrator."""

    access: Literal["open", "key"] = "open"
    host: str = "127.0.0.1"
    port: int | None = Field(None, ge=0, le=65535)
    docs: bool = True


class SignInThrottleConfig(_Strict):
    """Failed password sign-ins: this many within ``window_minutes`` lock the account (or the
    address) for ``lock_minutes``, even for the right password. Addresses get a higher limit:
    a jobcentre's staff often share one."""

    per_account: int = Field(5, ge=1, le=1000)
    per_address: int = Field(20, ge=1, le=10000)
    window_minutes: float = Field(15, gt=0, le=24 * 60)
    lock_minutes: float = Field(15, gt=0, le=24 * 60)


class DashboardConfig(_Strict):
    """The room coordinators' dashboard under /dashboard.

    Secrets: ``session_secret`` signs session cookies (and, without ``feed_secret``, the secret
    iCalendar feed URLs); give it as ``session_secret_env``/``_file``. Without one, a random
    secret is made at start-up: sessions and feed URLs then end with the process."""

    enabled: bool = True
    session_secret: str | None = None
    session_secret_env: str | None = None
    session_secret_file: str | None = None
    feed_secret: str | None = None
    feed_secret_env: str | None = None
    feed_secret_file: str | None = None
    session_hours: float = Field(8, gt=0, le=24 * 14)
    # "auto": Secure cookies when the request came over https (also behind a proxy that sets
    # X-Forwarded-Proto and is trusted by uvicorn).
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    live_poll_seconds: float = Field(1.0, ge=0.1, le=60)
    day_start_hour: int = Field(8, ge=0, le=23)
    day_end_hour: int = Field(17, ge=1, le=24)
    users: tuple[DashboardUser, ...] = ()
    oidc: OIDCConfig | None = None
    signin_throttle: SignInThrottleConfig = SignInThrottleConfig()

    @model_validator(mode="after")
    def _checks(self) -> DashboardConfig:
        if self.day_end_hour <= self.day_start_hour:
            raise ValueError("day_end_hour must be after day_start_hour")
        names = [u.name.casefold() for u in self.users]
        if len(names) != len(set(names)):
            raise ValueError("users: a name appears twice")
        return self

    def resolved_session_secret(self) -> str | None:
        return read_secret(
            self.session_secret,
            self.session_secret_env,
            self.session_secret_file,
            "dashboard.session_secret",
        )

    def resolved_feed_secret(self) -> str | None:
        return read_secret(
            self.feed_secret, self.feed_secret_env, self.feed_secret_file, "dashboard.feed_secret"
        )


class DirectorySyncConfig(_Strict):
    """Caseworkers and rooms from the calendar system (``syncd directory sync``). Entries of
    [[caseworkers]] / [[rooms]] with the same id or e-mail override what the source says."""

    enabled: bool = False  # run on a schedule in the daemon
    interval_minutes: float = Field(60, ge=1)
    # Graph: an Entra ID group (object id or mail address); EWS: a distribution group's
    # address. CalDAV lists the caseworker calendars under the caseworker home instead.
    caseworkers_group: str | None = None
    site: str | None = None  # the site of new caseworkers and rooms (default: the first)
    room_capacity: int = Field(2, ge=1)  # when the source does not know a room's capacity


NOTICE_KINDS = (
    "room_lost",
    "room_declined",
    "write_failing",
    "daily_summary",
    "capacity_shortfall",
)


class NoticeSite(_Strict):
    """One site's opt-in: who gets which notices."""

    site: str
    to: tuple[str, ...] = Field(min_length=1)
    notices: tuple[
        Literal[
            "room_lost", "room_declined", "write_failing", "daily_summary", "capacity_shortfall"
        ],
        ...,
    ] = NOTICE_KINDS


class NotificationsConfig(_Strict):
    """E-mail notices to room coordinators (off unless enabled, and only to sites listed)."""

    enabled: bool = False
    sender: str = "selvbook@localhost"
    smtp_host: str = "localhost"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_password_env: str | None = None
    smtp_password_file: str | None = None
    smtp_timeout_seconds: float = Field(20, gt=0)
    poll_seconds: float = Field(30, gt=0)
    failing_write_attempts: int = Field(5, ge=1)  # a calendar write "keeps failing" from here
    daily_summary_hour: int = Field(7, ge=0, le=23)  # local time
    dashboard_url: str = ""  # e.g. https://syncd.kommune.dk/dashboard, for links in notices
    sites: tuple[NoticeSite, ...] = ()

    def resolved_password(self) -> str | None:
        return read_secret(
            self.smtp_password,
            self.smtp_password_env,
            self.smtp_password_file,
            "notifications.smtp_password",
        )


class CapacityConfig(_Strict):
    """Kapacitet: the forecast of whether every citizen gets a time before the deadline."""

    refresh_minutes: float = Field(30, ge=0)  # rebuild in the background; 0: only on request
    weeks_ahead: int = Field(6, ge=1, le=26)
    runs: int = Field(200, ge=20, le=5000)  # simulation runs behind the band
    level: float = Field(0.9, gt=0.5, lt=1)  # "ca. 14 tider for få ved 90 %-niveau"
    seed: int = 17  # the same inputs give the same forecast


class Config(_Strict):
    database_url: str = "sqlite:///var/syncd.db"
    timezone: str = "Europe/Copenhagen"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"
    scenario: str | None = None  # load the directory (and demo windows) from a scenario file
    api: ApiConfig = ApiConfig()

    _zone = field_validator("timezone")(classmethod(lambda cls, v: _time_zone(v)))
    _url = field_validator("database_url")(classmethod(lambda cls, v: _database_url(v)))
    publishing: PublishingConfig = PublishingConfig()
    sync: SyncConfig = SyncConfig()
    backend: Backend = NoBackend()
    # More backends at once (hybrid Exchange, or CalDAV for one department), by name; a
    # caseworker or room with ``backend = "<name>"`` is served by that one, the rest by
    # [backend] (see docs/admin-guide.md, "Several backends at once").
    backends: dict[str, Backend] = {}
    dashboard: DashboardConfig = DashboardConfig()
    sites: tuple[SiteConfig, ...] = ()
    rooms: tuple[RoomConfig, ...] = ()
    caseworkers: tuple[CaseworkerConfig, ...] = ()
    conversation_types: tuple[ConversationTypeConfig, ...] = ()
    push: PushConfig = PushConfig()
    ops: OpsConfig = OpsConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    capacity: CapacityConfig = CapacityConfig()
    directory_sync: DirectorySyncConfig = DirectorySyncConfig()

    @model_validator(mode="after")
    def _ops_port(self) -> Config:
        if self.ops.port is not None and self.api.workers > 1:
            raise ValueError("ops.port needs api.workers = 1 (each worker has its own metrics)")
        if self.ops.port and self.ops.port == self.api.port:
            raise ValueError(
                f"ops.port is api.port ({self.api.port}); give the ops endpoints a port of "
                "their own, or leave ops.port out"
            )
        return self

    @model_validator(mode="after")
    def _references(self) -> Config:
        site_ids = {s.id for s in self.sites}
        for i, n in enumerate(self.notifications.sites):
            if site_ids and n.site not in site_ids:
                raise ValueError(f"notifications.sites[{i}]: unknown site {n.site!r}")
        type_codes = {t.code for t in self.conversation_types}
        for i, room in enumerate(self.rooms):
            if room.site not in site_ids:
                raise ValueError(f"rooms[{i}] ({room.id}): unknown site {room.site!r}")
        for i, cw in enumerate(self.caseworkers):
            if cw.site not in site_ids:
                raise ValueError(f"caseworkers[{i}] ({cw.id}): unknown site {cw.site!r}")
            for code in cw.conversation_types:
                if code not in type_codes:
                    raise ValueError(
                        f"caseworkers[{i}] ({cw.id}): unknown conversation type {code!r}"
                    )
        self._backend_references()
        for what, items in (
            ("sites", self.sites),
            ("rooms", self.rooms),
            ("caseworkers", self.caseworkers),
        ):
            seen: set[str] = set()
            for item in items:
                if item.id in seen:
                    raise ValueError(f"{what}: id {item.id!r} appears twice")
                seen.add(item.id)
        return self

    def _backend_references(self) -> None:
        if DEFAULT_BACKEND in self.backends:
            raise ValueError(f"backends: {DEFAULT_BACKEND!r} is the name of [backend] itself")
        for name, named in self.backends.items():
            if named.kind == "none":
                raise ValueError(f"backends.{name}: kind 'none' makes no sense here")
        known = sorted(self.backends)
        for what, items in (("rooms", self.rooms), ("caseworkers", self.caseworkers)):
            for i, item in enumerate(items):
                name = item.backend or DEFAULT_BACKEND
                if name != DEFAULT_BACKEND and name not in self.backends:
                    raise ValueError(
                        f"{what}[{i}] ({item.id}): unknown backend {name!r} "
                        f"(named in [backends]: {', '.join(known) or 'none'})"
                    )
                if name == DEFAULT_BACKEND and self.backends and self.backend.kind == "none":
                    raise ValueError(
                        f"{what}[{i}] ({item.id}): names no backend and [backend] is none; "
                        f"set backend to one of {', '.join(known)}"
                    )

    def backend_routes(self) -> dict[str, str]:
        """Caseworker and room ids -> the name of the backend that serves them."""
        return {
            item.id: item.backend or DEFAULT_BACKEND for item in (*self.rooms, *self.caseworkers)
        }

    def directory(self) -> Directory:
        """The configured jobcentre as domain values (a scenario adds to it, see syncd.scenario)."""
        all_types = tuple(t.code for t in self.conversation_types)
        return Directory(
            sites=tuple(Site(s.id, s.name, s.timezone) for s in self.sites),
            rooms=tuple(
                Room(
                    r.id,
                    r.site,
                    r.name or r.id,
                    r.capacity,
                    frozenset(r.features),
                    r.calendar,
                    r.email,
                    r.floor,
                )
                for r in self.rooms
            ),
            caseworkers=tuple(
                Caseworker(
                    c.id,
                    c.name,
                    c.site,
                    c.team,
                    c.email,
                    c.calendar,
                    c.conversation_types or all_types,
                    c.other_sites,
                    c.weekly_cap
                    if c.weekly_cap is not None
                    else self.publishing.default_weekly_cap,
                )
                for c in self.caseworkers
            ),
            conversation_types=tuple(
                ConversationType(
                    t.code,
                    t.title,
                    t.minutes,
                    t.buffer_before_minutes,
                    t.buffer_after_minutes,
                    t.modes,
                    t.min_room_capacity,
                    frozenset(t.required_features),
                    int(t.min_notice_hours * 60),
                    t.horizon_days,
                )
                for t in self.conversation_types
            ),
            closing_days=self.publishing.closing_days,
        )


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"] if p not in ("caldav", "ews", "graph", "none"))
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {where or '(top level)'}: {msg}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the TOML file named by ``path`` or $SYNCD_CONFIG; without either, the defaults."""
    chosen = path or os.environ.get(ENV_CONFIG)
    if not chosen:
        return Config()
    p = Path(chosen)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read configuration: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    config = parse_config(data, str(p))
    return _resolve_relative_paths(config, p.parent)


def _resolve_relative_paths(config: Config, base: Path) -> Config:
    """Paths in the file are relative to the file, as admins expect."""
    updates: dict[str, Any] = {}
    if config.scenario and not Path(config.scenario).is_absolute():
        updates["scenario"] = str((base / config.scenario).resolve())
    url = config.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            updates["database_url"] = "sqlite:///" + str((base / rel).resolve())
    return config.model_copy(update=updates) if updates else config
