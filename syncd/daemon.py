"""Starting the daemon: runtime, optional scenario seed, the HTTP server and (with ``run``) the
sync engine, until SIGTERM/SIGINT."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
from datetime import date
from typing import Any

import uvicorn

from syncd.config import Config
from syncd.logs import configure_logging, get_logger
from syncd.runtime import Runtime, open_runtime

log = get_logger("syncd.daemon")


def open_from_config(config: Config, *, start: date | None = None) -> Runtime:
    """Open the runtime; a configured scenario supplies the directory and, while the store has
    no slots yet and no calendars are configured, the windows (the calendar-less demo)."""
    if not config.scenario:
        return open_runtime(config)
    from syncd import scenario
    from syncd.seeding import publish_generated

    gen = scenario.generate(scenario.load(config.scenario), start=start, source=config.scenario)
    rt = open_runtime(config, directory=gen.directory)
    rt.extras["scenario"] = gen
    if config.backend.kind == "none" and not _has_slots(rt):
        count = publish_generated(rt, gen)
        log.info("scenario published", scenario=gen.name, slots=count)
    return rt


def _has_slots(rt: Runtime) -> bool:
    from sqlalchemy import select

    from syncd.store.tables import SlotRow

    with rt.db.read() as s:
        return s.scalar(select(SlotRow.id).limit(1)) is not None


def make_engine(rt: Runtime):  # type: ignore[no-untyped-def]
    from syncd.engine.factory import make_connector
    from syncd.engine.loop import Engine

    connector = make_connector(rt.config, rt.index)
    return Engine(rt, connector) if connector is not None else None


def _start_notices(rt: Runtime) -> threading.Event | None:
    """E-mail notices to coordinators, if enabled and some site opted in."""
    from syncd.notices import NoticeWatcher
    from syncd.notify import Notifier

    notifier = Notifier(rt.config.notifications)
    if not notifier.enabled:
        return None
    watcher = NoticeWatcher(rt, notifier, dashboard_url=rt.config.notifications.dashboard_url)
    _attach_capacity_notices(rt, notifier, watcher)
    return watcher.start()


def _attach_capacity_notices(rt: Runtime, notifier: Any, watcher: Any) -> None:
    """Kapacitet: a notice when the forecast finds a week that falls short (the replica that
    sends the other notices sends these)."""
    from syncd.capacity_notices import CapacityNotices, attach

    attach(
        rt,
        CapacityNotices(
            notifier,
            dashboard_url=rt.config.notifications.dashboard_url,
            may_send=watcher._may_send,
        ),
    )


def _start_capacity(rt: Runtime) -> threading.Event | None:
    """Kapacitet: rebuild the forecast in the background (metrics and notices follow it)."""
    from syncd.capacity_report import start_refresh

    minutes = rt.config.capacity.refresh_minutes
    return start_refresh(rt, minutes) if minutes > 0 else None


def settle_heap() -> None:
    """Move everything built at startup (directory, app, imported modules) out of the garbage
    collector's sight: a full collection then walks only what requests create, instead of
    pausing every request in flight for tens of milliseconds."""
    gc.collect()
    gc.freeze()


def proxy_options(config: Config) -> dict[str, Any]:
    """uvicorn's proxy settings from ``api.trusted_proxies``. uvicorn by default believes
    X-Forwarded-For from 127.0.0.1, which lets anything on the machine (or a proxy that passes
    the header through) pick its client address; here nothing is believed unless configured."""
    proxies = config.api.trusted_proxies
    if not proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(proxies)}


def _serve_ops_in_background(api: object, rt: Runtime) -> None:
    """/metrics, /docs and /openapi.json on ``ops.port`` (a daemon thread of this process)."""
    import threading

    from syncd.api.ops import ops_app

    ops = uvicorn.Server(
        uvicorn.Config(
            ops_app(api, rt),  # type: ignore[arg-type]
            host=rt.config.ops.host,
            port=rt.config.ops.port or 0,
            log_config=None,
            access_log=False,
            lifespan="off",
            **proxy_options(rt.config),
        )
    )
    threading.Thread(target=ops.run, name="syncd-ops", daemon=True).start()
    log.info("ops endpoints", host=rt.config.ops.host, port=rt.config.ops.port)


def serve(
    config: Config,
    *,
    host: str | None,
    port: int | None,
    with_engine: bool,
    config_path: str | None = None,
) -> int:
    configure_logging(config.log_level, config.log_format)
    from syncd.preflight import file_problems

    broken = file_problems(config)
    if broken:  # exit 2, not 1: the systemd unit restarts on 1 and would loop on a bad file
        for line in broken:
            log.error("configuration problem", problem=line)
            print(f"syncd: {line}", file=sys.stderr)
        return 2
    from syncd.singleton import AlreadyRunning, ProcessLock, sqlite_path

    lock = None
    if sqlite_path(config.database_url) is not None:  # the API writes bookings too
        lock = ProcessLock(config.database_url, "syncd run" if with_engine else "syncd serve")
        try:
            lock.acquire()
        except AlreadyRunning as exc:
            log.error("refusing to start", reason=str(exc))
            print(f"syncd: {exc}")
            return 3
    rt = open_from_config(config)
    engine = make_engine(rt) if with_engine else None
    from syncd.api.app import create_app

    workers = config.api.workers
    if workers > 1 and config_path:
        os.environ["SYNCD_CONFIG"] = os.path.abspath(config_path)
        server = uvicorn.Server(
            uvicorn.Config(
                "syncd.api.asgi:app",
                factory=True,
                workers=workers,
                host=host or config.api.host,
                port=port if port is not None else config.api.port,
                log_config=None,
                access_log=False,
                **proxy_options(config),
            )
        )
    else:
        app = create_app(rt)
        if config.ops.port is not None:
            _serve_ops_in_background(app, rt)
        settle_heap()
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host or config.api.host,
                port=port if port is not None else config.api.port,
                log_config=None,
                access_log=False,
                lifespan="on",
                **proxy_options(config),
            )
        )
    if engine is not None:
        engine.start()
    notices = _start_notices(rt) if engine is not None else None
    capacity = _start_capacity(rt) if engine is not None else None
    directory = None
    if engine is not None and config.directory_sync.enabled:
        from syncd.directory_sync import start_schedule

        directory = start_schedule(rt, engine.connector)
    log.info(
        "starting",
        api=f"http://{server.config.host}:{server.config.port}",
        engine=engine is not None,
        backend=config.backend.kind,
    )
    try:
        if workers > 1 and config_path:
            from uvicorn.supervisors import Multiprocess

            sock = server.config.bind_socket()
            Multiprocess(server.config, sockets=[sock]).run()
        else:
            server.run()  # returns on SIGTERM/SIGINT
    finally:
        if notices is not None:
            notices.set()
        if capacity is not None:
            capacity.set()
        if directory is not None:
            directory.set()
        if engine is not None:
            engine.stop()
            with contextlib.suppress(Exception):
                engine.connector.close()
        rt.db.dispose()
        if lock is not None:
            lock.release()
        log.info("stopped")
    return 0
