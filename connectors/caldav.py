"""CalDAV backend: caseworker and room calendars on a CalDAV server (Radicale, Nextcloud, ...).

HTTP, authentication and principal discovery go through python-caldav's ``DAVClient`` (see
``caldav_http``); request bodies are built from its XML elements (``caldav_xml``). The requests
themselves are chosen so one does the work of many (a Depth 1 PROPFIND on a calendar home answers
for all its calendars; one calendar-multiget fetches 100 items), which is what keeps a
municipality with thousands of calendars cheap to poll. iCalendar text is parsed and rendered
only by ``mappings.ical``. No caldav-library object ever leaves the ``connectors.caldav*``
modules.

Safety rules that follow from "the daemon owns only what it created":
- creation uses ``If-None-Match: *`` and updates/deletions ``If-Match: <etag>``: nothing is
  ever overwritten blind, and a 412 means "re-read, then decide again";
- an item is ours only if it carries our external-id property (``X-SELVBOOK-ID``); anything else
  found under our name or UID raises ``NotOwned`` and is left untouched.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from caldav import Calendar, DAVClient

from connectors import caldav_tokens as tokens
from connectors import caldav_xml as dav
from connectors.base import (
    BusyInterval,
    CalendarInfo,
    CalendarItem,
    CalendarKind,
    ChangeSet,
    ConnectorError,
    EventDraft,
    NotFound,
    NotOwned,
    ProbeResult,
    SyncTokenInvalid,
    Unreadable,
    WriteConflict,
    WriteResult,
)
from connectors.caldav_freebusy import busy_from_items, busy_from_vfreebusy
from connectors.caldav_http import (
    DavHttp,
    Refused,
    Reply,
    canonical_path,
    collection_url,
    error_for,
    parent_url,
    strip_userinfo,
)
from mappings.errors import ItemParseError, NotAnEvent
from mappings.ical import DEFAULT_PRODID, parse_resource, render_event
from mappings.privacy import redact_cpr
from mappings.salvage import salvage

log = logging.getLogger(__name__)

_KINDS: frozenset[str] = frozenset({"caseworker", "room", "unknown"})
# CUTYPE of a principal (RFC 6638 calendar-user-type) -> our kind.
_CUTYPE_KINDS: dict[str, CalendarKind] = {
    "ROOM": "room",
    "RESOURCE": "room",
    "INDIVIDUAL": "caseworker",
}
_WRITE_PRIVILEGES = {dav.tag(n) for n in ("D:write", "D:write-content", "D:all", "D:bind")}
# Answers to a REPORT that mean "this server does not do that report here".
_UNSUPPORTED = (400, 403, 405, 415, 422, 501)
# Answers to sync-collection with a token that mean "that token is no longer valid": RFC 6578
# 3.2 says 403 with DAV:valid-sync-token (Radicale); Xandikos says 412, others 409 or 410.
# Every one of them means one full re-read of that calendar, never back-off.
_TOKEN_REFUSED = (403, 409, 410, 412)


@dataclass(frozen=True)
class _Home:
    url: str
    configured_kind: CalendarKind | None = None  # from the constructor's mapping: wins
    principal_kind: CalendarKind | None = None  # from the principal's calendar-user-type
    email: str | None = None


@dataclass(frozen=True)
class _Stored:
    """One item as read from the server, before we decide what to do with it."""

    url: str
    text: str
    etag: str | None


class CalDAVConnector:
    """``connectors.base.Connector`` over CalDAV. Thread-safe: share one per server.

    ``url`` is the server root (the principal is discovered), a principal URL or a calendar
    home. ``calendar_homes`` lists the homes to use instead of discovery, optionally as a
    mapping of home URL -> kind ("room"/"caseworker"), since rooms and caseworkers often live in
    separate homes. A calendar's ``calendar_id`` is its collection URL (with trailing slash).

    ``use_server_free_busy=False`` computes busy time with our own expansion (a time-range
    query, the same ``mappings.recurrence`` the engine uses) instead of the server's
    free-busy-query. Radicale 3.9's answer can be an hour off after a DST change: it expands a
    TZID without VTIMEZONE with a fixed offset, and it resolves TZIDs through a process-wide
    registry, so one client's odd VTIMEZONE for "Europe/Copenhagen" shifts every calendar.
    """

    name = "caldav"

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        calendar_homes: Sequence[str] | Mapping[str, CalendarKind] | None = None,
        max_connections: int = 8,
        timeout: float = 30.0,
        zone: str = "Europe/Copenhagen",
        territory: str = "DK",
        external_id_prop: str = "X-SELVBOOK-ID",
        prodid: str = DEFAULT_PRODID,
        multiget_batch: int = 100,
        write_attempts: int = 3,
        verify: bool | str = True,
        use_server_free_busy: bool = False,
    ) -> None:
        parts = urlsplit(url)
        if "@" in parts.netloc and username is None:  # credentials given inside the URL
            userinfo = parts.netloc.rsplit("@", 1)[0]
            user, _, secret = userinfo.partition(":")
            username, password = unquote(user), unquote(secret)
        self.url = collection_url(strip_userinfo(url), "")
        self.zone = zone
        self.territory = territory
        self.external_id_prop = external_id_prop
        self.prodid = prodid
        self.multiget_batch = max(1, multiget_batch)
        self.write_attempts = max(1, write_attempts)
        self.use_server_free_busy = use_server_free_busy
        self._http = DavHttp(
            self.url,
            username=username,
            password=password,
            max_connections=max_connections,
            timeout=timeout,
            verify=verify,
        )
        self._configured: dict[str, _Home] | None = None
        if calendar_homes is not None:
            self._configured = {}
            kinds = calendar_homes if isinstance(calendar_homes, Mapping) else {}
            for home in calendar_homes:
                home_url = collection_url(self.url, home)
                kind = kinds.get(home)
                if kind is not None and kind not in _KINDS:
                    raise ValueError(f"unknown calendar kind {kind!r} for home {home_url}")
                self._configured[home_url] = _Home(home_url, configured_kind=kind)
        self._lock = threading.Lock()
        self._homes: dict[str, _Home] | None = self._configured
        self._no_sync_collection: set[str] = set()
        self._no_free_busy: set[str] = set()
        self._markers_need_sync_token = False

    # ------------------------------------------------------------------ plumbing

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far (for benchmarks: requests per calendar per cycle)."""
        return self._http.requests_made

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CalDAVConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _propfind(
        self, url: str, depth: int, names: Iterable[str], calendar_id: str | None
    ) -> dav.Multistatus:
        """One PROPFIND through the library's low-level request (its ``propfind`` helper would
        refuse a 207 in which one calendar of a home answers 403 or 404)."""
        body = dav.propfind(names)
        response = self._http.request(
            "PROPFIND",
            url,
            calendar_id=calendar_id,
            body=body,
            headers={"Depth": str(depth)},
            ok=(207,),
        )
        return self._multistatus(response.tree, url, calendar_id)

    def _report(
        self, url: str, body: bytes, calendar_id: str | None, *, depth: int = 1
    ) -> dav.Multistatus:
        response = self._http.call(
            "REPORT",
            url,
            lambda client: client.report(url, body, depth),
            calendar_id=calendar_id,
            ok=(207,),
        )
        return self._multistatus(response.tree, url, calendar_id)

    @staticmethod
    def _multistatus(tree: object, url: str, calendar_id: str | None) -> dav.Multistatus:
        try:
            return dav.parse_multistatus(tree)
        except ValueError as exc:
            raise ConnectorError(f"{strip_userinfo(url)}: {exc}", calendar_id=calendar_id) from None

    # ------------------------------------------------------------------ homes and calendars

    def homes(self) -> dict[str, _Home]:
        """The calendar homes we know (configured, or discovered once from the principal)."""
        with self._lock:
            if self._homes is None:
                self._homes = self._discover_homes()
            return self._homes

    def _discover_homes(self) -> dict[str, _Home]:
        principal_props = [
            "C:calendar-home-set",
            "C:calendar-user-type",
            "C:calendar-user-address-set",
        ]
        path = urlsplit(self.url).path
        target = self.url
        if path in ("", "/") or path.rstrip("/").endswith("/.well-known/caldav"):
            target = self._http.principal_url(self.url)
        found = self._propfind(target, 0, principal_props, None)
        response = found.responses[0] if found.responses else dav.DavResponse(href=target)
        kind = _CUTYPE_KINDS.get((response.text("C:calendar-user-type") or "").upper())
        email = next(
            (
                h[len("mailto:") :]
                for h in response.hrefs("C:calendar-user-address-set")
                if h.lower().startswith("mailto:")
            ),
            None,
        )
        home_hrefs = response.hrefs("C:calendar-home-set") or [target]
        homes = {}
        for href in home_hrefs:
            home_url = collection_url(target, href)
            homes[home_url] = _Home(home_url, principal_kind=kind, email=email)
        return homes

    def list_calendars(self) -> list[CalendarInfo]:
        """Every VEVENT calendar in every known home: one Depth 1 PROPFIND per home."""
        names = [
            "D:resourcetype",
            "D:displayname",
            "C:supported-calendar-component-set",
            "S:calendar-kind",
        ]
        infos: list[CalendarInfo] = []
        for home in self.homes().values():
            found = self._propfind(home.url, 1, names, None)
            for response in found.responses:
                cal_url = collection_url(home.url, response.href)
                if cal_url == home.url or not _is_event_calendar(response):
                    continue
                prop_kind = (response.text("S:calendar-kind") or "").strip().lower()
                kind = (
                    home.configured_kind
                    or (prop_kind if prop_kind in _KINDS else None)
                    or home.principal_kind
                    or "unknown"
                )
                name = response.text("D:displayname") or unquote(
                    cal_url.rstrip("/").rsplit("/")[-1]
                )
                infos.append(
                    CalendarInfo(
                        calendar_id=cal_url,
                        name=name,
                        kind=kind,  # type: ignore[arg-type]
                        email=home.email,
                        extra={"home": home.url},
                    )
                )
        return infos

    # ------------------------------------------------------------------ change markers

    def change_markers(self, calendar_ids: Sequence[str]) -> dict[str, str]:
        """getctag per calendar: ONE Depth 1 PROPFIND per known home, Depth 0 for the rest.

        Only getctag is asked for: it changes on every write just like sync-token, and Radicale
        computes each by walking every item. Measured on Radicale 3.9 (40 calendars of 60
        items in one home, warm cache, median of 5): getctag 94 ms / 8.4 kB, getctag +
        sync-token 212 ms / 13 kB, sync-token 111 ms; 40 Depth 0 PROPFINDs for getctag 193 ms.
        A server without getctag makes us ask for sync-token (and getetag) from then on.
        Calendars that cannot be answered (gone, unreachable home) are left out.
        """
        try:
            homes = self.homes()
        except ConnectorError as exc:  # no homes known: ask each calendar on its own
            log.warning("calendar homes unavailable: %s", exc)
            homes = {}
        wanted: dict[str, list[str]] = {}  # canonical URL -> ids as the caller spelled them
        for calendar_id in calendar_ids:
            wanted.setdefault(collection_url(calendar_id, ""), []).append(calendar_id)
        by_home: dict[str, list[str]] = {}
        singles: list[str] = []
        for cal_url in wanted:
            home = parent_url(cal_url)
            if home in homes:
                by_home.setdefault(home, []).append(cal_url)
            else:
                singles.append(cal_url)
        markers: dict[str, str] = {}
        for home, cal_urls in by_home.items():
            markers.update(self._markers_at(home, 1, cal_urls))
        for cal_url in singles:
            markers.update(self._markers_at(cal_url, 0, [cal_url]))
        return {cid: markers[url] for url, ids in wanted.items() if url in markers for cid in ids}

    def _markers_at(self, url: str, depth: int, cal_urls: list[str]) -> dict[str, str]:
        for _attempt in range(2):
            need_sync_token = self._markers_need_sync_token
            names = ["CS:getctag"]
            if need_sync_token:
                names += ["D:sync-token", "D:getetag"]
            try:
                found = self._propfind(url, depth, names, cal_urls[0] if depth == 0 else None)
            except ConnectorError as exc:
                log.warning("change markers unavailable for %s: %s", url, exc)
                return {}
            by_url = {collection_url(url, r.href): r for r in found.responses}
            markers: dict[str, str] = {}
            lacking = False
            for cal_url in cal_urls:
                response = by_url.get(cal_url)
                if response is None or (response.status or 200) >= 300:
                    continue
                marker = _marker(response)
                if marker is None:
                    lacking = True
                else:
                    markers[cal_url] = marker
            if not lacking or need_sync_token:
                return markers
            self._markers_need_sync_token = True  # this server has no getctag: ask for more
        return markers

    # ------------------------------------------------------------------ reading

    def fetch_changes(
        self, calendar_id: str, token: str | None, start: datetime, end: datetime
    ) -> ChangeSet:
        """sync-collection (RFC 6578) since ``token``, items fetched by calendar-multiget.

        Servers without sync-collection get an ETag listing whose synthetic token remembers
        every item's ETag (``caldav_tokens``). ``start``/``end`` are not used: CalDAV has no
        windowed change feed, and recurring series must be seen whole anyway.
        """
        cal_url = collection_url(calendar_id, "")
        if token is not None and tokens.is_listing_token(token):
            try:
                previous = tokens.decode(token)
            except ValueError as exc:
                raise SyncTokenInvalid(f"{cal_url}: {exc}", calendar_id=calendar_id) from None
            return self._listing_changes(cal_url, calendar_id, previous)
        if token is None:
            if cal_url not in self._no_sync_collection:
                changes = self._sync_changes(cal_url, calendar_id, "")
                if changes is not None:
                    return changes
            result = self._listing_changes(cal_url, calendar_id, None)
            with self._lock:
                self._no_sync_collection.add(cal_url)
            return result
        changes = self._sync_changes(cal_url, calendar_id, token)
        assert changes is not None  # a non-empty token never falls back silently
        return changes

    def _sync_changes(self, cal_url: str, calendar_id: str, token: str) -> ChangeSet | None:
        """sync-collection through the library (it follows truncated replies, RFC 6578 3.6,
        and knows servers that list a deletion as a change); items then come by multiget.
        None when the server refuses an initial sync-collection (no RFC 6578 support)."""

        def report(client: DAVClient) -> Any:
            calendar = Calendar(client=client, url=cal_url)
            # No fallback: the library's re-reads every object on every sync; ours is the
            # ETag listing in a token (caldav_tokens).
            return calendar.get_objects_by_sync_token(
                sync_token=token or None, load_objects=False, disable_fallback=True
            )

        try:
            found = self._http.run("REPORT", cal_url, report, calendar_id=calendar_id)
        except Refused as exc:
            status = exc.reply.status_code
            refused = status in (*_TOKEN_REFUSED, *_UNSUPPORTED, *(() if token else (500,)))
            if not refused:
                raise error_for(exc.reply, "REPORT", cal_url, calendar_id) from None
            if not token:
                log.info("%s: no sync-collection (%s), using ETag listings", cal_url, status)
                return None
            raise SyncTokenInvalid(
                f"REPORT sync-collection {strip_userinfo(cal_url)} -> {status}: "
                f"{' '.join(re.sub(r'<[^>]+>', ' ', exc.reply.text).split())[:200]}",
                calendar_id=calendar_id,
            ) from None
        if not found.sync_token:
            raise ConnectorError(
                f"{cal_url}: sync-collection answer without a sync-token", calendar_id=calendar_id
            )
        own_path = canonical_path(cal_url).rstrip("/")
        deleted = {canonical_path(str(url)) for url in found.deleted_urls}
        changed = [
            href
            for href in (canonical_path(str(obj.url)) for obj in found.objects)
            if href not in deleted and href.rstrip("/") != own_path
        ]
        items, bad, vanished = self._multiget(cal_url, calendar_id, changed)
        return ChangeSet(
            changed=items,
            deleted=sorted(deleted | set(vanished)),
            token=str(found.sync_token),
            full=not token,
            quarantined=bad,
        )

    def _listing_changes(
        self, cal_url: str, calendar_id: str, previous: dict[str, str] | None
    ) -> ChangeSet:
        """Fallback: PROPFIND getetag of every item, compared with the listing in the token."""
        found = self._propfind(cal_url, 1, ["D:getetag", "D:resourcetype"], calendar_id)
        own_path = canonical_path(cal_url)
        listing: dict[str, str] = {}
        exists = False
        for response in found.responses:
            path = canonical_path(collection_url(cal_url, response.href).rstrip("/"))
            if path == own_path.rstrip("/"):
                exists = (response.status or 200) < 300
                continue
            if not path.startswith(own_path):
                continue
            if dav.tag("D:collection") in response.child_tags("D:resourcetype"):
                continue
            listing[path[len(own_path) :]] = tokens.etag_digest(response.text("D:getetag"))
        if not exists:
            # Xandikos (and others in python-caldav's hints) answer a missing path with 207 and
            # a 404 inside: an empty listing then would read as "every item deleted".
            raise NotFound(
                f"PROPFIND {strip_userinfo(cal_url)}: the calendar does not exist",
                calendar_id=calendar_id,
            )
        old = previous or {}
        changed = [own_path + n for n, d in listing.items() if previous is None or old.get(n) != d]
        deleted = [own_path + n for n in old if n not in listing]
        items, bad, vanished = self._multiget(cal_url, calendar_id, changed)
        for href in vanished:
            listing.pop(href[len(own_path) :], None)
        return ChangeSet(
            changed=items,
            deleted=sorted(set(deleted) | set(vanished)),
            token=tokens.encode(listing),
            full=previous is None,
            quarantined=bad,
        )

    def _multiget(
        self, cal_url: str, calendar_id: str, hrefs: list[str]
    ) -> tuple[list[CalendarItem], list[Unreadable], list[str]]:
        """Fetch items in batches: (parsed items, (href, reason) failures, hrefs now gone)."""
        items: list[CalendarItem] = []
        bad: list[Unreadable] = []
        vanished: list[str] = []
        for offset in range(0, len(hrefs), self.multiget_batch):
            batch = hrefs[offset : offset + self.multiget_batch]
            found = self._report(cal_url, dav.multiget(batch), calendar_id)
            answered: set[str] = set()
            for response in found.responses:
                href = canonical_path(collection_url(cal_url, response.href).rstrip("/"))
                answered.add(href)
                data = response.text("C:calendar-data")
                if response.status == 404 or (data is None and _data_missing(response)):
                    vanished.append(href)
                elif data is None:
                    bad.append(Unreadable(href, "server returned no calendar-data"))
                else:
                    self._collect(data, href, response.text("D:getetag"), items, bad)
            for href in batch:  # servers that leave some hrefs out: fetch those one by one
                if href not in answered:
                    stored = self._get(_item_url_from_path(cal_url, href), calendar_id)
                    if stored is None:
                        vanished.append(href)
                    else:
                        self._collect(stored.text, href, stored.etag, items, bad)
        return items, bad, vanished

    def _collect(
        self,
        text: str,
        href: str,
        etag: str | None,
        items: list[CalendarItem],
        bad: list[Unreadable],
    ) -> None:
        try:
            items.append(self._parse(text, href, etag))
            return
        except NotAnEvent:
            return  # tasks and journal entries are not our business
        except ItemParseError as exc:
            reason = redact_cpr(str(exc))[:500]
        except Exception as exc:  # one odd item must never stop the calendar
            reason = redact_cpr(f"{type(exc).__name__}: {exc}")[:500]
        log.warning("quarantined %s: %s", href, reason)
        found = salvage(text)
        bad.append(Unreadable(href, reason, found.uid, found.summary, found.spans))

    def _parse(self, text: str, href: str, etag: str | None) -> CalendarItem:
        return parse_resource(
            text,
            href,
            etag,
            external_id_prop=self.external_id_prop,
            territory=self.territory,
        )

    def _get(self, url: str, calendar_id: str) -> _Stored | None:
        """GET one item with its ETag; None if it does not exist."""
        response = self._http.request("GET", url, calendar_id=calendar_id, ok=(200, 404, 410))
        headers = {k.lower(): v for k, v in response.headers.items()}
        if response.status_code != 200:
            return None
        etag = headers.get("etag")
        if etag is None:  # some servers only tell the ETag through PROPFIND
            found = self._propfind(url, 0, ["D:getetag"], calendar_id)
            etag = next((r.text("D:getetag") for r in found.responses), None)
        return _Stored(url=url, text=response.text, etag=etag)

    def _find_by_uid(self, cal_url: str, calendar_id: str, uid: str) -> _Stored | None:
        """Our item under another name (a client re-saved it): look it up by UID."""
        found = self._report(cal_url, dav.query_by_uid(uid), calendar_id)
        for response in found.responses:
            data = response.text("C:calendar-data")
            if data is None:
                continue
            url = _item_url_from_path(cal_url, response.href)
            try:
                item = self._parse(data, canonical_path(url), None)
            except ItemParseError:
                continue
            if item.uid == uid:  # text-match is a substring match: insist on equality
                return _Stored(url=url, text=data, etag=response.text("D:getetag"))
        return None

    # ------------------------------------------------------------------ writing

    def _item_url(self, cal_url: str, external_id: str) -> str:
        return cal_url + quote(external_id, safe="@-._~+=") + ".ics"

    def _owned(self, stored: _Stored, external_id: str) -> bool:
        try:
            item = self._parse(stored.text, canonical_path(stored.url), stored.etag)
        except Exception:  # cannot tell whose it is: then it is not ours to touch
            return False
        return item.external_id == external_id

    def _refuse_foreign(self, stored: _Stored, external_id: str, calendar_id: str) -> None:
        if not self._owned(stored, external_id):
            raise NotOwned(
                f"{strip_userinfo(stored.url)} (UID {external_id!r}) carries no "
                f"{self.external_id_prop} of ours; left untouched",
                calendar_id=calendar_id,
            )

    def upsert_event(self, calendar_id: str, draft: EventDraft) -> WriteResult:
        """Create with If-None-Match, or update our own event with If-Match; never blind."""
        cal_url = collection_url(calendar_id, "")
        ics = render_event(
            draft, zone=self.zone, prodid=self.prodid, external_id_prop=self.external_id_prop
        )
        body = ics.encode("utf-8")
        content = {"Content-Type": "text/calendar; charset=utf-8"}
        url = self._item_url(cal_url, draft.external_id)
        stored: _Stored | None = None
        creates = updates = 0
        while True:
            if stored is None:
                if creates == self.write_attempts:
                    break
                creates += 1
                created = self._http.call(
                    "PUT",
                    url,
                    lambda client: client.put(url, body, {**content, "If-None-Match": "*"}),
                    calendar_id=calendar_id,
                    ok=(201, 204, 200, 409, 412, 403),
                )
                if created.status_code in (200, 201, 204):
                    return WriteResult(canonical_path(url), _etag(created), True)
                if "uid-conflict" in created.text:
                    # RFC 4791 5.3.2.1 no-uid-conflict: the UID lives under another name.
                    # Radicale says so with 409/403, Xandikos with 412.
                    stored = self._find_by_uid(cal_url, calendar_id, draft.external_id)
                elif created.status_code in (403, 409):
                    raise error_for(created, "PUT", url, calendar_id)
                else:  # 412: something is stored under our name already
                    # ... or the server's GET by URL is broken (a hint for some servers): then
                    # find it by UID rather than trying to create it again.
                    stored = self._get(url, calendar_id) or self._find_by_uid(
                        cal_url, calendar_id, draft.external_id
                    )
                if stored is None:
                    continue  # gone again in between: try to create once more
            self._refuse_foreign(stored, draft.external_id, calendar_id)
            if self._same_event(stored, ics):
                return WriteResult(canonical_path(stored.url), stored.etag, False)
            if updates == self.write_attempts:
                break
            updates += 1
            # RFC 5545 3.8.7.4: every change we make to our event raises its SEQUENCE (clients
            # and iTIP tell a reschedule from a stale copy by it).
            update_body = render_event(
                draft,
                zone=self.zone,
                prodid=self.prodid,
                external_id_prop=self.external_id_prop,
                sequence=_sequence_of(stored.text) + 1,
            ).encode("utf-8")
            # Without a known ETag the precondition fails: never a blind overwrite.
            if_match = {**content, "If-Match": stored.etag or '"unknown"'}
            target = stored.url
            updated = self._http.call(
                "PUT",
                target,
                lambda client, t=target, b=update_body, h=if_match: client.put(t, b, h),
                calendar_id=calendar_id,
                ok=(200, 201, 204, 412),
            )
            if updated.status_code != 412:
                return WriteResult(canonical_path(stored.url), _etag(updated), False)
            log.info("%s changed underneath us; re-reading", strip_userinfo(stored.url))
            stored = self._get(stored.url, calendar_id)
        raise WriteConflict(
            f"{strip_userinfo(url)} kept changing during {self.write_attempts} attempts",
            calendar_id=calendar_id,
        )

    def _same_event(self, stored: _Stored, rendered: str) -> bool:
        """True when the stored event already says what we would write (saves a write and
        keeps the calendar's ctag, so nobody re-syncs a no-op)."""
        try:
            old = self._parse(stored.text, "", None)
            new = self._parse(rendered, "", None)
        except Exception:
            return False

        def essence(item: CalendarItem) -> CalendarItem:
            # Resource PARTSTAT is the room's answer, not something we write.
            attendees = {k: "" for k in item.attendee_status}
            return replace(item, etag=None, attendee_status=attendees)

        return essence(old) == essence(new) and _class_of(stored.text) == _class_of(rendered)

    def delete_event(self, calendar_id: str, external_id: str) -> bool:
        """Delete our event with If-Match; False when it is already gone."""
        cal_url = collection_url(calendar_id, "")
        url = self._item_url(cal_url, external_id)
        for _attempt in range(self.write_attempts):
            stored = self._get(url, calendar_id) or self._find_by_uid(
                cal_url, calendar_id, external_id
            )
            if stored is None:
                return False
            self._refuse_foreign(stored, external_id, calendar_id)
            headers = {"If-Match": stored.etag} if stored.etag else {}
            target = stored.url
            response = self._http.call(
                "DELETE",
                target,
                lambda client, t=target, h=headers: client.delete(t, h),
                calendar_id=calendar_id,
                ok=(200, 204, 404, 410, 412),
            )
            if response.status_code in (200, 204):
                return True
            if response.status_code in (404, 410):
                return False
            url = stored.url
            log.info("%s changed underneath us; re-reading", strip_userinfo(url))
        raise WriteConflict(
            f"{strip_userinfo(url)} kept changing during {self.write_attempts} attempts",
            calendar_id=calendar_id,
        )

    # ------------------------------------------------------------------ availability

    def free_busy(
        self, calendar_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[BusyInterval]]:
        """CALDAV:free-busy-query per calendar; a time-range query plus our own recurrence
        expansion where the server has no free-busy. A failing calendar raises (with its id):
        leaving it out would read as "free" and invite double bookings."""
        return {cid: self._busy(cid, start, end) for cid in calendar_ids}

    def _busy(self, calendar_id: str, start: datetime, end: datetime) -> list[BusyInterval]:
        cal_url = collection_url(calendar_id, "")
        if self.use_server_free_busy and cal_url not in self._no_free_busy:
            query = dav.free_busy_query(start, end)
            response = self._http.call(
                "REPORT",
                cal_url,
                lambda client: client.report(cal_url, query, 1),
                calendar_id=calendar_id,
                # 500 too: SOGo, OX, GMX and others answer free-busy-query "ungracefully"
                # (python-caldav's compatibility hints), and Xandikos fails on an RSCALE item.
                ok=(200, 500, *_UNSUPPORTED),
            )
            if response.status_code == 200:
                try:
                    return busy_from_vfreebusy(response.text, start, end)
                except ValueError as exc:
                    log.warning(
                        "%s: unreadable free-busy answer (%s); querying events", cal_url, exc
                    )
        found = self._report(cal_url, dav.query_time_range(start, end), calendar_id)
        items: list[CalendarItem] = []
        bad: list[Unreadable] = []
        for response in found.responses:
            data = response.text("C:calendar-data")
            if data is not None:
                href = canonical_path(collection_url(cal_url, response.href).rstrip("/"))
                self._collect(data, href, response.text("D:getetag"), items, bad)
        if bad:  # an unreadable item may hide busy time: say so rather than answer "free"
            raise ConnectorError(
                f"{cal_url}: {len(bad)} unreadable item(s) in the range, e.g. {bad[0].href}",
                calendar_id=calendar_id,
            )
        with self._lock:
            self._no_free_busy.add(cal_url)
        return busy_from_items(items, start, end, zone=self.zone)

    # ------------------------------------------------------------------ checks

    def probe(self, calendar_id: str) -> ProbeResult:
        """Reachable: PROPFIND answers and it is a calendar. Writable: the server grants a
        write privilege, or (if it will not say) a conditional PUT that can never succeed is
        refused for the precondition (412) rather than for permission."""
        cal_url = collection_url(calendar_id, "")
        names = ["D:resourcetype", "D:current-user-privilege-set"]
        try:
            found = self._propfind(cal_url, 0, names, calendar_id)
        except ConnectorError as exc:
            return ProbeResult(calendar_id, reachable=False, writable=False, error=str(exc))
        response = next(
            (r for r in found.responses if collection_url(cal_url, r.href) == cal_url),
            found.responses[0] if found.responses else None,
        )
        if response is not None and (response.status or 200) >= 300:  # 207 with a 404 inside
            return ProbeResult(
                calendar_id,
                reachable=False,
                writable=False,
                error=f"{cal_url}: no such calendar ({response.status})",
            )
        if response is None or dav.tag("C:calendar") not in response.child_tags("D:resourcetype"):
            return ProbeResult(
                calendar_id,
                reachable=False,
                writable=False,
                error=f"{cal_url} is not a calendar collection",
            )
        if response.has("D:current-user-privilege-set"):
            privileges = response.child_tags("D:current-user-privilege-set")
            if privileges & _WRITE_PRIVILEGES:
                return ProbeResult(calendar_id, reachable=True, writable=True)
            return ProbeResult(
                calendar_id,
                reachable=True,
                writable=False,
                error=f"{cal_url}: the server grants no write privilege to this account",
            )
        return self._probe_write(cal_url, calendar_id)

    def _probe_write(self, cal_url: str, calendar_id: str) -> ProbeResult:
        probe_id = f"selvbook-probe-{uuid.uuid4()}"
        draft = EventDraft(
            external_id=probe_id,
            summary="selvbook probe",
            start=datetime(2000, 1, 1, 12, tzinfo=UTC),
            end=datetime(2000, 1, 1, 13, tzinfo=UTC),
        )
        body = render_event(draft, zone=self.zone, prodid=self.prodid).encode("utf-8")
        url = self._item_url(cal_url, probe_id)
        # No resource has this ETag, so the PUT can never store anything.
        headers = {"If-Match": f'"{probe_id}"', "Content-Type": "text/calendar"}
        try:
            response = self._http.call(
                "PUT",
                url,
                lambda client: client.put(url, body, headers),
                calendar_id=calendar_id,
                ok=(412,),
            )
        except ConnectorError as exc:
            return ProbeResult(calendar_id, reachable=True, writable=False, error=str(exc))
        del response
        return ProbeResult(calendar_id, reachable=True, writable=True)


