"""Zone names as servers send them -> IANA zones, and back to Windows names for Exchange."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from mappings.timezones import (
    UnknownTimeZone,
    default_zone,
    equivalent_zone,
    windows_name,
    zone_for,
)
from tests.mappings.helpers import CUSTOM_CET, CUSTOM_PLUS3, vcal

CPH = ZoneInfo("Europe/Copenhagen")


@pytest.mark.parametrize(
    ("name", "territory", "expected"),
    [
        ("Romance Standard Time", "DK", "Europe/Copenhagen"),
        ("romance standard time", "DK", "Europe/Copenhagen"),
        ("Romance Standard Time", "FR", "Europe/Paris"),  # CLDR's default elsewhere
        ("W. Europe Standard Time", "DK", "Europe/Berlin"),
        ("W. Europe Standard Time", "SE", "Europe/Stockholm"),
        ("GMT Standard Time", "DK", "Europe/London"),
        ("Europe/Copenhagen", "DK", "Europe/Copenhagen"),
        ('"Europe/Copenhagen"', "DK", "Europe/Copenhagen"),
        ("CET", "DK", "CET"),
        ("UTC", "DK", "UTC"),
        ("Z", "DK", "UTC"),
        ("Coordinated Universal Time", "DK", "UTC"),
        ("(UTC+01:00) Bruxelles, København, Madrid, Paris", "DK", "Europe/Copenhagen"),
        ("(UTC+01:00) Brussels, Copenhagen, Madrid, Paris", "DK", "Europe/Copenhagen"),
        ("(UTC+01:00) Brüssel, Kopenhagen, Madrid, Paris", "DK", "Europe/Copenhagen"),
        ("(UTC+01:00) Bruxelles, Copenhague, Madrid, Paris", "DK", "Europe/Copenhagen"),
        ("(UTC+01:00) Bryssel, Köpenhamn, Madrid, Paris", "DK", "Europe/Copenhagen"),
        ("(GMT+01:00) Amsterdam, Berlin, Bern, Rom, Stockholm, Wien", "DK", "Europe/Stockholm"),
        ("/mozilla.org/20050126_1/Europe/Copenhagen", "DK", "Europe/Copenhagen"),
        ("/citadel.org/20190914_1/Europe/Copenhagen", "DK", "Europe/Copenhagen"),
        (
            "/freeassociation.sourceforge.net/Tzfile/America/Argentina/Buenos_Aires",
            "DK",
            "America/Argentina/Buenos_Aires",
        ),
    ],
)
def test_zone_for(name: str, territory: str, expected: str) -> None:
    assert zone_for(name, territory) == ZoneInfo(expected)


@pytest.mark.parametrize(
    "name", ["", "   ", "Mars/Olympus", "Customized Time Zone", "../../etc/passwd"]
)
def test_unknown_zone_names(name: str) -> None:
    with pytest.raises(UnknownTimeZone):
        zone_for(name)


def test_windows_name() -> None:
    assert windows_name(CPH) == "Romance Standard Time"
    assert windows_name("Europe/Berlin") == "W. Europe Standard Time"
    assert windows_name("UTC") == "UTC"
    with pytest.raises(UnknownTimeZone):
        windows_name("Mars/Olympus")


def test_default_zone() -> None:
    assert default_zone() == CPH and default_zone("dk") == CPH
    with pytest.raises(UnknownTimeZone):
        default_zone("XX")


def _custom(block: str):
    cal = Calendar.from_ical(vcal(zones=block))
    (zone,) = [c for c in cal.subcomponents if c.name == "VTIMEZONE"]
    return zone.to_tz(lookup_tzid=False)


def test_equivalent_zone_recognises_a_home_made_copenhagen() -> None:
    assert equivalent_zone(_custom(CUSTOM_CET), (CPH,)) == CPH
    assert equivalent_zone(ZoneInfo("Europe/Berlin"), (CPH,)) == CPH  # same rules since 1980


def test_equivalent_zone_refuses_other_rules() -> None:
    assert equivalent_zone(_custom(CUSTOM_PLUS3), (CPH,)) is None
    assert equivalent_zone(ZoneInfo("Europe/London"), (CPH,)) is None
    assert equivalent_zone(timezone(timedelta(hours=1)), (CPH,)) is None  # no summer time
    # Switching a week late is caught, not just a different offset.
    late = CUSTOM_CET.replace("BYDAY=-1SU;BYMONTH=3", "BYDAY=1SU;BYMONTH=4")
    assert equivalent_zone(_custom(late), (CPH,)) is None
    first = ZoneInfo("Europe/London")
    assert equivalent_zone(ZoneInfo("Europe/Lisbon"), (CPH, first)) == first


def test_zones_behave_around_the_changes() -> None:
    before = datetime(2026, 3, 29, 1, 59, tzinfo=CPH)
    after = datetime(2026, 3, 29, 3, 0, tzinfo=CPH)
    assert before.utcoffset() == timedelta(hours=1) and after.utcoffset() == timedelta(hours=2)
