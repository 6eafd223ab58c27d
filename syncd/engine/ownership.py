"""Which calendar items are ours. We mark every event we write with our external id
("selvbook-<booking id>"), as the connector's own property and, where the backend allows, as the
event's UID. Exchange's copy of a meeting in a room's calendar keeps the UID but not our property,
so the UID counts too.

Booking ids are made without digits (``store.bookings.new_booking_id``), so no external id can
look like a CPR number. Ids made before that were random hex, and about one in 1,900 holds ten
digits that read as one: the render guard (rightly) refuses to put that into a calendar. Such a
booking gets a derived external id instead, its digits spelt as letters (``selvbook-x-...``);
every other id keeps the external id it has always had, so events already written stay ours.
"""

from __future__ import annotations

import re

from connectors.base import CalendarItem
from mappings.privacy import contains_cpr

PREFIX = "selvbook-"
DERIVED = f"{PREFIX}x-"
_LEGACY_ID = re.compile(r"^b-[0-9a-f]+$")
_DIGITS_AS_LETTERS = str.maketrans("0123456789", "ghijklmnop")
_LETTERS_AS_DIGITS = str.maketrans("ghijklmnop", "0123456789")


def external_id_for(booking_id: str) -> str:
    plain = f"{PREFIX}{booking_id}"
    if contains_cpr(plain) and _LEGACY_ID.match(booking_id):
        return DERIVED + booking_id.translate(_DIGITS_AS_LETTERS)
    return plain


def booking_for_external_id(external_id: str) -> str | None:
    if external_id.startswith(DERIVED):
        return external_id.removeprefix(DERIVED).translate(_LETTERS_AS_DIGITS)
    return external_id.removeprefix(PREFIX) if external_id.startswith(PREFIX) else None


def is_ours(item: CalendarItem) -> bool:
    return our_id(item) is not None


def our_id(item: CalendarItem) -> str | None:
    """Our external id on an item, or None. Only ids of our own form count: a copy that kept
    the property under another value is somebody else's item."""
    for candidate in (item.external_id, item.uid):
        if candidate and booking_for_external_id(candidate):
            return candidate
    return None
