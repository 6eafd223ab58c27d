"""``syncd check`` for calendars: one line per caseworker and room calendar, saying whether it
is reachable and writable, with the server's own error text when not."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from connectors.base import ConnectorError, ProbeResult
from syncd.config import Config, ConfigError


def check_calendars(config: Config, out: Callable[[str], None] = print) -> int:
    """Returns the number of calendars with a problem."""
    from syncd.engine.factory import make_connector
    from syncd.engine.targets import targets
    from syncd.preflight import directory_of
    from syncd.store.directory import DirectoryIndex

    index = DirectoryIndex(directory_of(config))  # as run would see it, without the store
    try:
        connector = make_connector(config, index)
    except (ConnectorError, ValueError, ConfigError) as exc:
        out(f"backend {config.backend.kind}: FAILED: {exc}")
        return 1
    if connector is None:
        return 0
    all_targets = targets(index)
    if not all_targets:
        out(
            "calendars: none configured (set caseworkers[].calendar / rooms[].calendar or sync.*_calendar)"
        )
        return 1

    def probe(calendar_id: str) -> ProbeResult:
        try:
            return connector.probe(calendar_id)
        except Exception as exc:  # report, never crash the whole check
            return ProbeResult(calendar_id, False, False, f"{exc.__class__.__name__}: {exc}")

    with ThreadPoolExecutor(max(1, min(8, config.sync.workers))) as pool:
        results = list(pool.map(probe, [t.calendar_id for t in all_targets]))
    from syncd.push_report import push_overview, push_states

    overview, pushing = push_overview(config, connector)
    pushed = push_states(config) if pushing else {}
    for line in overview:
        out(line)
    problems = 0
    for target, result in zip(all_targets, results, strict=True):
        if result.reachable and result.writable:
            state = "reachable, writable"
        elif result.reachable:
            state = f"reachable, NOT writable: {result.error or 'no write permission'}"
            problems += 1
        else:
            state = f"NOT reachable: {result.error or 'unknown error'}"
            problems += 1
        if pushing and target.calendar_id in pushed:
            state += f"; {pushed[target.calendar_id]}"
        elif pushing:
            state += "; push: no subscription yet (made by the running daemon)"
        where = _backend_of(connector, target.calendar_id)
        out(f"{target.kind:10} {target.owner_id:12} {target.calendar_id}{where}: {state}")
    connector.close()
    out(f"calendars: {len(results) - problems} ok, {problems} with problems")
    return problems


def _backend_of(connector: object, calendar_id: str) -> str:
    """`` [backend name]`` when several backends serve the calendars (connectors.routing)."""
    backend_of = getattr(connector, "backend_of", None)
    return f" [{backend_of(calendar_id)}]" if backend_of is not None else ""
