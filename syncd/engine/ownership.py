"""Which calendar items are ours. We mark every event we write with our external id
("selvbook-<booking id>"), as the connector's own property and, where the backend allows, as the
event's UID. Exchange's copy of a meeting in a room's calendar keeps the UID but not our property,
so the UID counts too."""

from __future__ import annotations

from connectors.base import CalendarItem

PREFIX = "selvbook-"


def external_id_for(booking_id: str) -> str:
    return f"{PREFIX}{booking_id}"


def booking_for_external_id(external_id: str) -> str | None:
    return external_id.removeprefix(PREFIX) if external_id.startswith(PREFIX) else None


def is_ours(item: CalendarItem) -> bool:
    return bool(item.external_id) or item.uid.startswith(PREFIX)


def our_id(item: CalendarItem) -> str | None:
    if item.external_id:
        return item.external_id
    return item.uid if item.uid.startswith(PREFIX) else None
