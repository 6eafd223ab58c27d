"""Structured JSON logs. Every string value passes a CPR scrubber and secret-looking keys are
dropped before anything is written: a log line must never carry a CPR number, secret or token."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from mappings.privacy import redact_cpr

_SECRET_KEYS = ("password", "secret", "token", "authorization", "api_key", "apikey", "cookie")


def _scrub(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        lowered = key.lower()
        if any(s in lowered for s in _SECRET_KEYS):
            event[key] = "[skjult]"
        elif isinstance(event[key], str):
            event[key] = redact_cpr(event[key])
    return event


class _ScrubFilter(logging.Filter):
    """Also scrub records from libraries that log through the standard library."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format string must not kill logging
            return True
        cleaned = redact_cpr(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def configure_logging(level: str = "info", fmt: str = "json", stream: Any = None) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # The traceback as text (not "<traceback object at 0x...>"), scrubbed like the rest.
        structlog.processors.format_exc_info,
        _scrub,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    handler.addFilter(_ScrubFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries' warnings (icalendar's about odd time zones, ...) become log records through
    # the same handler, so JSON logs stay JSON and pass the same scrubber.
    logging.captureWarnings(False)  # re-hook even if something replaced showwarning since
    logging.captureWarnings(True)
    for noisy in ("httpx", "httpcore", "caldav", "exchangelib", "msal", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
