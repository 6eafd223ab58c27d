"""E-mail notices to room coordinators: one small module any part of syncd can send through.

A ``Notice`` names its site and kind; the site's opt-in in ``[notifications]`` decides who, if
anyone, gets it. Sending never raises into the caller: a mail server that is down is logged
(without the text, which may name a booking reference) and counted, and the work that caused
the notice goes on."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from mappings.privacy import contains_cpr
from syncd import metrics
from syncd.config import NotificationsConfig
from syncd.logs import get_logger

log = get_logger("syncd.notify")


@dataclass(frozen=True)
class Notice:
    """One e-mail to a site's coordinators. ``kind`` is what they opted in to (room_lost,
    room_declined, write_failing, daily_summary, or a kind another part adds)."""

    site_id: str
    kind: str
    subject: str
    body: str


class Mailer:
    """SMTP, as configured: plain, STARTTLS or TLS, with optional login."""

    def __init__(self, config: NotificationsConfig) -> None:
        self.config = config

    def send(self, to: tuple[str, ...], subject: str, body: str) -> None:
        c = self.config
        message = EmailMessage()
        message["From"] = c.sender
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain=c.sender.rpartition("@")[2] or None)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        message.set_content(body)
        if c.smtp_security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                c.smtp_host, c.smtp_port, timeout=c.smtp_timeout_seconds,
                context=ssl.create_default_context(),
            )  # fmt: skip
        else:
            smtp = smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=c.smtp_timeout_seconds)
        with smtp:
            if c.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            password = c.resolved_password()
            if c.smtp_username and password:
                smtp.login(c.smtp_username, password)
            smtp.send_message(message)


class Notifier:
    """Sends notices to the sites that opted in to their kind."""

    def __init__(self, config: NotificationsConfig, mailer: Mailer | None = None) -> None:
        self.config = config
        self.mailer = mailer or Mailer(config)

    @property
    def enabled(self) -> bool:
        return self.config.enabled and bool(self.config.sites)

    def recipients(self, site_id: str, kind: str) -> tuple[str, ...]:
        if not self.config.enabled:
            return ()
        out: list[str] = []
        for site in self.config.sites:
            if site.site == site_id and kind in site.notices:
                out += [a for a in site.to if a not in out]
        return tuple(out)

    def wants(self, site_id: str, kind: str) -> bool:
        return bool(self.recipients(site_id, kind))

    def notify(self, notice: Notice) -> bool:
        """Send ``notice`` to whoever opted in; True if it was sent."""
        to = self.recipients(notice.site_id, notice.kind)
        if not to:
            return False
        if contains_cpr(notice.subject) or contains_cpr(notice.body):
            log.error("notice refused: it contains a CPR number", kind=notice.kind)
            return False
        try:
            self.mailer.send(to, notice.subject, notice.body)
        except (OSError, smtplib.SMTPException) as exc:
            metrics.NOTICES.labels(kind=notice.kind, result="failed").inc()
            log.warning(
                "notice not sent", kind=notice.kind, site=notice.site_id, error=type(exc).__name__
            )
            return False
        metrics.NOTICES.labels(kind=notice.kind, result="sent").inc()
        log.info("notice sent", kind=notice.kind, site=notice.site_id, recipients=len(to))
        return True
