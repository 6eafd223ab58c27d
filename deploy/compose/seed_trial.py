"""Fill the trial Radicale with the caseworker and room calendars of the trial jobcentre.

Run once by the ``seed`` service of compose.yaml, before syncd starts. It reads the same
syncd.toml as the daemon ($SYNCD_CONFIG): the scenario named there gives the caseworkers and
rooms, and [backend] url gives the CalDAV server. Each caseworker gets weekly "Selvbook"
windows and some busy time, as if she had filled in her calendar herself.

A calendar server that already holds the first caseworker's calendar is left alone, so a
restart of the trial keeps whatever you changed in the calendars. Pass --force to write the
generated items again.

    python seed_trial.py [--force] [--wait SECONDS]
"""

from __future__ import annotations

import argparse
import sys
import time

import httpx

from syncd import scenario
from syncd.config import CalDAVBackend, ConfigError, load_config
from syncd.devtools.seed import calendar_url, put_calendars, scenario_calendars


def wait_for_server(url: str, timeout: float) -> None:
    """Poll until the server answers at all (any HTTP status); raise when the time is up."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as http:
        while True:
            try:
                http.request("OPTIONS", url)
                return
            except httpx.TransportError as exc:
                if time.monotonic() >= deadline:
                    raise SystemExit(
                        f"seed: {url} did not answer within {timeout:.0f} s: {exc}"
                    ) from None
            time.sleep(0.5)  # poll interval while the server starts


def already_seeded(url: str) -> bool:
    with httpx.Client(auth=("seed", "x"), timeout=10.0) as http:
        response = http.request("PROPFIND", url, headers={"Depth": "0"})
    return response.status_code == 207


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="write the calendars again")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the server")
    args = parser.parse_args(argv)
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 2
    if not isinstance(config.backend, CalDAVBackend) or not config.scenario:
        print("seed: needs [backend] kind = 'caldav' and a scenario in syncd.toml", file=sys.stderr)
        return 2
    base = config.backend.url
    generated = scenario.generate(scenario.load(config.scenario), source=config.scenario)
    calendars = scenario_calendars(generated)
    wait_for_server(base, args.wait)
    first = next(c for c in calendars if c.kind == "caseworker")
    if not args.force and already_seeded(calendar_url(base, first.home, first.name)):
        print(f"seed: {base} already has the trial calendars; nothing to do (--force rewrites)")
        return 0
    put_calendars(base, calendars)
    rooms = sum(1 for c in calendars if c.kind == "room")
    print(f"seed: wrote {len(calendars) - rooms} caseworker and {rooms} room calendars to {base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
