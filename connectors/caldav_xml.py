"""WebDAV/CalDAV XML: request bodies built from python-caldav's elements, and a reader for
the 207 multistatus trees the library parses.

The reader keeps what the library's own result types leave out and the connector needs: each
response's and each propstat's status (a 404 inside a 207, a property the server would not give),
and the raw property elements (resourcetype, privileges, component sets, our own properties).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from caldav.elements import cdav
from caldav.elements import dav as davel
from caldav.elements.base import BaseElement
from lxml import etree

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
# Our own dead property on a calendar collection: "room" or "caseworker".
SELVBOOK = "https://selvbook.dk/ns/syncd"

_PREFIXES = {"D": DAV, "C": CALDAV, "CS": CS, "S": SELVBOOK}


def tag(qname: str) -> str:
    """``"D:getetag"`` -> ``"{DAV:}getetag"`` (ElementTree's Clark notation)."""
    prefix, local = qname.split(":", 1)
    return f"{{{_PREFIXES[prefix]}}}{local}"


class _Property(BaseElement):
    """Any property by name (the library has classes only for the common ones)."""

    def __init__(self, qname: str) -> None:
        super().__init__()
        self.tag = tag(qname)  # type: ignore[misc]


def _serialize(root: BaseElement) -> bytes:
    return etree.tostring(root.xmlelement(), encoding="utf-8", xml_declaration=True)


def _props(names: Iterable[str]) -> BaseElement:
    return davel.Prop() + [_Property(n) for n in names]


def propfind(names: Iterable[str]) -> bytes:
    return _serialize(davel.Propfind() + _props(names))


def sync_collection(token: str, names: Iterable[str] = ("D:getetag",)) -> bytes:
    """RFC 6578 sync-collection; an empty token asks for the full listing."""
    return _serialize(
        davel.SyncCollection().append(
            [davel.SyncToken(value=token), davel.SyncLevel(value="1"), _props(names)]
        )
    )


def multiget(hrefs: Sequence[str]) -> bytes:
    return _serialize(
        cdav.CalendarMultiGet().append(
            [_props(["D:getetag", "C:calendar-data"]), *(davel.Href(value=h) for h in hrefs)]
        )
    )


def _event_query(condition: BaseElement) -> bytes:
    vevent = cdav.CompFilter("VEVENT") + condition
    return _serialize(
        cdav.CalendarQuery().append(
            [
                _props(["D:getetag", "C:calendar-data"]),
                cdav.Filter() + (cdav.CompFilter("VCALENDAR") + vevent),
            ]
        )
    )


def query_by_uid(uid: str) -> bytes:
    """calendar-query for events whose UID contains ``uid`` (callers check equality)."""
    return _event_query(cdav.PropFilter("UID") + cdav.TextMatch(uid, collation="i;octet"))


def query_time_range(start: datetime, end: datetime) -> bytes:
    """calendar-query for events overlapping [start, end) (recurrences included by the server)."""
    return _event_query(cdav.TimeRange(start, end))


def free_busy_query(start: datetime, end: datetime) -> bytes:
    return _serialize(cdav.FreeBusyQuery() + cdav.TimeRange(start, end))


@dataclass
class DavResponse:
    """One <D:response>: its href, its own status (e.g. 404 for a deletion) and found props."""

    href: str
    status: int | None = None
    props: dict[str, Any] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)  # props answered with a non-2xx status

    def text(self, qname: str) -> str | None:
        el = self.props.get(tag(qname))
        if el is None:
            return None
        return "".join(el.itertext()).strip()

    def has(self, qname: str) -> bool:
        return tag(qname) in self.props

    def child_tags(self, qname: str) -> set[str]:
        """Clark names of the children of a prop (resourcetype, privileges, ...)."""
        el = self.props.get(tag(qname))
        return {c.tag for c in el.iter() if c is not el} if el is not None else set()

    def hrefs(self, qname: str) -> list[str]:
        el = self.props.get(tag(qname))
        if el is None:
            return []
        return [(h.text or "").strip() for h in el.iter(tag("D:href")) if (h.text or "").strip()]


@dataclass
class Multistatus:
    responses: list[DavResponse]
    sync_token: str | None = None


def _status_code(text: str | None) -> int | None:
    parts = (text or "").split()
    if len(parts) >= 2 and parts[1].isdigit():
        return int(parts[1])
    return None


def parse_multistatus(root: Any) -> Multistatus:
    """Read the library's parsed 207 tree. ``ValueError`` on something that is no multistatus."""
    if root is None:
        raise ValueError("empty answer where a multistatus was expected")
    if root.tag != tag("D:multistatus"):
        raise ValueError(f"expected multistatus, got {root.tag}")
    responses = []
    for resp in root.findall(tag("D:response")):
        href_el = resp.find(tag("D:href"))
        href = (href_el.text or "").strip() if href_el is not None else ""
        item = DavResponse(href=href, status=_status_code(resp.findtext(tag("D:status"))))
        for propstat in resp.findall(tag("D:propstat")):
            code = _status_code(propstat.findtext(tag("D:status"))) or 0
            prop = propstat.find(tag("D:prop"))
            for el in prop if prop is not None else ():
                if 200 <= code < 300:
                    item.props[el.tag] = el
                else:
                    item.missing.add(el.tag)
        responses.append(item)
    token = root.findtext(tag("D:sync-token"))
    return Multistatus(responses=responses, sync_token=token.strip() if token else None)
