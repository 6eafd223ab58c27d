"""WebDAV/CalDAV XML: the few request bodies we send and a reader for 207 multistatus replies.

Written by hand rather than through the caldav library because these REPORT/PROPFIND bodies are
short, and owning them lets one request answer for many calendars (a Depth 1 PROPFIND on a
calendar home) or many items (one calendar-multiget) instead of one request each.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.sax.saxutils import escape

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
# Our own dead property on a calendar collection: "room" or "caseworker".
SELVBOOK = "https://selvbook.dk/ns/syncd"

_PREFIXES = {"D": DAV, "C": CALDAV, "CS": CS, "S": SELVBOOK}
_XMLNS = " ".join(f'xmlns:{p}="{ns}"' for p, ns in _PREFIXES.items())


def tag(qname: str) -> str:
    """``"D:getetag"`` -> ``"{DAV:}getetag"`` (ElementTree's Clark notation)."""
    prefix, local = qname.split(":", 1)
    return f"{{{_PREFIXES[prefix]}}}{local}"


def _doc(root: str, inner: str) -> bytes:
    return f'<?xml version="1.0" encoding="utf-8"?><{root} {_XMLNS}>{inner}</{root}>'.encode()


def _props(names: Iterable[str]) -> str:
    return "<D:prop>" + "".join(f"<{n}/>" for n in names) + "</D:prop>"


def propfind(names: Iterable[str]) -> bytes:
    return _doc("D:propfind", _props(names))


def sync_collection(token: str, names: Iterable[str] = ("D:getetag",)) -> bytes:
    """RFC 6578 sync-collection; an empty token asks for the full listing."""
    return _doc(
        "D:sync-collection",
        f"<D:sync-token>{escape(token)}</D:sync-token><D:sync-level>1</D:sync-level>"
        + _props(names),
    )


def multiget(hrefs: Sequence[str]) -> bytes:
    body = _props(["D:getetag", "C:calendar-data"])
    body += "".join(f"<D:href>{escape(h)}</D:href>" for h in hrefs)
    return _doc("C:calendar-multiget", body)


def _utc(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def query_by_uid(uid: str) -> bytes:
    """calendar-query for events whose UID contains ``uid`` (callers check equality)."""
    return _doc(
        "C:calendar-query",
        _props(["D:getetag", "C:calendar-data"])
        + '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        + '<C:prop-filter name="UID"><C:text-match collation="i;octet">'
        + escape(uid)
        + "</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter></C:filter>",
    )


def query_time_range(start: datetime, end: datetime) -> bytes:
    """calendar-query for events overlapping [start, end) (recurrences included by the server)."""
    return _doc(
        "C:calendar-query",
        _props(["D:getetag", "C:calendar-data"])
        + '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        + f'<C:time-range start="{_utc(start)}" end="{_utc(end)}"/>'
        + "</C:comp-filter></C:comp-filter></C:filter>",
    )


def free_busy_query(start: datetime, end: datetime) -> bytes:
    return _doc("C:free-busy-query", f'<C:time-range start="{_utc(start)}" end="{_utc(end)}"/>')


@dataclass
class DavResponse:
    """One <D:response>: its href, its own status (e.g. 404 for a deletion) and found props."""

    href: str
    status: int | None = None
    props: dict[str, ET.Element] = field(default_factory=dict)
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


def parse_multistatus(body: bytes) -> Multistatus:
    """Read a 207 body. Raises ``ValueError`` on something that is not a multistatus."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError(f"unreadable multistatus: {exc}") from exc
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
