"""Windows <-> IANA time zone names.

Exchange and Outlook name zones the Windows way ("Romance Standard Time"); iCalendar and Python
use IANA names. The CLDR default for a Windows zone is one city (Europe/Paris for Romance), which
has the same offsets but is the wrong name for a Danish municipality, so a territory override
comes first. Real servers also send localised display names ("(UTC+01:00) Bruxelles, København,
Madrid, Paris"); those are matched on the cities they list.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

# Windows zone -> IANA zone per territory, where the territory's own city differs from CLDR's
# default. Extend per municipality through configuration (``territory``).
TERRITORY_OVERRIDES: dict[str, dict[str, str]] = {
    "DK": {"Romance Standard Time": "Europe/Copenhagen"},
    "SE": {"W. Europe Standard Time": "Europe/Stockholm"},
    "NO": {"W. Europe Standard Time": "Europe/Oslo"},
    "DE": {"W. Europe Standard Time": "Europe/Berlin"},
}

# The zone a territory's floating times and unnamed custom zones mean.
TERRITORY_ZONES: dict[str, str] = {
    "DK": "Europe/Copenhagen",
    "SE": "Europe/Stockholm",
    "NO": "Europe/Oslo",
    "DE": "Europe/Berlin",
}

# City names seen in localised Windows display names, mapped to IANA zones. Copenhagen comes
# first: display names list several cities and a Danish server's own city should win.
_CITY_HINTS: tuple[tuple[str, str], ...] = (
    ("københavn", "Europe/Copenhagen"),
    ("kobenhavn", "Europe/Copenhagen"),
    ("copenhagen", "Europe/Copenhagen"),
    ("kopenhagen", "Europe/Copenhagen"),
    ("copenhague", "Europe/Copenhagen"),
    ("copenaghen", "Europe/Copenhagen"),
    ("köpenhamn", "Europe/Copenhagen"),
    ("kööpenhamina", "Europe/Copenhagen"),
    ("kopenhaga", "Europe/Copenhagen"),
    ("stockholm", "Europe/Stockholm"),
    ("oslo", "Europe/Oslo"),
    ("berlin", "Europe/Berlin"),
    ("amsterdam", "Europe/Amsterdam"),
    ("london", "Europe/London"),
    ("dublin", "Europe/London"),
    ("helsinki", "Europe/Helsinki"),
)

_IANA_TO_WINDOWS: dict[str, str] = {}
for _windows_key, _iana_key in WINDOWS_TO_OLSON.items():
    _IANA_TO_WINDOWS.setdefault(_iana_key, _windows_key)
for _overrides in TERRITORY_OVERRIDES.values():
    for _windows_key, _iana_key in _overrides.items():
        _IANA_TO_WINDOWS.setdefault(_iana_key, _windows_key)

_WINDOWS_LOWER: dict[str, str] = {k.lower(): v for k, v in WINDOWS_TO_OLSON.items()}
_UTC_NAMES = frozenset({"UTC", "Z", "GMT", "ETC/UTC", "ETC/GMT", "COORDINATED UNIVERSAL TIME"})
_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$")


class UnknownTimeZone(ValueError):
    """A zone name that is neither IANA, Windows, nor a recognisable display name."""


def _iana(key: str) -> ZoneInfo | None:
    if not _SIMPLE_KEY.match(key):
        return None
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@lru_cache(maxsize=512)
def zone_for(name: str, territory: str = "DK") -> ZoneInfo:
    """The IANA zone for any zone name a calendar server may send."""
    cleaned = name.strip().strip('"').strip()
    if not cleaned:
        raise UnknownTimeZone("empty time zone name")
    if cleaned.upper() in _UTC_NAMES:
        return ZoneInfo("UTC")
    overrides = {k.lower(): v for k, v in TERRITORY_OVERRIDES.get(territory.upper(), {}).items()}
    lowered = cleaned.lower()
    if lowered in overrides:
        return ZoneInfo(overrides[lowered])
    if lowered in _WINDOWS_LOWER:
        return ZoneInfo(_WINDOWS_LOWER[lowered])
    direct = _iana(cleaned)
    if direct is not None:
        return direct
    for city, iana in _CITY_HINTS:
        if city in lowered:
            return ZoneInfo(iana)
    # Some servers prefix a path ("/mozilla.org/20050126_1/Europe/Copenhagen",
    # "/freeassociation.sourceforge.net/Tzfile/America/Argentina/Buenos_Aires").
    parts = [p for p in cleaned.split("/") if p]
    for first in range(1, len(parts) - 1):
        found = _iana("/".join(parts[first:]))
        if found is not None:
            return found
    raise UnknownTimeZone(f"unknown time zone {cleaned!r}")


def default_zone(territory: str = "DK") -> ZoneInfo:
    """The zone floating times mean in ``territory`` (Europe/Copenhagen for Denmark)."""
    try:
        return ZoneInfo(TERRITORY_ZONES[territory.upper()])
    except KeyError:
        raise UnknownTimeZone(f"no default zone for territory {territory!r}") from None


def windows_name(zone: ZoneInfo | str) -> str:
    """The Windows zone name Exchange expects for an IANA zone ("Romance Standard Time")."""
    key = zone if isinstance(zone, str) else zone.key
    if key.upper() in _UTC_NAMES:
        return "UTC"
    try:
        return _IANA_TO_WINDOWS[key]
    except KeyError:
        raise UnknownTimeZone(f"no Windows name for {key!r}") from None


# A custom zone is compared with a candidate at every candidate transition from 2020 to 2035
# (an hour before and after) and between transitions: agreeing there means switching at the same
# moments, which is all a calendar of appointments needs.
_SAMPLE_START = datetime(2020, 1, 1, 12, tzinfo=UTC)
_SAMPLE_DAYS = 366 * 16


def equivalent_zone(tz: tzinfo, candidates: tuple[ZoneInfo, ...]) -> ZoneInfo | None:
    """The first candidate IANA zone with the same UTC offsets as ``tz`` from 2020 to 2035.

    Outlook and others send home-made VTIMEZONE blocks ("Customized Time Zone"); mapping them to
    a real zone keeps recurrence expansion fast and makes rendered times name a proper zone.
    """
    for candidate in candidates:
        if all(_offset(moment, tz) == _offset(moment, candidate) for moment in _probes(candidate)):
            return candidate
    return None


def _offset(moment: datetime, tz: tzinfo) -> timedelta | None:
    try:
        return moment.astimezone(tz).utcoffset()
    except (ValueError, OverflowError, TypeError):
        return None


@lru_cache(maxsize=32)
def _probes(zone: ZoneInfo) -> tuple[datetime, ...]:
    """Instants that pin down ``zone``'s offsets: around each transition and between them."""
    day = timedelta(days=1)
    probes = [_SAMPLE_START]
    previous = _SAMPLE_START
    for n in range(1, _SAMPLE_DAYS):
        moment = _SAMPLE_START + n * day
        if moment.astimezone(zone).utcoffset() != previous.astimezone(zone).utcoffset():
            low, high = previous, moment  # bisect to the hour of the change
            while high - low > timedelta(hours=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = middle
                else:
                    high = middle
            probes += [low - timedelta(hours=1), low, high, high + timedelta(hours=1)]
        if n % 30 == 0:
            probes.append(moment)
        previous = moment
    return tuple(probes)
