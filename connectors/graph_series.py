"""Recurring series on Graph, read whole: a master plus the instances Graph expanded.

calendarView/delta reports a series as its ``seriesMaster`` plus one stub per occurrence in the
window (id, type, seriesMasterId, start, end, etag; no subject, categories, showAs or iCalUId:
microsoft-graph-docs issues #1716, #7632, #22197, -contrib #34), and says nothing when a single
occurrence is deleted (microsoft-graph-docs PR #4501). So:

- a full round builds each series from its master and its stubs, with no extra request;
- in an incremental round a series whose master changed is listed again with
  ``GET /events/{id}/instances`` over the token's window (full occurrences, exceptions
  included); the new series item replaces the old one, so a deleted occurrence disappears;
- stubs whose master is not in the round get the master with ``GET /events/{id}``;
- all of those requests go out together ($batch), and a series is remembered by its master's
  etag and window: a master Graph reports again unchanged costs nothing more;
- ``/instances`` may leave a series' exceptions out (microsoft-graph-docs-contrib #540,
  microsoft-graph-docs #4294), so a listing is merged with what delta delivered: the
  occurrences and exceptions of this round, and the exceptions of earlier rounds, are kept
  (matched by id, or by originalStart) unless the listing has them or delta removed them.
  A moved occurrence keeps blocking its moved time; a deleted one still disappears.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from connectors.base import CalendarItem, Unreadable
from connectors.graph_http import GraphHttp, GraphRequest, GraphResponse, raise_for
from connectors.graph_items import iso_utc, series_item, series_spans
from mappings.privacy import redact_cpr

CACHE_SIZE = 5000  # series remembered per connector (a few per caseworker)
UTC_TIMES = {"Prefer": 'outlook.timezone="UTC"'}


@dataclass(frozen=True)
class _Known:
    etag: str | None
    window: tuple[datetime, datetime]
    item: CalendarItem
    exceptions: tuple[dict, ...] = ()  # as delta or /instances gave them, for later merges


@dataclass
class SeriesResult:
    items: list[CalendarItem]
    deleted: list[str]  # series whose master is gone
    quarantined: list[Unreadable | tuple[str, str]]


class SeriesReader:
    """Turns the series entries of one delta round into whole series items."""

    def __init__(
        self,
        http: GraphHttp,
        request: Callable[..., GraphRequest],
        territory: str,
    ) -> None:
        self.http = http
        self._request = request  # (method, calendar_id, path, **kw) -> GraphRequest
        self.territory = territory
        self._known: OrderedDict[tuple[str, str], _Known] = OrderedDict()
        self._lock = threading.Lock()

    def read(
        self,
        calendar_id: str,
        masters: Mapping[str, dict],
        stubs: Mapping[str, list[dict]],
        window: tuple[datetime, datetime],
        *,
        full: bool,
        removed: Collection[str] = (),
    ) -> SeriesResult:
        """``removed``: ids delta reported as ``@removed`` in this round."""
        result = SeriesResult([], [], [])
        gone = set(removed)
        series_ids = list(dict.fromkeys([*masters, *stubs]))
        masters = dict(masters)
        missing = [s for s in series_ids if s not in masters]
        for series_id, response in zip(
            missing, self._get_masters(calendar_id, missing), strict=True
        ):
            if response.status == 404:
                result.deleted.append(series_id)  # the series is gone; its item goes too
            elif response.ok:
                masters[series_id] = response.body
            else:
                _fail_whole(response, calendar_id)
                self._quarantine(series_id, None, stubs.get(series_id, []), response, result)
        relist = []
        for series_id in series_ids:
            master = masters.get(series_id)
            if master is None:
                continue
            etag = master.get("@odata.etag")
            known = self._recall(calendar_id, series_id)
            own = stubs.get(series_id, [])
            if full and series_id in stubs and all(s.get("type") == "occurrence" for s in own):
                self._build(calendar_id, master, own, window, result)
            elif known is not None and known.etag == etag and known.window == window:
                result.items.append(known.item)
            else:
                relist.append(series_id)
        for series_id, instances in zip(
            relist, self._instances(calendar_id, relist, window), strict=True
        ):
            if instances is None:
                result.deleted.append(series_id)
                continue
            if isinstance(instances, GraphResponse):
                own = stubs.get(series_id, [])
                if full and own:  # a full round's stubs are the whole series in the window
                    self._build(calendar_id, masters[series_id], own, window, result)
                else:
                    self._quarantine(series_id, masters[series_id], own, instances, result)
                continue
            known = self._recall(calendar_id, series_id)
            delivered = [
                *(known.exceptions if known is not None else ()),
                *stubs.get(series_id, []),
            ]
            merged = merge_instances(instances, [d for d in delivered if str(d["id"]) not in gone])
            self._build(calendar_id, masters[series_id], merged, window, result)
        return result

    def _build(
        self,
        calendar_id: str,
        master: dict,
        instances: Sequence[dict],
        window: tuple[datetime, datetime],
        result: SeriesResult,
    ) -> None:
        series_id = str(master["id"])
        try:
            item = series_item(master, instances, self.territory)
        except (KeyError, TypeError, ValueError, LookupError) as exc:
            result.quarantined.append((series_id, f"unreadable Graph series: {exc!r}"))
            return
        result.items.append(item)
        exceptions = tuple(i for i in instances if i.get("type") == "exception")
        with self._lock:
            key = (calendar_id.lower(), series_id)
            self._known[key] = _Known(master.get("@odata.etag"), window, item, exceptions)
            self._known.move_to_end(key)
            while len(self._known) > CACHE_SIZE:
                self._known.popitem(last=False)

    def _quarantine(
        self,
        series_id: str,
        master: dict | None,
        stubs: Sequence[dict],
        response: GraphResponse,
        result: SeriesResult,
    ) -> None:
        """One series Graph will not expand (a 500 or 400 on /instances, say) never stops the
        others: it is quarantined and still blocks the time its master and stubs give."""
        result.quarantined.append(
            Unreadable(
                series_id,
                f"Graph could not list this series: HTTP {response.status} {response.describe()}",
                uid=str((master or {}).get("iCalUId") or ""),
                summary=redact_cpr(str((master or {}).get("subject") or ""))[:80],
                spans=series_spans(master, stubs, self.territory),
            )
        )

    def _recall(self, calendar_id: str, series_id: str) -> _Known | None:
        with self._lock:
            return self._known.get((calendar_id.lower(), series_id))

    def _get_masters(self, calendar_id: str, ids: list[str]) -> list[GraphResponse]:
        if not ids:
            return []
        return self.http.send_many(
            [
                self._request("GET", calendar_id, f"/events/{quote(i, safe='')}", headers=UTC_TIMES)
                for i in ids
            ]
        )

    def _instances(
        self, calendar_id: str, ids: list[str], window: tuple[datetime, datetime]
    ) -> list[list[dict] | GraphResponse | None]:
        """Every instance of each series in the window (None: the series is gone; the failed
        response: Graph would not list it); first pages batched, further pages (rare: over 100
        instances in the window) one by one."""
        if not ids:
            return []
        query = f"startDateTime={iso_utc(window[0])}&endDateTime={iso_utc(window[1])}&$top=100"
        first = self.http.send_many(
            [
                self._request(
                    "GET",
                    calendar_id,
                    f"/events/{quote(i, safe='')}/instances?{query}",
                    headers=UTC_TIMES,
                )
                for i in ids
            ]
        )
        found: list[list[dict] | GraphResponse | None] = []
        for response in first:
            if response.status == 404:
                found.append(None)
                continue
            if not response.ok:
                _fail_whole(response, calendar_id)
                found.append(response)
                continue
            instances: list[dict] | GraphResponse = list(response.body.get("value") or [])
            link = response.body.get("@odata.nextLink")
            while link and isinstance(instances, list):
                page = self.http.send(
                    GraphRequest("GET", link, calendar_id.strip().lower(), headers=UTC_TIMES)
                )
                if page.ok:
                    instances.extend(page.body.get("value") or [])
                    link = page.body.get("@odata.nextLink")
                else:
                    _fail_whole(page, calendar_id)
                    instances = page
            found.append(instances)
        return found


def _fail_whole(response: GraphResponse, calendar_id: str) -> None:
    """Raise for what concerns the whole calendar (throttling, no answer, no access); a
    series-specific error (400, 5xx after retries) is left to quarantine that series."""
    if response.retry_after is not None or response.status in (0, 401, 403):
        raise_for(response, calendar_id)


def merge_instances(listed: Sequence[dict], delivered: Sequence[dict]) -> list[dict]:
    """``/instances``' answer plus what delta delivered that the answer lacks (matched by id,
    or by originalStart where both have one); of several deliveries of one id the last wins."""
    ids = {str(i["id"]) for i in listed}
    originals = {_original(i) for i in listed} - {None}
    extra: dict[str, dict] = {}
    for entry in delivered:
        if str(entry["id"]) in ids or (_original(entry) or "") in originals:
            continue
        extra.pop(str(entry["id"]), None)
        extra[str(entry["id"])] = entry
    return [*listed, *extra.values()]


def _original(entry: Mapping) -> str | None:
    value = entry.get("originalStart")
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return iso_utc(moment) if moment.tzinfo else str(value)


def split_round(
    live: Sequence[dict],
) -> tuple[list[dict], dict[str, dict], dict[str, list[dict]]]:
    """A delta round's live entries as (single events, masters by id, stubs by master id)."""
    singles: list[dict] = []
    masters: dict[str, dict] = {}
    stubs: dict[str, list[dict]] = {}
    for entry in live:
        kind = entry.get("type")
        if kind == "seriesMaster":
            masters[str(entry["id"])] = entry
        elif kind in ("occurrence", "exception") and entry.get("seriesMasterId"):
            stubs.setdefault(str(entry["seriesMasterId"]), []).append(entry)
        else:
            singles.append(entry)
    return singles, masters, stubs
