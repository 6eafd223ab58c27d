"""Library warnings reach the log as records of the configured format, never as stray text."""

from __future__ import annotations

import io
import json
import logging
import warnings

from mappings.ical import parse_resource
from syncd.logs import configure_logging

VENDOR_TZID = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:v\r\n"
    "DTSTAMP:20261101T000000Z\r\n"
    "DTSTART;TZID=/freeassociation.sourceforge.net/Europe/Copenhagen:20261202T100000\r\n"
    "DTEND;TZID=/freeassociation.sourceforge.net/Europe/Copenhagen:20261202T110000\r\n"
    "SUMMARY:Møde\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_icalendar_warnings_are_json_log_lines() -> None:
    stream = io.StringIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            configure_logging("info", "json", stream=stream)
            parse_resource(VENDOR_TZID, "/cal/v.ics")
    finally:
        logging.captureWarnings(False)
        logging.getLogger().handlers.clear()
        logging.getLogger().setLevel(logging.WARNING)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert any("globally unique" in line["event"] for line in lines), lines
    assert all(line["level"] == "warning" for line in lines)
