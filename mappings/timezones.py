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
for _win, _iana in WINDOWS_TO_OLSON.items():
    _IANA_TO_WINDOWS.setdefault(_iana, _win)
for _overrides in TERRITORY_OVERRIDES.values():
    for _win, _iana in _overrides.items():
        _IANA_TO_WINDOWS.setdefault(_iana, _win)

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
    # Some servers prefix a path ("/mozilla.org/20050126_1/Europe/Copenhagen").
    match = re.search(r"([A-Z][a-z]+/[A-Za-z_]+)$", cleaned)
    if match:
        found = _iana(match.group(1))
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
    try:
        return _IANA_TO_WINDOWS[key]
    except KeyError:
        raise UnknownTimeZone(f"no Windows name for {key!r}") from None


# Offsets are compared twice a day over these years: a custom zone that agrees with an IANA zone
# on every sample switches on the same days, which is all a calendar of appointments needs.
_SAMPLE_START = datetime(2020, 1, 1, tzinfo=UTC)
_SAMPLE_DAYS = 366 * 16


def equivalent_zone(tz: tzinfo, candidates: tuple[ZoneInfo, ...]) -> ZoneInfo | None:
    """The first candidate IANA zone with the same UTC offsets as ``tz`` from 2020 to 2035.

    Outlook and others send home-made VTIMEZONE blocks ("Customized Time Zone"); mapping them to
    a real zone keeps recurrence expansion fast and makes rendered times name a proper zone.
    """
    for candidate in candidates:
        if _same_offsets(tz, candidate):
            return candidate
    return None


def _same_offsets(a: tzinfo, b: tzinfo) -> bool:
    step = timedelta(hours=12)
    moment = _SAMPLE_START
    for _ in range(_SAMPLE_DAYS * 2):
        try:
            if moment.astimezone(a).utcoffset() != moment.astimezone(b).utcoffset():
                return False
        except (ValueError, OverflowError, TypeError):
            return False
        moment += step
    return True
