"""Building the configured connector. The only place that knows every backend's constructor."""

from __future__ import annotations

from connectors.base import Connector
from syncd.config import CalDAVBackend, Config, ConfigError, EWSBackend, GraphBackend, read_secret


def make_connector(config: Config) -> Connector | None:
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
        from connectors.ews import EWSConnector

        return EWSConnector.from_config(backend, config)  # type: ignore[attr-defined]
    if isinstance(backend, GraphBackend):
        from connectors.graph import GraphConnector

        return GraphConnector.from_config(backend, config)  # type: ignore[attr-defined]
    if backend.kind == "none":
        return None
    raise ConfigError(f"backend.kind: unknown backend {backend.kind!r}")
