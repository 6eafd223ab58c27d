"""Sync benchmark on a real Radicale: N caseworker calendars from the large scenario.

For each N it prints, for an idle cycle and for a cycle with 1 % of the calendars changed:
wall time, HTTP requests per calendar and peak memory, beside the same figures for vdirsyncer
(a no-op ``vdirsyncer sync`` of the same calendars) measured in the same run. With ``--delay``
every request passes a proxy that adds that many seconds (a real server answers in 50-200 ms),
where concurrency decides the cycle time.

    .venv/bin/python bench/sync.py --calendars 100 1000 2000
    .venv/bin/python bench/sync.py --calendars 1000 --delay 0.15 --no-vdirsyncer
    .venv/bin/python bench/sync.py --calendars 200 --no-vdirsyncer --idle-cycles 9

Seeding Radicale is slow (it parses every item once, ~0.3 s per calendar), so prepared server
folders are kept in var/bench/ and reused by later runs.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.latency_proxy import LatencyProxy  # noqa: E402
from connectors.caldav import CalDAVConnector  # noqa: E402
from mappings.rules import default_rules  # noqa: E402
from syncd import scenario  # noqa: E402
from syncd.config import parse_config  # noqa: E402
from syncd.devtools.radicale import start_radicale  # noqa: E402
from syncd.devtools.seed import scenario_calendars, write_radicale_folder  # noqa: E402
from syncd.engine.loop import Engine  # noqa: E402
from syncd.runtime import open_runtime  # noqa: E402

START = date(2026, 11, 30)
CACHE = ROOT / "var" / "bench"


def _warm(args: tuple[str, list[str]]) -> int:
    """Let Radicale parse and cache every item of these calendars, without a server."""
    import radicale.config
    import radicale.storage

    folder, names = args
    conf = radicale.config.load([])
    conf.update({"storage": {"filesystem_folder": folder}}, "bench", privileged=True)
    storage = radicale.storage.load(conf)
    with storage.acquire_lock("w"):
        for name in names:
            for col in storage.discover(f"/caseworkers/{name}/", depth="0"):
                list(col.get_all())  # type: ignore[union-attr]
                col.sync("")  # type: ignore[union-attr]
    return len(names)


def prepared_folder(n: int) -> tuple[Path, scenario.Generated]:
    gen = scenario.generate(
        scenario.load(ROOT / "syncd" / "data" / "large.toml"), start=START, caseworkers=n
    )
    folder = CACHE / f"radicale-{n}"
    if not (folder / "ready").exists():
        shutil.rmtree(folder, ignore_errors=True)
        cals = [c for c in scenario_calendars(gen) if c.kind == "caseworker"]
        write_radicale_folder(folder / "collections" / "collection-root", cals)
        names = [c.name for c in cals]
        chunks = [(str(folder / "collections"), names[i::2]) for i in range(2)]
        t0 = time.monotonic()
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_warm, chunks))
        (folder / "ready").write_text(
            f"{len(names)} calendars, warmed in {time.monotonic() - t0:.0f} s\n"
        )
    return folder, gen


def run_syncd(
    gen: scenario.Generated,
    proxy: LatencyProxy,
    radicale_url: str,
    workers: int,
    work: Path,
    idle_cycles: int = 1,
) -> dict:
    base = proxy.url
    data = {
        "database_url": f"sqlite:///{work / 'syncd.db'}",
        "log_level": "warning",
        "backend": {"kind": "caldav", "url": base, "homes": {f"{base}caseworkers/": "caseworker"}},
        "sync": {"caseworker_calendar": base + "caseworkers/{id}/", "workers": workers},
    }
    config = parse_config(data)
    from syncd.runtime import with_calendar_ids  # noqa: F401  (templates are applied by open_runtime)

    rt = open_runtime(config, directory=gen.directory)
    connector = CalDAVConnector(
        base, calendar_homes={f"{base}caseworkers/": "caseworker"}, max_connections=max(8, workers)
    )
    engine = Engine(rt, connector, default_rules())
    out = {}
    proxy.reset()
    t0 = time.monotonic()
    first = engine.cycle()
    out["first"] = (time.monotonic() - t0, proxy.reset()[0], len(first.failed))
    engine.cycle()  # the server finishes building its caches after the first full read
    idle: list[tuple[float, int]] = []
    for _ in range(idle_cycles):  # the median of several: one cycle on a busy machine is noise
        proxy.reset()
        t0 = time.monotonic()
        engine.cycle()
        idle.append((time.monotonic() - t0, proxy.reset()[0]))
    median = sorted(t for t, _ in idle)[len(idle) // 2]
    out["idle"] = (median, max(r for _, r in idle), _rss_mb())  # requests: the worst cycle
    # 1 % of the calendars change (a person adds a meeting), written straight to the server.
    rng = random.Random(3)
    changed = rng.sample(
        [c.id for c in gen.directory.caseworkers], max(1, len(gen.directory.caseworkers) // 100)
    )
    with httpx.Client(auth=("caseworkers", "x"), timeout=60) as http:
        for cw in changed:
            start = f"{(START + timedelta(days=8)).strftime('%Y%m%d')}T120000Z"
            ics = (
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:bench\r\nBEGIN:VEVENT\r\nUID:bench-"
                + cw
                + f"\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{start}\r\nDURATION:PT1H\r\nSUMMARY:Møde\r\n"
                "END:VEVENT\r\nEND:VCALENDAR\r\n"
            )
            http.put(
                f"{radicale_url}caseworkers/{cw}/bench-{cw}.ics", content=ics.encode()
            ).raise_for_status()
    proxy.reset()
    t0 = time.monotonic()
    report = engine.cycle()
    out["changed"] = (time.monotonic() - t0, proxy.reset()[0], _rss_mb(), len(report.synced))
    connector.close()
    rt.db.dispose()
    return out


def run_vdirsyncer(proxy: LatencyProxy, work: Path) -> dict | None:
    exe = shutil.which("vdirsyncer", path=str(Path(sys.executable).parent)) or shutil.which(
        "vdirsyncer"
    )
    if exe is None:
        return None
    status, local = work / "vdir-status", work / "vdir-local"
    local.mkdir()
    cfg = work / "vdirsyncer.conf"
    cfg.write_text(
        f'[general]\nstatus_path = "{status}"\n\n'
        '[pair cals]\na = "remote"\nb = "local"\ncollections = ["from a"]\n\n'
        f'[storage remote]\ntype = "caldav"\nurl = "{proxy.url}caseworkers/"\nusername = "caseworkers"\npassword = "x"\n\n'
        f'[storage local]\ntype = "filesystem"\npath = "{local}"\nfileext = ".ics"\n'
    )
    env = {**os.environ, "VDIRSYNCER_CONFIG": str(cfg)}
    subprocess.run([exe, "discover"], input=b"y\n" * 5000, env=env, capture_output=True, check=True)
    subprocess.run([exe, "sync"], env=env, capture_output=True, check=True)  # initial download
    proxy.reset()
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [exe, "sync"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status_code, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - t0
    return {"idle": (elapsed, proxy.reset()[0], usage.ru_maxrss / 1024), "exit": status_code}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description="sync benchmark on Radicale")
    p.add_argument("--calendars", type=int, nargs="+", default=[100, 1000, 2000])
    p.add_argument("--delay", type=float, default=0.0, help="seconds added per request by a proxy")
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--no-vdirsyncer", action="store_true")
    p.add_argument(
        "--idle-cycles", type=int, default=1, help="idle cycles to run (median time reported)"
    )
    a = p.parse_args()
    print(
        f"# sync benchmark, Radicale, delay per request {a.delay * 1000:.0f} ms, {a.workers} workers"
    )
    for n in a.calendars:
        t0 = time.monotonic()
        folder, gen = prepared_folder(n)
        prep = time.monotonic() - t0
        home = folder / "collections" / "collection-root" / "caseworkers"
        items = (
            sum(
                len([f for f in os.listdir(home / c) if f.endswith(".ics")])
                for c in os.listdir(home)
            )
            / n
        )
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            shutil.copytree(
                folder / "collections", work / "radicale" / "collections", symlinks=True
            )
            server = start_radicale(work / "radicale")
            try:
                with LatencyProxy(server.url, a.delay) as proxy:
                    ours = run_syncd(gen, proxy, server.url, a.workers, work, a.idle_cycles)
                    vdir = None if a.no_vdirsyncer else run_vdirsyncer(proxy, work)
            finally:
                server.stop()
        f_s, f_req, f_fail = ours["first"]
        i_s, i_req, i_mb = ours["idle"]
        c_s, c_req, c_mb, c_synced = ours["changed"]
        print(
            f"N={n:5d} ({items:.0f} items/cal, prepared in {prep:.0f} s)  "
            f"first sync {f_s:6.1f} s, {f_req / n:.2f} req/cal, {f_fail} failed"
        )
        print(
            f"  syncd      idle      {i_s:7.2f} s  {i_req / n:6.3f} req/cal  ({i_req} requests)  peak RSS {i_mb:6.0f} MB"
        )
        print(
            f"  syncd      1% changed{c_s:7.2f} s  {c_req / n:6.3f} req/cal  ({c_req} requests, {c_synced} calendars synced)  peak RSS {c_mb:6.0f} MB"
        )
        if vdir:
            v_s, v_req, v_mb = vdir["idle"]
            print(
                f"  vdirsyncer idle      {v_s:7.2f} s  {v_req / n:6.3f} req/cal  ({v_req} requests)  peak RSS {v_mb:6.0f} MB"
            )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
