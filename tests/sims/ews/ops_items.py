"""Item operations: FindItem, GetItem, CreateItem, UpdateItem, DeleteItem, SyncFolderItems."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from datetime import datetime

from tests.sims.ews.access import Request, folder_mailbox, readable, writable
from tests.sims.ews.store import Instance, Item, Store, StoreError
from tests.sims.ews.xmlio import (
    Shape,
    apply_item_xml,
    computed_property,
    ext_key,
    fmt_dt,
    m,
    new_item,
    parse_dt,
    render_item,
    response_message,
    split_occurrence_id,
    sub,
    t,
)

SEND_NONE = ("SendToNone", None)


def _response(req: Request) -> tuple[ET.Element, ET.Element]:
    root = ET.Element(m(f"{req.op}Response"))
    return root, sub(root, m("ResponseMessages"))


def _error(msgs: ET.Element, name: str, exc: StoreError) -> ET.Element:
    return response_message(msgs, name, exc.code, exc.text)


# -- FindItem --------------------------------------------------------------------------------------
def find_item(store: Store, req: Request) -> ET.Element:
    root, msgs = _response(req)
    name = "FindItemResponseMessage"
    shape = Shape(req.body.find(m("ItemShape")))
    try:
        folder = req.body.find(m("ParentFolderIds"))[0]
        mbx = readable(store, req, folder_mailbox(req, folder))
        view = req.body.find(m("CalendarView"))
        if view is None and shape.complex_fields():
            raise StoreError(
                "ErrorInvalidPropertyRequest",
                f"The property {sorted(shape.complex_fields())[0]} can't be used in FindItem requests.",
            )
        restriction = req.body.find(m("Restriction"))
        with store.lock:
            items = list(mbx.items.values())
            if view is not None:
                start, end = parse_dt(view.get("StartDate")), parse_dt(view.get("EndDate"))
                found: list[tuple[Item, Instance | None]] = []
                for item in items:
                    found.extend((item, i) for i in store.instances(item, start, end))
                found.sort(key=lambda pair: pair[1].start)
                limit = int(view.get("MaxEntriesReturned") or 0) or len(found)
                if len(found) > limit:
                    raise StoreError(
                        "ErrorCalendarViewRangeTooBig",
                        "The calendar view range is too big.",
                    )
                msg = response_message(msgs, name)
                folder_el = sub(
                    msg,
                    m("RootFolder"),
                    TotalItemsInView=str(len(found)),
                    IncludesLastItemInRange="true",
                )
                container = sub(folder_el, t("Items"))
                for item, inst in found:
                    occ_id = None
                    if inst.original_start is not None:
                        occ_id = f"{item.id}.OCC.{fmt_dt(inst.original_start)}"
                    render_item(container, store, item, shape, inst, occ_id)
                return root
            matches = [i for i in items if restriction is None or _matches(i, restriction[0])]
            matches.sort(key=lambda i: i.start)
            paging = req.body.find(m("IndexedPageItemView"))
            offset = int(paging.get("Offset", "0")) if paging is not None else 0
            size = int(paging.get("MaxEntriesReturned") or 1000) if paging is not None else 1000
            page = matches[offset : offset + size]
            last = offset + len(page) >= len(matches)
            msg = response_message(msgs, name)
            folder_el = sub(
                msg,
                m("RootFolder"),
                IndexedPagingOffset=str(offset + len(page)),
                TotalItemsInView=str(len(matches)),
                IncludesLastItemInRange="true" if last else "false",
            )
            container = sub(folder_el, t("Items"))
            for item in page:
                render_item(container, store, item, shape)
    except StoreError as exc:
        _error(msgs, name, exc)
    return root


def _field_value(item: Item, path: ET.Element) -> str | datetime | None:
    if path.tag == t("ExtendedFieldURI"):
        return computed_property(item, ext_key(path))
    uri = path.get("FieldURI")
    return {
        "item:Subject": item.subject,
        "calendar:Start": item.start,
        "calendar:End": item.end,
        "calendar:UID": item.uid,
        "calendar:Location": item.location,
        "item:Sensitivity": item.sensitivity,
    }.get(uri)


def _matches(item: Item, expr: ET.Element) -> bool:
    tag = expr.tag.split("}")[1]
    if tag == "And":
        return all(_matches(item, e) for e in expr)
    if tag == "Or":
        return any(_matches(item, e) for e in expr)
    if tag == "Not":
        return not _matches(item, expr[0])
    if tag == "Exists":
        return _field_value(item, expr[0]) is not None
    value = _field_value(item, expr[0])
    const = expr.find(f"{t('FieldURIOrConstant')}/{t('Constant')}").get("Value")
    if value is None:
        return tag == "IsNotEqualTo"
    if isinstance(value, datetime):
        other: str | datetime = parse_dt(const)
    else:
        other = const
    ops = {
        "IsEqualTo": value == other,
        "IsNotEqualTo": value != other,
        "IsGreaterThan": value > other,
        "IsGreaterThanOrEqualTo": value >= other,
        "IsLessThan": value < other,
        "IsLessThanOrEqualTo": value <= other,
    }
    if tag not in ops:
        raise StoreError("ErrorUnsupportedQueryFilter", f"Unsupported restriction {tag}")
    return ops[tag]


# -- GetItem ---------------------------------------------------------------------------------------
def get_item(store: Store, req: Request) -> ET.Element:
    root, msgs = _response(req)
    name = "GetItemResponseMessage"
    shape = Shape(req.body.find(m("ItemShape")))
    for id_el in req.body.find(m("ItemIds")):
        try:
            with store.lock:
                item, inst, occ_id = _resolve(store, id_el)
                readable(store, req, item.mailbox)
                msg = response_message(msgs, name)
                render_item(sub(msg, m("Items")), store, item, shape, inst, occ_id)
        except StoreError as exc:
            _error(msgs, name, exc)
    return root


def _resolve(store: Store, id_el: ET.Element) -> tuple[Item, Instance | None, str | None]:
    tag = id_el.tag.split("}")[1]
    if tag == "OccurrenceItemId":
        master = store.locate(id_el.get("RecurringMasterId"))
        index = int(id_el.get("InstanceIndex"))
        insts = store.instances(
            master, master.start, master.start.replace(year=master.start.year + 5)
        )
        if not 0 < index <= len(insts):
            raise StoreError(
                "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "Index out of range."
            )
        inst = insts[index - 1]
        return master, inst, f"{master.id}.OCC.{fmt_dt(inst.original_start)}"
    if tag == "RecurringMasterItemId":
        master_id, _ = split_occurrence_id(id_el.get("OccurrenceId"))
        return store.locate(master_id), None, None
    master_id, original = split_occurrence_id(id_el.get("Id"))
    item = store.locate(master_id)
    if original is None:
        return item, None, None
    if original in item.exdates:
        raise StoreError("ErrorItemNotFound", "The specified object was not found in the store.")
    duration = item.end - item.start
    change = item.overrides.get(original, {})
    inst = Instance(
        item,
        change.get("start", original),
        change.get("end", original + duration),
        original,
        change.get("subject", item.subject),
        change.get("free_busy", item.free_busy),
    )
    return item, inst, id_el.get("Id")


# -- CreateItem / UpdateItem / DeleteItem ----------------------------------------------------------
def create_item(store: Store, req: Request) -> ET.Element:
    root, msgs = _response(req)
    name = "CreateItemResponseMessage"
    send = req.body.get("SendMeetingInvitations")
    target = req.body.find(m("SavedItemFolderId"))
    for el in req.body.find(m("Items")):
        try:
            with store.lock:
                email = folder_mailbox(req, target[0]) if target is not None else req.impersonated
                if email is None:
                    raise StoreError("ErrorMissingEmailAddress", "No mailbox to save the item in.")
                mbx = writable(store, req, email)
                if el.tag != t("CalendarItem"):
                    raise StoreError(
                        "ErrorInvalidItemForOperationCreateItem", "Only calendar items."
                    )
                item = new_item(store, mbx.email, el)
                if item.end < item.start:
                    raise StoreError(
                        "ErrorCalendarEndDateIsEarlierThanStartDate", "End before start."
                    )
                if item.is_meeting:
                    item.organizer = mbx.email
                    if send not in SEND_NONE:
                        store.book_rooms(item)
                store.insert(item)
                msg = response_message(msgs, name)
                items = sub(msg, m("Items"))
                sub(
                    sub(items, t("CalendarItem")), t("ItemId"), Id=item.id, ChangeKey=item.changekey
                )
        except StoreError as exc:
            _error(msgs, name, exc)
    return root


def update_item(store: Store, req: Request) -> ET.Element:
    root, msgs = _response(req)
    name = "UpdateItemResponseMessage"
    send = req.body.get("SendMeetingInvitationsOrCancellations")
    never_overwrite = req.body.get("ConflictResolution") == "NeverOverwrite"
    for change in req.body.find(m("ItemChanges")):
        try:
            with store.lock:
                id_el = change.find(t("ItemId"))
                item = store.locate(id_el.get("Id"))
                writable(store, req, item.mailbox)
                ck = id_el.get("ChangeKey")
                if never_overwrite and ck and ck != item.changekey:
                    raise StoreError(
                        "ErrorIrresolvableConflict",
                        "The send or update operation could not be performed because the change key "
                        "passed in the request does not match the current change key for the item.",
                    )
                rooms_before = {a.email.lower() for a in item.attendees()}
                when_before = (item.start, item.end)
                snapshot = copy.deepcopy(item.__dict__)
                try:
                    for upd in change.find(t("Updates")):
                        _apply_update(item, upd)
                    if item.end < item.start:
                        raise StoreError(
                            "ErrorCalendarEndDateIsEarlierThanStartDate", "End before start."
                        )
                except StoreError:
                    item.__dict__.update(snapshot)
                    raise
                moved = when_before != (item.start, item.end)
                rooms_after = {a.email.lower() for a in item.attendees()}
                if item.is_meeting:
                    item.organizer = item.organizer or item.mailbox
                if send not in SEND_NONE and (moved or rooms_after != rooms_before):
                    store.book_rooms(item, previous_rooms=rooms_before)
                store.touch(item)
                msg = response_message(msgs, name)
                items = sub(msg, m("Items"))
                sub(
                    sub(items, t("CalendarItem")), t("ItemId"), Id=item.id, ChangeKey=item.changekey
                )
                sub(msg, m("ConflictResults")).append(_count(0))
        except StoreError as exc:
            _error(msgs, name, exc)
    return root


def _count(n: int) -> ET.Element:
    el = ET.Element(t("Count"))
    el.text = str(n)
    return el


def _apply_update(item: Item, upd: ET.Element) -> None:
    kind = upd.tag.split("}")[1]
    path = upd[0]
    if kind in ("SetItemField", "AppendToItemField"):
        apply_item_xml(item, upd[1])
        return
    if path.tag == t("ExtendedFieldURI"):
        item.ext.pop(ext_key(path), None)
        return
    cleared = {
        "item:Categories": ("categories", []),
        "item:Body": ("body", ""),
        "calendar:Location": ("location", ""),
        "calendar:RequiredAttendees": ("required", []),
        "calendar:OptionalAttendees": ("optional", []),
        "calendar:Resources": ("resources", []),
        "calendar:Recurrence": ("recurrence", None),
    }.get(path.get("FieldURI"))
    if cleared:
        setattr(item, *cleared)


def delete_item(store: Store, req: Request) -> ET.Element:
    root, msgs = _response(req)
    name = "DeleteItemResponseMessage"
    send = req.body.get("SendMeetingCancellations")
    for id_el in req.body.find(m("ItemIds")):
        try:
            with store.lock:
                master_id, original = split_occurrence_id(id_el.get("Id"))
                item = store.locate(master_id)
                writable(store, req, item.mailbox)
                if original is not None:
                    item.exdates.add(original)
                    item.overrides.pop(original, None)
                    store.touch(item)
                else:
                    if send not in SEND_NONE and item.is_meeting:
                        store.cancel_rooms(item)
                    store.remove(item)
            response_message(msgs, name)
        except StoreError as exc:
            _error(msgs, name, exc)
    return root


# -- SyncFolderItems -------------------------------------------------------------------------------
def sync_folder_items(store: Store, req: Request) -> ET.Element:
    root, msgs = _response(req)
    name = "SyncFolderItemsResponseMessage"
    shape = Shape(req.body.find(m("ItemShape")))
    try:
        folder = req.body.find(m("SyncFolderId"))[0]
        mbx = readable(store, req, folder_mailbox(req, folder))
        if shape.complex_fields():
            raise StoreError(
                "ErrorInvalidPropertyRequest",
                f"The property {sorted(shape.complex_fields())[0]} can't be used in SyncFolderItems.",
            )
        limit = min(int(req.body.findtext(m("MaxChangesReturned")) or "512"), 512)
        ignore = {i.get("Id") for i in req.body.findall(f"{m('Ignore')}/{t('ItemId')}")}
        with store.lock:
            state = (req.body.findtext(m("SyncState")) or "").strip()
            since = store.parse_sync_state(mbx, state) if state else None
            changes = [c for c in store.changes_since(mbx, since) if c[2] not in ignore]
            page, more = changes[:limit], len(changes) > limit
            new_seq = page[-1][0] if more else mbx.seq
            msg = response_message(msgs, name)
            sub(msg, m("SyncState"), store.sync_state(mbx, new_seq))
            sub(msg, m("IncludesLastItemInRange"), "false" if more else "true")
            container = sub(msg, m("Changes"))
            for _seq, kind, item_id in page:
                el = sub(container, t(kind))
                if kind == "Delete":
                    sub(el, t("ItemId"), Id=item_id)
                else:
                    render_item(el, store, mbx.items[item_id], shape)
    except StoreError as exc:
        msg = _error(msgs, name, exc)
        sub(msg, m("SyncState"))
        sub(msg, m("IncludesLastItemInRange"), "true")
    return root
