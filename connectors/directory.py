"""The jobcentre's people and rooms as the calendar system knows them, for ``syncd directory
sync``: caseworkers from an Entra ID group (Graph), an Exchange distribution group (EWS
ExpandDL) or the calendars under a CalDAV home; rooms from Exchange room lists (Graph Places,
EWS GetRooms) or a CalDAV rooms home. Backend details stay in the backend's own module."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import CalendarInfo, Connector, ConnectorError


@dataclass(frozen=True)
class Person:
    """A member of the caseworkers' group (or a caseworker calendar under a CalDAV home)."""

    key: str  # stable id in the source: mail address, or the calendar's URL
    name: str
    email: str | None
    calendar_id: str
    department: str | None = None


def people(connector: Connector, group: str | None) -> list[Person]:
    """The caseworkers the source lists: the group's (transitive) members on Graph and EWS,
    the caseworker calendars on CalDAV."""
    from connectors.ews import EWSConnector
    from connectors.graph import GraphConnector

    if isinstance(connector, GraphConnector | EWSConnector):
        if not group:
            raise ConnectorError("directory.caseworkers_group is not set (a group's address)")
        if isinstance(connector, GraphConnector):
            from connectors.graph_directory import group_members
        else:
            from connectors.ews_directory import group_members
        return sorted(group_members(connector, group), key=lambda p: p.key)
    return sorted(
        (
            Person(c.calendar_id, c.name, c.email, c.calendar_id)
            for c in connector.list_calendars()
            if c.kind == "caseworker"
        ),
        key=lambda p: p.key,
    )


def rooms(connector: Connector) -> list[CalendarInfo]:
    """The rooms the source lists, with capacity and accessibility where it knows them."""
    return sorted(
        (c for c in connector.list_calendars() if c.kind == "room"), key=lambda c: c.calendar_id
    )
