"""Windows <-> IANA time zone names.

Exchange and Outlook name zones the Windows way ("Romance Standard Time"); iCalendar and Python
use IANA names. The CLDR default for a Windows zone is one city (Europe/Paris for Romance), which
has the same offsets but is the wrong name for a Danish municipality, so a territory override
comes first. Real servers also send localised display names ("(UTC+01:00) Bruxelles, København,
Madrid, Paris"); those are matched on the cities they list.
"""

from __future__ import annotations

import re
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

# City names seen in localised Windows display names, mapped to IANA zones.
_CITY_HINTS: tuple[tuple[str, str], ...] = (
    ("københavn", "Europe/Copenhagen"),
    ("copenhagen", "Europe/Copenhagen"),
    ("kopenhagen", "Europe/Copenhagen"),
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


class UnknownTimeZone(ValueError):
    """A zone name that is neither IANA, Windows, nor a recognisable display name."""


@lru_cache(maxsize=512)
def zone_for(name: str, territory: str = "DK") -> ZoneInfo:
    """The IANA zone for any zone name a calendar server may send."""
    cleaned = name.strip().strip('"')
    if not cleaned:
        raise UnknownTimeZone("empty time zone name")
    if cleaned.upper() in ("UTC", "Z", "GMT", "ETC/UTC", "COORDINATED UNIVERSAL TIME"):
        return ZoneInfo("UTC")
    override = TERRITORY_OVERRIDES.get(territory.upper(), {}).get(cleaned)
    if override:
        return ZoneInfo(override)
    if cleaned in WINDOWS_TO_OLSON:
        return ZoneInfo(WINDOWS_TO_OLSON[cleaned])
    if "/" in cleaned and not cleaned.startswith("("):
        try:
            return ZoneInfo(cleaned)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    lowered = cleaned.lower()
    for city, iana in _CITY_HINTS:
        if city in lowered:
            return ZoneInfo(iana)
    # Some servers prefix a path ("/mozilla.org/20050126_1/Europe/Copenhagen").
    match = re.search(r"([A-Z][a-z]+/[A-Za-z_]+)$", cleaned)
    if match:
        try:
            return ZoneInfo(match.group(1))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise UnknownTimeZone(f"unknown time zone {cleaned!r}")


def windows_name(zone: ZoneInfo | str) -> str:
    """The Windows zone name Exchange expects for an IANA zone ("Romance Standard Time")."""
    key = zone if isinstance(zone, str) else zone.key
    try:
        return _IANA_TO_WINDOWS[key]
    except KeyError:
        raise UnknownTimeZone(f"no Windows name for {key!r}") from None
