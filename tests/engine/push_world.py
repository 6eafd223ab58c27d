"""The daemon running for real (engine threads + API on a loopback port) over a world, with
push on or off: what the push tests and bench/latency.py drive."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import select

from mappings.rules import default_rules
from syncd.api.app import create_app
from syncd.config import parse_config
from syncd.engine.factory import make_connector
from syncd.engine.loop import Engine
from syncd.runtime import open_runtime
from syncd.store.tables import PushSubscriptionRow
from tests.engine.world import World, config_data, open_world

CLIENT_STATE = "test-client-state-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Deadlines, not delays: a loaded 2-core CI machine may take several times longer than a quiet
# one, and a deadline costs nothing when the condition comes true early. The polls the tests rule
# out (safety polls of an hour) stay far beyond even the stretched deadline.
SLACK = 4.0


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` (times SLACK) seconds."""
    timeout *= SLACK
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@contextmanager
def serve_api(app: Any, port: int) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 20, "the API server")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def rebuild(
    world: World,
    *,
    push: dict[str, Any] | None,
    sync: dict[str, Any],
    database_url: str | None = None,
) -> None:
    """Replace the world's daemon by one with these ``[push]``/``[sync]`` settings."""
    world.close_daemon()
    data = config_data(world.backend, world.server, database_url or world.database_url)
    data["sync"].update(sync)
    if push is not None:
        data["push"] = push
    config = parse_config(data)
    rt = open_runtime(config, clock=world.clock)
    connector = make_connector(config, rt.index)
    assert connector is not None
    world.rt, world.connector = rt, connector
    world.engine = Engine(rt, connector, default_rules())
    if database_url:
        world.database_url = database_url


@contextmanager
def live_daemon(
    backend: str,
    tmp_path: Path,
    clock: Any,
    *,
    push: bool = True,
    poll_seconds: float = 3600,
    safety_seconds: float = 3600,
    check_seconds: float = 30,
    radicale: Any = None,
    push_extra: dict[str, Any] | None = None,
    prepare: Callable[[Any], None] | None = None,
) -> Iterator[tuple[World, str]]:
    """The world with its daemon running (engine started, API served); yields (world, api).
    ``prepare(server)`` runs on the calendar server before the daemon starts."""
    port = free_port()
    settings = {
        "enabled": push,
        "public_url": f"http://127.0.0.1:{port}",
        "client_state": CLIENT_STATE,
        "safety_poll_seconds": safety_seconds,
        "check_seconds": check_seconds,
        **(push_extra or {}),
    }
    with open_world(backend, tmp_path, clock, radicale) as world:
        if backend == "ews":
            world.server.streams.minute = 1.0  # ConnectionTimeout minutes pass as seconds
            world.server.streams.keepalive = 0.5
        if prepare is not None:
            prepare(world.server)
        rebuild(world, push=settings, sync={"poll_interval_seconds": poll_seconds})
        with serve_api(create_app(world.rt), port) as api:
            world.engine.start()
            try:
                yield world, api
            finally:
                world.engine.stop(timeout=10)


def subscriptions(world: World) -> dict[str, PushSubscriptionRow]:
    with world.rt.db.read() as s:
        return {r.calendar_id: r for r in s.scalars(select(PushSubscriptionRow))}


def all_active(world: World) -> bool:
    rows = subscriptions(world)
    return len(rows) == len(world.calendars) and all(r.state == "active" for r in rows.values())
