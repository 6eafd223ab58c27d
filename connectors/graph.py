"""Exchange Online over Microsoft Graph (msal + httpx), for when EWS is switched off.

calendar_id is the mailbox's SMTP address (or UPN). Design choices, each for a Graph reason:

- Reading: ``calendarView/delta`` over a window of whole days with slack (see
  ``graph_items.window``); the token we hand out wraps Graph's deltaLink with that window, and a
  request for a range the window does not cover starts a new full round. A recurring series is
  one ``CalendarItem`` (href = its master's id) built from the master and the instances Graph
  expanded: delta's occurrence stubs are filled in from the master, and a changed master makes
  the series be listed again, since delta never reports a deleted occurrence (see
  ``graph_series``). ``@removed`` entries, including the ones Graph reports for events that
  changed outside the window, become deleted hrefs. 410 / syncStateNotFound ->
  ``SyncTokenInvalid``.
- Ownership: our events carry the single-value extended property ``SelvbookId`` (= external
  id), in the same property set the EWS connector uses, so a mailbox moved from Exchange Server
  keeps events we recognise (the set Graph used before is still read). Delta cannot ``$expand``
  it, so changed single events are checked against the property in one extra batched request
  (or one listing of the window when many changed). Writes find our event by the property and
  never touch anything else. Ours also needs the iCalUId we gave the event (``owned_id``):
  Graph cannot set one, so right after a create we stamp the iCalUId Exchange assigned in a
  second property (``SelvbookUid``); an Outlook copy keeps both properties but gets a new
  iCalUId, so it is the caseworker's busy time, never edited or deleted.
- Room copies: the copy of our meeting in a room's calendar (made by the room's booking
  assistant) has neither our transactionId nor, dependably, our property (Exchange copies
  named properties to attendees' copies only for PS_PUBLIC_STRINGS, and only when the room
  processes the request again; ours live in a private property set). It does share the
  organizer event's ``iCalUId`` ("a unique identifier for an event across calendars"), so an
  attendee copy organised by one of our mailboxes is matched to the organizer's event by
  iCalUId (one batched sub-request per changed copy) and takes its external id. Otherwise the
  room would count our own meeting as someone else's and push the booking out of it.
- Uncertain creates (no answer, 5xx) are confirmed by looking our event up by its extended
  property before anything is sent again; ``transactionId`` (new per create) is only a second
  line of defence, since Microsoft documents no error for a reused one.
- Idle cycles: Graph has no ctag. ``change_markers`` keeps its own delta cursor per calendar
  (separate from the engine's tokens, so it consumes nothing the engine relies on) and asks
  each cursor for changes, 20 calendars per ``$batch``: one sub-request per calendar, one HTTP
  request per 20 calendars. An empty answer keeps the marker. Markers count the changes this
  process saw ("<process>:<n>"), so they compare only within one process; the first cycle after
  a start makes every calendar look changed once.
- Throttling: handled in ``graph_http`` per (sub-)request; beyond ``max_retry_wait`` the
  calendar gets ``Throttled(retry_after)`` (or is left out of ``change_markers``).
- Logging: no access token or secret is ever logged here; httpx itself logs request URLs at
  INFO (delta/skip state tokens included), so run the "httpx" logger at WARNING.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from connectors.base import (
    BusyInterval,
    CalendarInfo,
    ChangeSet,
    ConnectorError,
    EventDraft,
    NotOwned,
    PermissionDenied,
    ProbeResult,
    Throttled,
    WriteResult,
)
from connectors.graph_auth import TokenSource
from connectors.graph_http import GraphHttp, GraphRequest, GraphResponse, raise_for
from connectors.graph_items import (
    UID_PROPERTY,
    DeltaToken,
    busy_from_schedule,
    differs,
    event_body,
    extended_value,
    goid_hex,
    iso_utc,
    item_from_event,
    merge_busy,
    odata_quote,
    owned_id,
    property_id,
    room_info,
    spans,
    window,
)
from connectors.graph_series import SeriesReader, split_round
from mappings.privacy import contains_cpr
from mappings.timezones import UnknownTimeZone

log = logging.getLogger("connectors.graph")

# Our property set: the same one the EWS connector uses (``ews_items.SelvbookId``), so a mailbox
# moved from Exchange Server to Exchange Online keeps events we can recognise (a move keeps named
# MAPI properties; Graph's "String {guid} Name SelvbookId" is exchangelib's ExtendedProperty
# with that property_set_id and property_name).
DEFAULT_PROPERTY_GUID = "6f3b0f52-4c1e-4b8e-9d5a-2f1c7e9a0b11"
# The set this connector wrote before it was unified with EWS's: still read, never written.
LEGACY_PROPERTY_GUIDS = ("5f3d2a41-8b6c-4e7a-9d1f-3c2b1a0e9f87",)
SCHEDULE_LIMIT = 20  # getSchedule: schedules per call
TOO_LONG = "ErrorTimeIntervalTooBig"  # getSchedule's answer to a span over 62 days
MARKER_DAYS = 400  # span markers watch until the engine's first fetch_changes tells its own
PLACES_PAGE = 100  # $top for Places (its default page; Places pages only by $skip)
ENRICH_PER_ITEM = 4  # up to this many candidates: one GET each (batched), else one listing


@dataclass(frozen=True)
class GraphSettings:
    """Configuration of the Graph connector (``[graph]`` in syncd's configuration)."""

    tenant_id: str
    client_id: str
    client_secret: str | None = None
    private_key_pem: str | None = None  # certificate credential: PEM private key ...
    public_certificate_pem: str | None = None  # ... and the certificate (SHA-256, PS256) ...
    thumbprint: str | None = None  # ... or its SHA-1 thumbprint (hex; deprecated, legacy only)
    authority_host: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    scope: str = "https://graph.microsoft.com/.default"
    ca_bundle: str | None = None  # extra CA file (TLS-inspecting proxy, test simulator)
    mailboxes: tuple[str, ...] = ()  # caseworker mailboxes, from configuration
    room_lists: tuple[str, ...] = ()  # only rooms in these room lists (empty: all rooms)
    schedule_mailbox: str | None = None  # mailbox getSchedule is called on (default: first asked)
    property_guid: str = DEFAULT_PROPERTY_GUID  # written on create, and read
    legacy_property_guids: tuple[str, ...] = LEGACY_PROPERTY_GUIDS  # read only
    use_batch: bool = True
    page_size: int = 100  # Prefer: odata.maxpagesize for delta
    max_retry_wait: float = 30.0  # longest total Retry-After we sit out before Throttled
    timeout: float = 30.0
    workers: int = 4  # parallel HTTP requests ($batch calls) of one connector
    window_slack_days: int = 7
    schedule_days: int = 61  # getSchedule allows under 62 days per call
    territory: str = "DK"

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> GraphSettings:
        """From a config table; ``private_key_file``/``certificate_file``/``client_secret_file``
        name files so that secrets stay out of the configuration itself."""
        values = dict(config)
        for key, target in (
            ("private_key_file", "private_key_pem"),
            ("certificate_file", "public_certificate_pem"),
            ("client_secret_file", "client_secret"),
        ):
            path = values.pop(key, None)
            if path:
                values[target] = Path(path).read_text().strip()
        for key in ("mailboxes", "room_lists", "legacy_property_guids"):
            if key in values:
                values[key] = tuple(values[key])
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown Graph settings: {', '.join(unknown)}")
        return cls(**values)

    def credential(self) -> str | dict[str, str]:
        if self.private_key_pem:
            credential = {"private_key": self.private_key_pem}
            if self.public_certificate_pem:
                # msal >= 1.35: the SHA-256 thumbprint (x5t#S256) and PS256, no SHA-1.
                credential["public_certificate"] = self.public_certificate_pem
            elif self.thumbprint:
                credential["thumbprint"] = self.thumbprint.replace(":", "").lower()
            else:
                raise ValueError("a certificate credential needs thumbprint or certificate")
            return credential
        if self.client_secret:
            return self.client_secret
        raise ValueError("Graph needs client_secret or private_key_pem + thumbprint")


@dataclass(frozen=True)
class _Marker:
    """This process's delta cursor for a calendar's marker, and how many changes it saw."""

    cursor: DeltaToken
    version: int = 0


def _key(calendar_id: str) -> str:
    return calendar_id.strip().lower()


def _uncertain(response: GraphResponse) -> bool:
    """No answer, or a server error (with or without Retry-After: a 503 may come after the
    write was carried out): the write may or may not have happened. Only a 429 says the
    request was refused; GraphHttp waits those out and sends again itself."""
    return response.status == 0 or response.status in (500, 502, 503, 504)


class GraphConnector:
    """The ``Connector`` for Exchange Online over Microsoft Graph (app-only)."""

    name = "graph"

    def __init__(self, settings: GraphSettings) -> None:
        self.settings = settings
        self.prop_id = property_id(settings.property_guid)
        # What we read: our property first, then the legacy sets (events written earlier).
        self.prop_ids = tuple(
            dict.fromkeys([self.prop_id, *(property_id(g) for g in settings.legacy_property_guids)])
        )
        self.uid_prop = property_id(settings.property_guid, UID_PROPERTY)
        verify: Any = True
        if settings.ca_bundle:
            import ssl

            verify = ssl.create_default_context(cafile=settings.ca_bundle)
        self._client = httpx.Client(
            verify=verify,
            timeout=httpx.Timeout(settings.timeout),
            limits=httpx.Limits(max_connections=settings.workers * 2 + 4),
            headers={"User-Agent": "selvbook-syncd"},
        )
        tokens = TokenSource(
            tenant_id=settings.tenant_id,
            client_id=settings.client_id,
            credential=settings.credential(),
            authority_host=settings.authority_host,
            scope=settings.scope,
            http=self._client,
        )
        self.http = GraphHttp(
            graph_url=settings.graph_url,
            tokens=tokens,
            client=self._client,
            max_wait=settings.max_retry_wait,
            use_batch=settings.use_batch,
            workers=settings.workers,
        )
        self._series = SeriesReader(self.http, self._request, settings.territory)
        self._process = uuid.uuid4().hex[:8]
        self._markers: dict[str, _Marker] = {}
        self._hull: tuple[datetime, datetime] | None = None  # span fetch_changes was asked for
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GraphConnector:
        return cls(GraphSettings.from_mapping(config))

    def close(self) -> None:
        self.http.close()
        self._client.close()

    # ----- helpers ----------------------------------------------------------------------------
    def _user(self, calendar_id: str) -> str:
        return f"/users/{quote(calendar_id.strip(), safe='@')}"

    def _request(self, method: str, calendar_id: str, path: str, **kw: Any) -> GraphRequest:
        return GraphRequest(method, self._user(calendar_id) + path, _key(calendar_id), **kw)

    def _delta_headers(self) -> dict[str, str]:
        return {"Prefer": f'odata.maxpagesize={self.settings.page_size}, outlook.timezone="UTC"'}

    def _expand(self) -> str:
        """Our property (current and legacy sets): ``id eq .. or id eq ..`` in the documented
        ``$expand=singleValueExtendedProperties($filter=id eq '...')`` form."""
        ids = " or ".join(f"id eq {odata_quote(p)}" for p in (*self.prop_ids, self.uid_prop))
        return f"singleValueExtendedProperties($filter={ids})"

    def _owner(self, event: Mapping[str, Any]) -> str | None:
        """Our external id of an event fetched with ``_expand()`` and its iCalUId, if it is
        ours (``graph_items.owned_id``)."""
        return owned_id(
            event.get("iCalUId"),
            extended_value(event, self.prop_ids),
            extended_value(event, self.uid_prop),
            event.get("transactionId"),
        )

    # ----- calendars ----------------------------------------------------------------------------
    def list_calendars(self) -> list[CalendarInfo]:
        calendars = self._caseworkers()
        calendars.extend(self._rooms())
        return calendars

    def _caseworkers(self) -> list[CalendarInfo]:
        mailboxes = list(self.settings.mailboxes)
        responses = self.http.send_many(
            [self._request("GET", m, "/calendar?$select=id,name,owner") for m in mailboxes]
        )
        found = []
        for mailbox, response in zip(mailboxes, responses, strict=True):
            owner = (response.body or {}).get("owner") or {} if response.ok else {}
            if not response.ok:
                log.warning("Graph: mailbox %s not readable: %s", mailbox, response.describe())
            found.append(
                CalendarInfo(
                    calendar_id=mailbox,
                    name=str(owner.get("name") or mailbox),
                    kind="caseworker",
                    email=mailbox,
                )
            )
        return found

    def _rooms(self) -> list[CalendarInfo]:
        try:
            lists = self._collect("/places/microsoft.graph.roomlist")
            wanted = {_key(x) for x in self.settings.room_lists}
            lists = [rl for rl in lists if not wanted or _key(rl.get("emailAddress", "")) in wanted]
            member_of: dict[str, str] = {}
            rooms: dict[str, dict] = {}
            for room_list in lists:
                address = str(room_list.get("emailAddress") or "")
                path = f"/places/{quote(address, safe='@')}/microsoft.graph.roomlist/rooms"
                for place in self._collect(path):
                    rooms[_key(place.get("emailAddress", ""))] = place
                    member_of[_key(place.get("emailAddress", ""))] = str(
                        room_list.get("displayName") or address
                    )
            if not wanted:
                for place in self._collect("/places/microsoft.graph.room"):
                    rooms.setdefault(_key(place.get("emailAddress", "")), place)
        except PermissionDenied as exc:
            log.warning("Graph: Places API not allowed (Place.Read.All?): %s", exc)
            return []
        return [room_info(place, member_of.get(key)) for key, place in sorted(rooms.items())]

    def _collect(self, path: str) -> list[dict]:
        """All of a Places collection. Places never sends @odata.nextLink (microsoft-graph-docs
        #9923, #18604), so we page with $top/$skip until a page comes back short; a nextLink
        is still followed should Graph ever send one."""
        items: list[dict] = []
        joiner = "&" if "?" in path else "?"
        while True:
            url: str | None = f"{path}{joiner}$top={PLACES_PAGE}&$skip={len(items)}"
            page: list[dict] = []
            while url:
                response = self.http.send(GraphRequest("GET", url, None))
                raise_for(response, None)
                page.extend(response.body.get("value") or [])
                url = response.body.get("@odata.nextLink")
            items.extend(page)
            if len(page) < PLACES_PAGE:
                return items

    # ----- idle-cycle markers -----------------------------------------------------------------
    def change_markers(self, calendar_ids: Sequence[str]) -> dict[str, str]:
        """Per calendar, this process's own delta cursor (never the engine's token) is asked
        for changes, 20 calendars per $batch; an empty answer leaves the marker as it was. A
        calendar seen for the first time, or whose cursor no longer covers the windows the
        engine reads, gets a new cursor (a full round, once) and a new marker."""
        required = self._marker_window()
        with self._lock:
            plan = [(c, self._markers.get(_key(c))) for c in calendar_ids]
        first_urls = []
        for calendar_id, marker in plan:
            if marker is not None and marker.cursor.covers(*required):
                first_urls.append(marker.cursor.link)
            else:
                first_urls.append(self._delta_url(calendar_id, *required))
        pages = self._delta_rounds([(c, u) for (c, _), u in zip(plan, first_urls, strict=True)])
        markers: dict[str, str] = {}
        now = datetime.now(UTC)
        for (calendar_id, marker), round_ in zip(plan, pages, strict=True):
            if isinstance(round_, GraphResponse):
                log.info("Graph: no marker for %s: %s", calendar_id, round_.describe())
                if round_.status == 410:
                    with self._lock:
                        self._markers.pop(_key(calendar_id), None)
                continue
            changed, link = round_
            fresh = marker is None or not marker.cursor.covers(*required)
            if fresh:
                cursor = DeltaToken(*window(*required, self.settings.window_slack_days), link, now)
                version = 0 if marker is None else marker.version + 1
            else:
                cursor = replace(marker.cursor, link=link, issued=now)
                version = marker.version + (1 if changed else 0)
            with self._lock:
                self._markers[_key(calendar_id)] = _Marker(cursor, version)
            markers[calendar_id] = f"{self._process}:{version}"
        return markers

    def _marker_window(self) -> tuple[datetime, datetime]:
        with self._lock:
            if self._hull is not None:
                return self._hull
        now = datetime.now(UTC)
        return now - timedelta(days=1), now + timedelta(days=MARKER_DAYS)

    def _delta_url(self, calendar_id: str, lo: datetime, hi: datetime) -> str:
        return (
            f"{self._user(calendar_id)}/calendarView/delta"
            f"?startDateTime={iso_utc(lo)}&endDateTime={iso_utc(hi)}"
        )

    def _delta_rounds(
        self, starts: list[tuple[str, str]]
    ) -> list[tuple[bool, str] | GraphResponse]:
        """Run delta rounds for many calendars together (each page step batched); per calendar
        (anything reported?, new deltaLink), or the failed response."""
        results: list[tuple[bool, str] | GraphResponse | None] = [None] * len(starts)
        changed = [False] * len(starts)
        todo = list(enumerate(starts))
        while todo:
            requests = [
                GraphRequest("GET", url, _key(c), headers=self._delta_headers())
                for _, (c, url) in todo
            ]
            following = []
            for (index, (calendar_id, _)), response in zip(
                todo, self.http.send_many(requests), strict=True
            ):
                body = response.body if response.ok and isinstance(response.body, dict) else None
                if body is None:
                    results[index] = response
                    continue
                changed[index] = changed[index] or bool(body.get("value"))
                if body.get("@odata.nextLink"):
                    following.append((index, (calendar_id, body["@odata.nextLink"])))
                elif body.get("@odata.deltaLink"):
                    results[index] = (changed[index], body["@odata.deltaLink"])
                else:
                    results[index] = GraphResponse(
                        0, {"error": {"code": "NoDeltaLink", "message": "no deltaLink"}}, {}
                    )
            todo = following
        return [r for r in results if r is not None]

    # ----- reading -------------------------------------------------------------------------------
    def fetch_changes(
        self, calendar_id: str, token: str | None, start: datetime, end: datetime
    ) -> ChangeSet:
        previous = DeltaToken.decode(token, calendar_id) if token is not None else None
        if previous is not None and not previous.covers(start, end):
            log.info("Graph: %s window moved past its delta token; full resync", calendar_id)
            previous = None
        if previous is None:
            lo, hi = window(start, end, self.settings.window_slack_days)
            url: str | None = self._delta_url(calendar_id, lo, hi)
        else:
            lo, hi = previous.start, previous.end
            url = previous.link
        self._widen_hull(start, end)
        entries: dict[str, dict] = {}
        link = None
        while url:
            response = self.http.send(
                GraphRequest("GET", url, _key(calendar_id), headers=self._delta_headers())
            )
            raise_for(response, calendar_id)
            body = response.body or {}
            for entry in body.get("value") or []:
                entries.pop(str(entry.get("id")), None)  # the last report of an id wins
                entries[str(entry.get("id"))] = entry
            url = body.get("@odata.nextLink")
            link = body.get("@odata.deltaLink") or link
        if not link:
            raise ConnectorError("delta round ended without a deltaLink", calendar_id=calendar_id)
        changed, deleted, quarantined = self._items(
            calendar_id, entries, lo, hi, full=previous is None
        )
        return ChangeSet(
            changed=changed,
            deleted=deleted,
            token=DeltaToken(lo, hi, link, datetime.now(UTC)).encode(),
            full=previous is None,
            quarantined=quarantined,
        )

    def _widen_hull(self, start: datetime, end: datetime) -> None:
        """Remember the span the engine reads, so that markers watch all of it."""
        with self._lock:
            if self._hull is None:
                self._hull = (start, end)
            else:
                self._hull = (min(self._hull[0], start), max(self._hull[1], end))

    def _items(
        self, calendar_id: str, entries: dict[str, dict], lo: datetime, hi: datetime, *, full: bool
    ) -> tuple[list, list[str], list[tuple[str, str]]]:
        deleted = [i for i, e in entries.items() if "@removed" in e]
        live, masters, stubs = split_round([e for e in entries.values() if "@removed" not in e])
        series = self._series.read(
            calendar_id, masters, stubs, (lo, hi), full=full, removed=deleted
        )
        deleted.extend(series.deleted)
        # Any single event may be ours: one we wrote, or one the EWS connector wrote before the
        # mailbox moved to Exchange Online (no transactionId, same property).
        candidates = [
            str(e["id"]) for e in live if e.get("type", "singleInstance") == "singleInstance"
        ]
        owners = self._external_ids(calendar_id, candidates, lo, hi) if candidates else {}
        copies = self._copies(calendar_id, live)
        if copies:
            owners.update(self._copy_owners(calendar_id, copies))
        changed, quarantined = [], []
        for entry in live:
            try:
                item = item_from_event(
                    entry,
                    territory=self.settings.territory,
                    external_id=owners.get(str(entry["id"])),
                )
            except (KeyError, TypeError, ValueError, UnknownTimeZone) as exc:
                quarantined.append((str(entry.get("id")), f"unreadable Graph event: {exc!r}"))
                continue
            if item is not None:
                changed.append(item)
        changed.extend(series.items)
        quarantined.extend(series.quarantined)
        return changed, deleted, quarantined

    def _external_ids(
        self, calendar_id: str, ids: list[str], lo: datetime, hi: datetime
    ) -> dict[str, str]:
        """Our property for events that may be ours: one GET each when few, else one listing
        of the window with the property expanded."""
        found: dict[str, str] = {}
        select = f"$select=id,iCalUId,transactionId&$expand={self._expand()}"
        if len(ids) <= ENRICH_PER_ITEM:
            requests = [
                self._request("GET", calendar_id, f"/events/{quote(i, safe='')}?{select}")
                for i in ids
            ]
            for response in self.http.send_many(requests):
                if response.status == 404:
                    continue  # deleted meanwhile; the next round reports it
                raise_for(response, calendar_id)
                value = self._owner(response.body)
                if value is not None:
                    found[str(response.body["id"])] = value
            return found
        url: str | None = (
            f"{self._user(calendar_id)}/calendarView?startDateTime={iso_utc(lo)}"
            f"&endDateTime={iso_utc(hi)}&$top=500&{select}"
        )
        while url:
            response = self.http.send(GraphRequest("GET", url, _key(calendar_id)))
            raise_for(response, calendar_id)
            for event in response.body.get("value") or []:
                value = self._owner(event)
                if value is not None:
                    found[str(event["id"])] = value
            url = response.body.get("@odata.nextLink")
        return found

    def _copies(self, calendar_id: str, live: list[dict]) -> dict[str, tuple[str, str]]:
        """Attendee copies of meetings organised by a mailbox of ours (a room's copy of our
        booking, say): event id -> (organizer, iCalUId)."""
        ours = {_key(m) for m in self.settings.mailboxes}
        found: dict[str, tuple[str, str]] = {}
        for entry in live:
            if entry.get("isOrganizer", True) or entry.get("type", "singleInstance") not in (
                "singleInstance",
                None,
            ):
                continue
            organizer = _key(
                str(((entry.get("organizer") or {}).get("emailAddress") or {}).get("address") or "")
            )
            uid = entry.get("iCalUId")
            if not uid or not organizer or organizer == _key(calendar_id):
                continue
            if ours and organizer not in ours:
                continue
            found[str(entry["id"])] = (organizer, str(uid))
        return found

    def _copy_owners(self, calendar_id: str, copies: dict[str, tuple[str, str]]) -> dict[str, str]:
        """Our external id for the copies whose organizer event carries it (see module doc).
        A failed look-up fails the sync: guessing "foreign" would evict our own booking."""
        meetings = list(dict.fromkeys(copies.values()))
        requests = []
        for organizer, uid in meetings:
            flt = quote(f"iCalUId eq {odata_quote(uid)}", safe="")
            expand = quote(self._expand(), safe="")
            requests.append(
                self._request(
                    "GET", organizer, f"/events?$filter={flt}&$select=id&$expand={expand}&$top=1"
                )
            )
        owner_of: dict[tuple[str, str], str] = {}
        for meeting, response in zip(meetings, self.http.send_many(requests), strict=True):
            if response.status == 404:
                continue  # no such mailbox (any more): not a meeting of ours
            if not response.ok:
                if response.retry_after is not None:
                    raise_for(response, calendar_id)
                raise ConnectorError(
                    f"cannot tell whether {meeting[0]}'s meeting here is ours: "
                    f"{response.describe()}",
                    calendar_id=calendar_id,
                )
            for event in response.body.get("value") or []:
                value = extended_value(event, self.prop_ids)
                if value is not None:
                    owner_of[meeting] = value
        return {event_id: owner_of[m] for event_id, m in copies.items() if m in owner_of}

    # ----- writing -------------------------------------------------------------------------------
    def _ours(self, calendar_id: str, external_id: str) -> list[dict]:
        """Our events carrying ``external_id``, oldest first."""
        flt = " or ".join(
            f"singleValueExtendedProperties/any(ep: ep/id eq {odata_quote(p)}"
            f" and ep/value eq {odata_quote(external_id)})"
            for p in self.prop_ids
        )
        path = (
            f"/events?$filter={quote(flt, safe='')}&$expand={quote(self._expand(), safe='')}"
            "&$select=id,iCalUId,subject,body,start,end,location,sensitivity,categories,showAs,"
            "attendees,createdDateTime,transactionId"
        )
        # Text bodies, so that comparing with the draft is not fooled by Outlook's HTML.
        text = {"Prefer": 'outlook.body-content-type="text"'}
        response = self.http.send(self._request("GET", calendar_id, path, headers=text))
        raise_for(response, calendar_id)
        events = list(response.body.get("value") or [])
        for event in events:
            if extended_value(event, self.prop_ids) != external_id:
                raise NotOwned(
                    f"event {event.get('id')} lacks our external id", calendar_id=calendar_id
                )
        events.sort(key=lambda e: str(e.get("createdDateTime") or ""))
        mine = [e for e in events if self._owner(e) == external_id]
        if len(mine) < len(events):
            log.info(
                "Graph: %d copies of our event in %s left alone",
                len(events) - len(mine),
                calendar_id,
            )
        # Stamped (or EWS-written) events are ours for sure, and twins among them are
        # duplicates to tidy. Unstamped ones only when there is no such event, and then only
        # the oldest: the others may be Outlook copies of it, never ours to delete.
        exact = [
            e
            for e in mine
            if extended_value(e, self.uid_prop) is not None or self._derived(e, external_id)
        ]
        return exact or mine[:1]

    @staticmethod
    def _derived(event: Mapping[str, Any], external_id: str) -> bool:
        uid = str(event.get("iCalUId") or "").upper()
        return bool(uid) and uid in (external_id.upper(), goid_hex(external_id))

    def _refuse_foreign(self, calendar_id: str, external_id: str) -> None:
        """External ids and iCalendar UIDs share one namespace in the engine (CalDAV uses the
        UID as external id): an event of someone else's with that UID is not ours to write."""
        flt = quote(f"iCalUId eq {odata_quote(external_id)}", safe="")
        response = self.http.send(
            self._request("GET", calendar_id, f"/events?$filter={flt}&$select=id&$top=1")
        )
        raise_for(response, calendar_id)
        if response.body.get("value"):
            raise NotOwned(
                f"an event with UID {external_id!r} exists and is not ours",
                calendar_id=calendar_id,
            )

    def upsert_event(self, calendar_id: str, draft: EventDraft) -> WriteResult:
        if any(contains_cpr(t) for t in (draft.summary, draft.description, draft.location)):
            raise ConnectorError(
                "refused: the event text contains a CPR-shaped number", calendar_id=calendar_id
            )
        events = self._ours(calendar_id, draft.external_id)
        for duplicate in events[1:]:  # ours, so ours to tidy: one event per booking
            self._delete(calendar_id, str(duplicate["id"]))
        if events:
            return self._update(calendar_id, events[0], draft)
        self._refuse_foreign(calendar_id, draft.external_id)
        return self._create(calendar_id, draft)

    def _create(self, calendar_id: str, draft: EventDraft) -> WriteResult:
        """POST the event. An answer that never came (timeout, lost connection, 5xx, even with
        Retry-After) leaves the create uncertain: we look our event up by its extended property,
        and POST again only if it is not there. ``transactionId`` is new for each create (Graph documents it only as
        avoiding redundant POSTs of the same create, "event resource type"), so a booking whose
        event a caseworker deleted is never matched to that deleted event."""
        body = event_body(draft, self.prop_id, create=True)
        body["transactionId"] = f"{draft.external_id}.{uuid.uuid4().hex[:12]}"
        request = self._request("POST", calendar_id, "/events", body=body, retry_safe=False)
        for _ in range(2):
            response = self.http.send(request)
            if response.ok or not _uncertain(response):
                raise_for(response, calendar_id)
                return replace(self._stamp(calendar_id, response.body), created=True)
            log.info(
                "Graph: create in %s unconfirmed (%s); looking it up",
                calendar_id,
                response.describe(),
            )
            found = self._ours(calendar_id, draft.external_id)
            if found:
                result = self._update(calendar_id, found[0], draft)
                return replace(result, created=True)
        raise ConnectorError(
            f"create not confirmed after two attempts: {response.describe()}",
            calendar_id=calendar_id,
        )

    def _stamp(self, calendar_id: str, event: Mapping[str, Any]) -> WriteResult:
        """Record on our new event the iCalUId Exchange gave it (see ``owned_id``), so that an
        Outlook copy, which gets a new iCalUId, is told apart. Graph cannot set iCalUId on
        create ("event resource type": read-only). If the PATCH fails the event stays ours
        unstamped; the next update stamps it."""
        event_id = str(event["id"])
        result = WriteResult(href=event_id, etag=event.get("@odata.etag"), created=False)
        if not event.get("iCalUId"):
            return result
        response = self.http.send(
            self._request(
                "PATCH",
                calendar_id,
                f"/events/{quote(event_id, safe='')}",
                body={
                    "singleValueExtendedProperties": [
                        {"id": self.uid_prop, "value": str(event["iCalUId"])}
                    ]
                },
            )
        )
        if not response.ok:
            log.warning(
                "Graph: could not stamp our event in %s: %s", calendar_id, response.describe()
            )
            return result
        return replace(result, etag=response.body.get("@odata.etag") or result.etag)

    def _update(self, calendar_id: str, event: dict, draft: EventDraft) -> WriteResult:
        event_id = str(event["id"])
        unstamped = extended_value(event, self.uid_prop) is None and not self._derived(
            event, draft.external_id
        )
        if not differs(event, draft, self.settings.territory):
            if unstamped:
                return self._stamp(calendar_id, event)
            return WriteResult(href=event_id, etag=event.get("@odata.etag"), created=False)
        headers = {"If-Match": event["@odata.etag"]} if event.get("@odata.etag") else {}
        body = event_body(draft, self.prop_id, create=False)
        if unstamped and event.get("iCalUId"):
            body["singleValueExtendedProperties"] = [
                {"id": self.uid_prop, "value": str(event["iCalUId"])}
            ]
        response = self.http.send(
            self._request(
                "PATCH",
                calendar_id,
                f"/events/{quote(event_id, safe='')}",
                body=body,
                headers=headers,
            )
        )
        raise_for(response, calendar_id)
        return WriteResult(href=event_id, etag=response.body.get("@odata.etag"), created=False)

    def delete_event(self, calendar_id: str, external_id: str) -> bool:
        events = self._ours(calendar_id, external_id)
        if not events:
            self._refuse_foreign(calendar_id, external_id)
            return False
        return any([self._delete(calendar_id, str(e["id"])) for e in events])

    def _delete(self, calendar_id: str, event_id: str) -> bool:
        response = self.http.send(
            self._request("DELETE", calendar_id, f"/events/{quote(event_id, safe='')}")
        )
        if response.status == 404:
            return False
        raise_for(response, calendar_id)
        return True

    # ----- free/busy -----------------------------------------------------------------------------
    def free_busy(
        self, calendar_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[BusyInterval]]:
        """getSchedule, split into calls of at most 20 schedules and under 62 days, batched.
        Calendars Graph answers with an error (no such mailbox, no access) are left out."""
        ids = list(dict.fromkeys(calendar_ids))
        groups = [ids[i : i + SCHEDULE_LIMIT] for i in range(0, len(ids), SCHEDULE_LIMIT)]
        calls = [
            (g, s, e) for g in groups for s, e in spans(start, end, self.settings.schedule_days)
        ]
        calls, responses = self._schedules_fitted(calls)
        found: dict[str, list[BusyInterval]] = {}
        answered: set[str] = set()
        by_key = {_key(c): c for c in ids}
        for (group, s, e), response in zip(calls, responses, strict=True):
            raise_for(response, group[0] if len(group) == 1 else None)
            for info in response.body.get("value") or []:
                calendar_id = by_key.get(_key(str(info.get("scheduleId", ""))))
                if calendar_id is None:
                    continue
                if info.get("error"):
                    error = info["error"]
                    log.warning(
                        "Graph: no free/busy for %s: %s: %s",
                        calendar_id,
                        error.get("responseCode"),
                        error.get("message"),
                    )
                    continue
                answered.add(calendar_id)
                found.setdefault(calendar_id, []).extend(
                    busy_from_schedule(info, s, e, self.settings.territory)
                )
        return {c: merge_busy(found.get(c, [])) for c in ids if c in answered}

    def _schedules_fitted(
        self, calls: list[tuple[list[str], datetime, datetime]]
    ) -> tuple[list[tuple[list[str], datetime, datetime]], list[GraphResponse]]:
        """Run the calls; one Graph finds too long (ErrorTimeIntervalTooBig: "The allowed limit
        = 62 days", microsoft-graph-docs PR #19703) is split in two and run again."""
        responses = self._schedules(calls)
        for _ in range(4):
            too_big = {i for i, r in enumerate(responses) if r.error_code == TOO_LONG}
            if not too_big:
                break
            log.warning("Graph: getSchedule span too long (%s); splitting it", TOO_LONG)
            halves = []
            for index in sorted(too_big):
                group, lo, hi = calls[index]
                middle = lo + (hi - lo) / 2
                halves += [(group, lo, middle), (group, middle, hi)]
            kept = [i for i in range(len(calls)) if i not in too_big]
            calls = [calls[i] for i in kept] + halves
            responses = [responses[i] for i in kept] + self._schedules(halves)
        return calls, responses

    def _schedules(self, calls: list[tuple[list[str], datetime, datetime]]) -> list[GraphResponse]:
        """Run the getSchedule calls; a call refused for its caller mailbox (outside the app's
        scope, say) is tried again on the next mailbox of its group, so one locked mailbox
        never costs the others their free/busy."""
        responses: list[GraphResponse | None] = [None] * len(calls)
        attempt = [0] * len(calls)
        todo = list(range(len(calls)))
        while todo:
            requests = []
            for index in todo:
                group, s, e = calls[index]
                callers = (
                    [self.settings.schedule_mailbox] if self.settings.schedule_mailbox else group
                )
                body = {
                    "schedules": group,
                    "startTime": {"dateTime": iso_utc(s)[:-1], "timeZone": "UTC"},
                    "endTime": {"dateTime": iso_utc(e)[:-1], "timeZone": "UTC"},
                    "availabilityViewInterval": 1440,
                }
                requests.append(
                    self._request(
                        "POST",
                        callers[attempt[index]],
                        "/calendar/getSchedule",
                        body=body,
                        headers={"Prefer": 'outlook.timezone="UTC"'},
                    )
                )
            retry = []
            for index, response in zip(todo, self.http.send_many(requests), strict=True):
                responses[index] = response
                callers = 1 if self.settings.schedule_mailbox else len(calls[index][0])
                if response.status in (403, 404) and attempt[index] + 1 < min(callers, 3):
                    attempt[index] += 1
                    retry.append(index)
            todo = retry
        return [r for r in responses if r is not None]

    # ----- syncd check ---------------------------------------------------------------------------
    def probe(self, calendar_id: str) -> ProbeResult:
        """Read the calendar, and PATCH a nonexistent event: Graph refuses that with 403 when the
        app may not write here, and with 400/404 when it may. Nothing is ever created."""
        probe_id = "AAMkAGSelvbookProbe" + "A" * 24
        try:
            read, write = self.http.send_many(
                [
                    self._request("GET", calendar_id, "/calendar?$select=id,name,canEdit"),
                    self._request("PATCH", calendar_id, f"/events/{probe_id}", body={}),
                ]
            )
        except (ConnectorError, Throttled) as exc:
            return ProbeResult(calendar_id, reachable=False, writable=False, error=str(exc))
        if not read.ok:
            return ProbeResult(calendar_id, reachable=False, writable=False, error=read.describe())
        if write.status in (401, 403) or write.retry_after is not None or write.status == 0:
            return ProbeResult(calendar_id, reachable=True, writable=False, error=write.describe())
        return ProbeResult(calendar_id, reachable=True, writable=True)