# ---------------------------------------------------------------------- helpers


def _etag(reply: Reply) -> str | None:
    return next((v for k, v in reply.headers.items() if k.lower() == "etag"), None)


def _marker(response: dav.DavResponse) -> str | None:
    for name, prefix in (
        ("CS:getctag", "ctag:"),
        ("D:sync-token", "sync:"),
        ("D:getetag", "etag:"),
    ):
        value = response.text(name)
        if value:
            return prefix + value
    return None


def _is_event_calendar(response: dav.DavResponse) -> bool:
    if dav.tag("C:calendar") not in response.child_tags("D:resourcetype"):
        return False
    comps = response.props.get(dav.tag("C:supported-calendar-component-set"))
    if comps is None:
        return True  # not said: assume it can hold events
    names = {c.get("name", "").upper() for c in comps.iter(dav.tag("C:comp"))}
    return not names or "VEVENT" in names


def _data_missing(response: dav.DavResponse) -> bool:
    return dav.tag("C:calendar-data") in response.missing


def _item_url_from_path(cal_url: str, href: str) -> str:
    return collection_url(cal_url, href).rstrip("/")


def _class_of(ics: str) -> str:
    match = re.search(r"^CLASS[^:\r\n]*:(.*?)\r?$", ics, flags=re.MULTILINE | re.IGNORECASE)
    return match.group(1).strip().upper() if match else "PUBLIC"


def _sequence_of(ics: str) -> int:
    """The highest SEQUENCE in a stored object (0 when it has none)."""
    found = re.findall(r"^SEQUENCE[^:\r\n]*:\s*(\d+)", ics, flags=re.MULTILINE | re.IGNORECASE)
    return max((int(n) for n in found), default=0)
