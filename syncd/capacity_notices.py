"""E-mail notice to coordinators when the Kapacitet forecast finds a week that falls short.

Each new report is compared with what was already told: a site hears once about a (type, week)
that falls short, and again only if it has cleared and come back. Sent through the
coordinators' notifier (``syncd.notify``) to the sites that opted in to ``capacity_shortfall``.
What was told is kept in memory: after a restart a site hears about a standing shortfall once
more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from syncd.capacity_report import Report, reports_of
from syncd.notify import Notice, Notifier

KIND = "capacity_shortfall"


class CapacityNotices:
    def __init__(
        self,
        notifier: Notifier,
        *,
        dashboard_url: str = "",
        may_send: Callable[[], bool] = lambda: True,
    ) -> None:
        self.notifier = notifier
        self.dashboard_url = dashboard_url.rstrip("/")
        self.may_send = may_send
        self.told: set[tuple[str, str, date]] = set()

    def on_report(self, report: Report) -> list[Notice]:
        """Send what is new in ``report``; returns the notices sent."""
        short = {(r.site_id, r.type_code, r.week) for r in report.forecast.short_weeks()}
        self.told &= short  # cleared weeks may be told again if they come back
        new = short - self.told
        if not new:
            return []
        sent = []
        for site_id in sorted({s for s, _, _ in new}):
            if not self.notifier.wants(site_id, KIND) or not self.may_send():
                continue
            lines = [
                f"- {a.text}"
                for a in report.advice
                if a.kind == "shortfall" and (a.site_id, a.type_code, a.week) in new
            ]
            notice = self._notice(report, site_id, lines)
            if self.notifier.notify(notice):
                sent.append(notice)
                self.told |= {k for k in new if k[0] == site_id}
        return sent

    def _notice(self, report: Report, site_id: str, lines: list[str]) -> Notice:
        place = report.site_names.get(site_id, site_id)
        n = len(lines)
        subject = f"Kapacitet: {n} uge{'r' if n != 1 else ''} med for få tider · {place}"
        body = (
            "Prognosen viser, at ikke alle borgere med frist får en tid inden deres sidste "
            "dato, hvis tiderne forbliver som nu:\n\n" + "\n".join(lines)
        )
        if self.dashboard_url:
            body += f"\n\nSe Kapacitet: {self.dashboard_url}/capacity?site={site_id}\n"
        return Notice(site_id, KIND, subject, body)


def attach(rt: object, notices: CapacityNotices) -> None:
    """Hear every new report of the runtime."""
    reports_of(rt).listeners.append(notices.on_report)
