"""A shortfall in the Kapacitet forecast reaches the coordinators by e-mail (real SMTP), once,
and shows as a Prometheus gauge labelled by site, type and week only."""

from __future__ import annotations

from datetime import date

from prometheus_client import generate_latest

from syncd.capacity.demand import DemandCount
from syncd.capacity_notices import CapacityNotices, attach
from syncd.capacity_report import reports_of
from syncd.metrics import REGISTRY, register_store
from syncd.notify import Notifier
from syncd.store.capacity import save_demand
from tests.support.jobcentre import at
from tests.test_notices import TO, body, notifications, smtp  # noqa: F401 (fixture)
from tests.web.helpers import book, open_tuesday


def with_demand(rt, count: int) -> None:
    with rt.db.write() as s:
        save_demand(
            s,
            [DemandCount("lilleby", "jobsamtale", date(2026, 11, 30), date(2026, 12, 11), count)],
            source="test",
            now=rt.clock(),
        )


def test_a_new_shortfall_is_told_once_and_again_only_after_it_cleared(rt, smtp):  # noqa: F811
    inbox, port = smtp
    open_tuesday(rt)
    book(rt, "mette", at(0, 9), citizen="citizen-secret-8")
    notices = CapacityNotices(Notifier(notifications(port)), dashboard_url="https://x/dashboard")
    attach(rt, notices)
    reports = reports_of(rt)
    assert reports.current() and inbox.messages == []  # no demand, nothing short

    with_demand(rt, 60)
    reports.invalidate()
    reports.current()
    [message] = inbox.wait_for(1)
    assert message["To"] == TO
    assert message["Subject"] == "Kapacitet: 1 uge med for få tider · Jobcenter Lilleby"
    text = body(message)
    assert "uge 50, Jobcenter Lilleby, jobsamtale: ca. " in text
    assert "https://x/dashboard/capacity?site=lilleby" in text
    assert "citizen-secret-8" not in text

    reports.invalidate()
    reports.current()  # the same shortfall: not told again
    with_demand(rt, 0)  # Tuesday's times are the only ones: only no demand clears it
    reports.invalidate()
    reports.current()  # cleared
    with_demand(rt, 60)
    reports.invalidate()
    reports.current()  # back: told again
    assert len(inbox.wait_for(2)) == 2


def test_the_shortfall_gauge_has_site_type_and_week_labels_only(rt):
    open_tuesday(rt)
    with_demand(rt, 60)
    register_store(rt)
    assert "syncd_capacity_shortfall" not in generate_latest(REGISTRY).decode()  # not built yet
    reports_of(rt).current()
    text = generate_latest(REGISTRY).decode()
    lines = [x for x in text.splitlines() if x.startswith("syncd_capacity_shortfall{")]
    short = [x for x in lines if 'week="2026-W50"' in x and 'type="jobsamtale"' in x]
    assert short and float(short[0].rsplit(" ", 1)[1]) > 0
    assert all(x.count("=") == 3 and 'site="lilleby"' in x for x in lines)
