"""Building the configured connector. The only place that knows every backend's constructor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.base import Connector
from syncd.config import (
    DEFAULT_BACKEND,
    CalDAVBackend,
    Config,
    ConfigError,
    EWSBackend,
    GraphBackend,
    read_secret,
)
from syncd.store.directory import DirectoryIndex


def make_connector(config: Config, index: DirectoryIndex | None = None) -> Connector | None:
    """The connector for ``config.backend``; mailboxes and rooms not named in the backend's own
    settings are taken from the directory (``index``). With ``[backends]`` as well, one
    connector per backend behind a ``RoutingConnector`` that sends each calendar to its own."""
    caseworkers = list(index.directory.caseworkers) if index is not None else None
    rooms = list(index.directory.rooms) if index is not None else None
    if not config.backends:
        return _make_one(config.backend, config, caseworkers, rooms)
    from connectors.routing import RoutingConnector

    owners = config.backend_routes()
    named: dict[str, Any] = {}
    if config.backend.kind != "none":
        named[DEFAULT_BACKEND] = config.backend
    named.update(config.backends)
    built: dict[str, Connector] = {}
    try:
        for name, backend in named.items():
            mine_cw = None if caseworkers is None else [
                c for c in caseworkers if owners.get(c.id, DEFAULT_BACKEND) == name
            ]  # fmt: skip
            mine_rooms = None if rooms is None else [
                r for r in rooms if owners.get(r.id, DEFAULT_BACKEND) == name
            ]  # fmt: skip
            connector = _make_one(backend, config, mine_cw, mine_rooms, f"backends.{name}")
            if connector is not None:
                built[name] = connector
    except BaseException:
        for connector in built.values():
            connector.close()
        raise
    routes: dict[str, str] = {}
    for item in [*(caseworkers or ()), *(rooms or ())]:
        if item.calendar_id:
            routes[item.calendar_id] = owners.get(item.id, DEFAULT_BACKEND)
    default = DEFAULT_BACKEND if DEFAULT_BACKEND in built else next(iter(built))
    return RoutingConnector(built, routes, default)


def _make_one(
    backend: Any,
    config: Config,
    caseworkers: list[Any] | None,
    rooms: list[Any] | None,
    where: str = "backend",
) -> Connector | None:
    """One backend's connector; ``caseworkers``/``rooms`` (directory entries) fill in the
    mailboxes and rooms its settings leave out (None: no directory)."""
    if isinstance(backend, CalDAVBackend):
        from connectors.caldav import CalDAVConnector

        password = read_secret(
            backend.password, backend.password_env, backend.password_file, "backend.password"
        )
        return CalDAVConnector(
            backend.url,
            backend.username,
            password,
            calendar_homes=dict(backend.homes) or None,
            max_connections=backend.max_connections,
            zone=config.timezone,
            territory=config.sync.territory,
        )
    if isinstance(backend, EWSBackend):
        from connectors.ews_push import EWSPushConnector

        settings = backend.settings()
        for key, file_key in (
            ("password", "password_file"),
            ("certificate_key_pem", "certificate_key_file"),
            ("certificate_pem", "certificate_file"),
        ):
            path = settings.pop(file_key, None)
            if path:
                settings[key] = _read(path, f"backend.{file_key}")
        settings.setdefault("timezone", config.timezone)
        settings.setdefault("territory", config.sync.territory)
        if caseworkers is not None:
            settings.setdefault("mailboxes", [c.calendar_id for c in caseworkers if c.calendar_id])
        if rooms is not None:
            settings.setdefault(
                "rooms",
                [
                    {"email": r.calendar_id, "name": r.name, "capacity": r.capacity}
                    for r in rooms
                    if r.calendar_id
                ],
            )
        connector = _build(lambda: EWSPushConnector(settings), f"{where} (ews)")
        connector.connection_minutes = config.push.ews_connection_minutes  # type: ignore[attr-defined]
        connector.per_connection = config.push.ews_mailboxes_per_connection  # type: ignore[attr-defined]
        return connector
    if isinstance(backend, GraphBackend):
        from connectors.graph_push import GraphPushConnector

        settings = backend.settings()
        settings.setdefault("territory", config.sync.territory)
        if caseworkers is not None:
            settings.setdefault("mailboxes", [c.calendar_id for c in caseworkers if c.calendar_id])
        return _build(lambda: GraphPushConnector.from_config(settings), f"{where} (graph)")
    if backend.kind == "none":
        return None
    raise ConfigError(f"{where}.kind: unknown backend {backend.kind!r}")


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from None


def _build(make, kind: str) -> Connector:  # type: ignore[no-untyped-def]
    try:
        return make()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{kind}: {exc}") from None
