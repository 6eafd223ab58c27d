"""The README's main command end to end: the demo starts Radicale with the generated jobcentre,
syncs it, serves the API, lets simulated citizens book, and the bookings reach the calendars."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_runs_end_to_end(tmp_path):
    port = _free_port()
    work = tmp_path / "demo"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncd.cli",
            "demo",
            "--workdir",
            str(work),
            "--port",
            str(port),
            "--duration",
            "25",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]
    assert "Booking API:" in out and "demo stopped:" in out
    assert "demo: [1] generating the jobcentre" in out and "set up in" in out  # never silent
    stats = out.split("demo stopped:")[1]
    assert "'booked': 0" not in stats, out[-2000:]
    # The bookings reached the caseworkers' calendars as our own private events.
    ours = [
        p
        for p in (work / "radicale" / "collections" / "collection-root" / "caseworkers").rglob(
            "selvbook-*.ics"
        )
    ]
    assert ours, out[-2000:]
    text = ours[0].read_text()
    assert "X-SELVBOOK-ID" in text and "CLASS:PRIVATE" in text and "(selvbooket)" in text
    assert "demo-" not in text  # the citizen reference never reaches a calendar
    # The store agrees with itself afterwards.
    from syncd.store.db import Database
    from syncd.store.verify import find_violations

    db = Database(f"sqlite:///{work / 'syncd.db'}")
    assert find_violations(db) == []
    # The simulated citizens book as citizens: the dashboard's self-booking share is above 0 %.
    from sqlalchemy import func, select

    from syncd.store.tables import BookingRow

    with db.read() as s:
        by = dict(
            tuple(row)
            for row in s.execute(
                select(BookingRow.booked_by, func.count()).group_by(BookingRow.booked_by)
            )
        )
        self_booked = s.scalar(select(func.count()).where(BookingRow.self_booked))
    assert by.get("citizen", 0) > 0 and "staff" not in by and self_booked == by["citizen"], by
    db.dispose()
