"""The quick-start demo: the daemon on its embedded defaults (SQLite, a local Radicale CalDAV
server with caseworker and room calendars generated from the small scenario), the sync engine,
the booking API, and simulated citizens booking, cancelling and rebooking through the real API,
so a newcomer sees offers, bookings, rooms and calendar events change live."""

from __future__ import annotations

import random
import secrets
import shutil
import signal
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from syncd.config import hash_api_key, load_config
from syncd.logs import configure_logging, get_logger
from syncd.singleton import AlreadyRunning, ProcessLock

log = get_logger("syncd.demo")


def bundled_scenario(name: str = "small") -> Path:
    return Path(__file__).resolve().parent / "data" / f"{name}.toml"


def write_demo_config(
    workdir: Path,
    port: int,
    scenario: Path,
    api_key: str,
    dav_url: str | None,
    password: str = "",
) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "syncd.toml"
    backend = ""
    if dav_url:
        backend = (
            "\n[backend]\n"
            'kind = "caldav"\n'
            f'url = "{dav_url}"\n'
            f'homes = {{ "{dav_url}caseworkers/" = "caseworker", "{dav_url}rooms/" = "room" }}\n'
            "\n[sync]\n"
            "poll_interval_seconds = 5\n"
            f'caseworker_calendar = "{dav_url}caseworkers/{{id}}/"\n'
            f'room_calendar = "{dav_url}rooms/{{id}}/"\n'
        )
    path.write_text(
        "# Written by `syncd demo`: the embedded defaults with a generated jobcentre.\n"
        'database_url = "sqlite:///syncd.db"\n'
        f'scenario = "{scenario}"\n'
        'log_format = "console"\n\n'
        "[api]\n"
        'host = "127.0.0.1"\n'
        f"port = {port}\n\n"
        "[[api.keys]]\n"
        'name = "demo"\n'
        f'hash = "{hash_api_key(api_key)}"\n'
        'scopes = ["booking", "staff"]\n'
        'books_as = "citizen"\n' + backend + _dashboard(password)
    )
    return path


def start_notices(rt: Any, notify_to: str, smtp: str, port: int) -> threading.Event:
    """E-mail notices only when asked (``--notify-to``): a demo never mails anyone by itself."""
    from syncd.config import NotificationsConfig
    from syncd.notices import NoticeWatcher
    from syncd.notify import Notifier

    host, _, smtp_port = smtp.rpartition(":")
    config = NotificationsConfig.model_validate(
        {
            "enabled": True,
            "sender": "selvbook-demo@localhost",
            "smtp_host": host or "127.0.0.1",
            "smtp_port": int(smtp_port or 25),
            "poll_seconds": 5,
            "sites": [{"site": site.id, "to": [notify_to]} for site in rt.index.directory.sites],
        }
    )
    dashboard = f"http://127.0.0.1:{port}/dashboard"
    return NoticeWatcher(rt, Notifier(config), dashboard_url=dashboard).start()


def _dashboard(password: str) -> str:
    if not password:
        return ""
    from syncd.web.auth import hash_password

    digest = hash_password(password)
    return (
        "\n[dashboard]\n"
        f'session_secret = "{secrets.token_urlsafe(32)}"\n'
        "[[dashboard.users]]\n"
        'name = "koordinator"\n'
        'display_name = "Demo-koordinator"\n'
        'role = "coordinator"\n'
        f'password_hash = "{digest}"\n'
        "[[dashboard.users]]\n"
        'name = "laeser"\n'
        'display_name = "Demo-læser"\n'
        'role = "viewer"\n'
        f'password_hash = "{digest}"\n'
    )


class _Progress:
    """Numbered steps with the seconds each took, so a first run is never silent."""

    def __init__(self) -> None:
        self.n = 0
        self.started = time.monotonic()
        self.last = self.started

    def __call__(self, what: str) -> None:
        now = time.monotonic()
        if self.n:
            print(f"      done in {now - self.last:.1f} s", flush=True)
        self.n += 1
        self.last = now
        print(f"demo: [{self.n}] {what} ...", flush=True)

    def done(self) -> None:
        now = time.monotonic()
        print(
            f"      done in {now - self.last:.1f} s (set up in {now - self.started:.0f} s)",
            flush=True,
        )


