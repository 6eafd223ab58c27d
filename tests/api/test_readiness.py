"""/readyz means something without a calendar backend: untried calendar writes are then the
design (nothing takes them), not a stuck outbox; with a backend they still are."""

from __future__ import annotations

import pytest

from syncd.api.ops import readiness
from syncd.runtime import open_runtime
from tests.support import jobcentre
from tests.support.jobcentre import at
from tests.web.helpers import book, open_tuesday


@pytest.mark.parametrize(
    ("backend", "stuck"),
    [({"kind": "none"}, False), ({"kind": "caldav", "url": "http://127.0.0.1:9/"}, True)],
)
def test_outbox_stuck_only_when_a_backend_should_take_the_writes(tmp_path, clock, backend, stuck):
    config = jobcentre.config(f"sqlite:///{tmp_path / 'r.db'}", backend=backend)
    rt = open_runtime(config, clock=clock)
    try:
        open_tuesday(rt, "mette")
        book(rt, "mette", at(0, 9))
        assert readiness(rt) == []
        clock.advance(minutes=20)
        problems = readiness(rt)
        assert any("outbox stuck" in p for p in problems) is stuck, problems
        if not stuck:
            assert problems == []
    finally:
        rt.db.dispose()
