"""Building the configured connector. The only place that knows every backend's constructor."""

from __future__ import annotations

from pathlib import Path

from connectors.base import Connector
from syncd.config import CalDAVBackend, Config, ConfigError, EWSBackend, GraphBackend, read_secret
from syncd.store.directory import DirectoryIndex


def make_connector(config: Config, index: DirectoryIndex | None = None) -> Connector | None:
    """The connector for ``config.backend``; mailboxes and rooms not named in the backend's own
    settings are taken from the directory (``index``)."""
    backend = config.backend
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
        if index is not None:
            settings.setdefault(
                "mailboxes", [c.calendar_id for c in index.directory.caseworkers if c.calendar_id]
            )
            settings.setdefault(
                "rooms",
                [
                    {"email": r.calendar_id, "name": r.name, "capacity": r.capacity}
                    for r in index.directory.rooms
                    if r.calendar_id
                ],
            )
        connector = _build(lambda: EWSPushConnector(settings), "ews")
        connector.connection_minutes = config.push.ews_connection_minutes  # type: ignore[attr-defined]
        connector.per_connection = config.push.ews_mailboxes_per_connection  # type: ignore[attr-defined]
        return connector
    if isinstance(backend, GraphBackend):
        from connectors.graph_push import GraphPushConnector

        settings = backend.settings()
        settings.setdefault("territory", config.sync.territory)
        if index is not None:
            settings.setdefault(
                "mailboxes", [c.calendar_id for c in index.directory.caseworkers if c.calendar_id]
            )
        return _build(lambda: GraphPushConnector.from_config(settings), "graph")
    if backend.kind == "none":
        return None
    raise ConfigError(f"backend.kind: unknown backend {backend.kind!r}")


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from None


def _build(make, kind: str) -> Connector:  # type: ignore[no-untyped-def]
    try:
        return make()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"backend ({kind}): {exc}") from None