class CitizenSimulator:
    """Books, cancels and rebooks through the HTTP API like Jobnet's front end would."""

    def __init__(self, base_url: str, api_key: str, seed: int = 7) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"X-API-Key": api_key}, timeout=30)
        self.rng = random.Random(seed)
        self.booked: list[str] = []
        self.stats = {"booked": 0, "cancelled": 0, "rebooked": 0, "refused": 0}

    def step(self) -> None:
        roll = self.rng.random()
        if self.booked and roll < 0.15:
            booking = self.booked.pop(self.rng.randrange(len(self.booked)))
            if self.http.post(f"/api/v1/bookings/{booking}/cancel").status_code == 200:
                self.stats["cancelled"] += 1
            return
        offers = self.http.get("/api/v1/offers", params={"limit": 300}).json()["offers"]
        if not offers:
            return
        offer = self.rng.choice(offers)
        if self.booked and roll < 0.22:
            booking = self.rng.choice(self.booked)
            r = self.http.post(
                f"/api/v1/bookings/{booking}/rebook", json={"offer_id": offer["offer_id"]}
            )
            self.stats["rebooked" if r.status_code == 200 else "refused"] += 1
            return
        ref = f"demo-{secrets.token_hex(4)}"
        hold = self.http.post(
            "/api/v1/holds",
            json={"offer_id": offer["offer_id"], "citizen_ref": ref, "booked_by": "citizen"},
        )
        if hold.status_code != 201:
            self.stats["refused"] += 1
            return
        confirmed = self.http.post(f"/api/v1/holds/{hold.json()['id']}/confirm")
        if confirmed.status_code == 200:
            self.booked.append(confirmed.json()["id"])
            self.stats["booked"] += 1


def run_demo(
    *,
    workdir: str,
    port: int,
    scenario: str | None,
    duration: float | None,
    rate: float = 2.0,
    with_calendars: bool = True,
    start: date | None = None,
    notify_to: str | None = None,
    smtp: str = "127.0.0.1:25",
) -> int:
    work = Path(workdir).resolve()
    lock = ProcessLock(f"sqlite:///{work / 'syncd.db'}", "syncd demo")
    try:
        lock.acquire()  # before anything is cleared: a running demo keeps its files
    except AlreadyRunning as exc:
        print(f"demo: {exc}")
        return 3
    try:
        return _run_demo(
            work, port, scenario, duration, rate, with_calendars, start, notify_to, smtp
        )
    finally:
        lock.release()


def _run_demo(
    work: Path,
    port: int,
    scenario: str | None,
    duration: float | None,
    rate: float,
    with_calendars: bool,
    start: date | None,
    notify_to: str | None = None,
    smtp: str = "127.0.0.1:25",
) -> int:
    from syncd import scenario as scenarios
    from syncd.api.app import create_app
    from syncd.daemon import make_engine, open_from_config

    for child in work.iterdir():  # every demo starts from the same generated jobcentre
        if child.name != "syncd.db.lock":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    scenario_path = Path(scenario or bundled_scenario()).resolve()
    api_key = "demo-" + secrets.token_urlsafe(24)
    password = "demo-" + secrets.token_urlsafe(9)
    radicale = None
    dav_url = None
    step = _Progress()
    if with_calendars:
        from syncd.devtools.radicale import start_radicale
        from syncd.devtools.seed import scenario_calendars, write_radicale_folder

        step("generating the jobcentre and its calendars")
        gen = scenarios.generate(scenarios.load(scenario_path), start=start)
        write_radicale_folder(
            work / "radicale" / "collections" / "collection-root", scenario_calendars(gen)
        )
        step("starting the CalDAV server (Radicale)")
        radicale = start_radicale(work / "radicale")
        dav_url = radicale.url
    config = load_config(write_demo_config(work, port, scenario_path, api_key, dav_url, password))
    configure_logging(config.log_level, config.log_format)
    step("creating the store and loading the directory")
    rt = open_from_config(config, start=start)
    engine = make_engine(rt)
    notices = start_notices(rt, notify_to, smtp, port) if notify_to else None
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(rt), host="127.0.0.1", port=port, log_config=None, access_log=False
        )
    )
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                print("demo: the API did not start (is the port taken?)")
                return 1
            time.sleep(0.05)
        if engine is not None:
            step("reading every calendar for the first time and publishing offers")
            engine.cycle()
            engine.start()
        step.done()
        base = f"http://127.0.0.1:{port}"
        print(
            f"\nSelvbook syncd demo is running ({rt.index.directory.sites[0].name}).\n"
            f"  Booking API:   {base}/api/v1   (OpenAPI: {base}/docs)\n"
            f"  API key:       {api_key}\n"
            f"  Try:           curl -H 'X-API-Key: {api_key}' '{base}/api/v1/offers?limit=5'\n"
            + (
                f"  Calendars:     {dav_url} (CalDAV; any user name, no password)\n"
                if dav_url
                else ""
            )
            + f"  Dashboard:     {base}/dashboard/  (koordinator or laeser, password {password})\n"
            + f"  Metrics:       {base}/metrics\n"
            f"  Files:         {work}\n"
            "Simulated citizens are booking now. Stop with Ctrl-C.\n",
            flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        sim = CitizenSimulator(base, api_key)
        started = time.monotonic()
        try:
            while not stop.is_set():
                if duration is not None and time.monotonic() - started >= duration:
                    break
                sim.step()
                stop.wait(1 / rate)
        except KeyboardInterrupt:
            pass
        print(f"demo stopped: {sim.stats}")
    finally:
        if notices is not None:
            notices.set()
        if engine is not None:
            engine.stop()
            engine.connector.close()
        server.should_exit = True
        thread.join(timeout=10)
        rt.db.dispose()
        if radicale is not None:
            radicale.stop()
    return 0
