"""Starting the daemon: runtime, optional scenario seed, the HTTP server and (with ``run``) the
sync engine, until SIGTERM/SIGINT."""

from __future__ import annotations

from datetime import date

import uvicorn

from syncd.config import Config
from syncd.logs import configure_logging, get_logger
from syncd.runtime import Runtime, open_runtime

log = get_logger("syncd.daemon")


def open_from_config(config: Config, *, start: date | None = None) -> Runtime:
    """Open the runtime; a configured scenario supplies the directory and, while the store has
    no slots yet, the windows (the embedded demo without calendars)."""
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


def serve(config: Config, *, host: str | None, port: int | None, with_engine: bool) -> int:
    configure_logging(config.log_level, config.log_format)
    rt = open_from_config(config)
    from syncd.api.app import create_app

    app = create_app(rt)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host or config.api.host,
            port=port if port is not None else config.api.port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
    )
    log.info(
        "starting", api=f"http://{server.config.host}:{server.config.port}", engine=with_engine
    )
    server.run()
    rt.db.dispose()
    log.info("stopped")
    return 0
