"""Non-item operations: ConvertId (version probe), GetFolder, GetUserAvailability, room lists."""

from __future__ import annotations

import calendar
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

from tests.sims.ews.access import Fault, Request, calendar_folder_id, folder_mailbox, readable
from tests.sims.ews.store import Store, StoreError
from tests.sims.ews.xmlio import DISPLAY_NAMES, m, parse_dt, response_message, sub, t

MAX_AVAILABILITY_MAILBOXES = 100
MAX_AVAILABILITY_DAYS = 42
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def convert_id(store: Store, req: Request) -> ET.Element:
    """exchangelib's version probe sends a dummy ConvertId; Exchange answers with an error message."""
    root = ET.Element(m("ConvertIdResponse"))
    msgs = sub(root, m("ResponseMessages"))
    for _ in req.body.find(m("SourceIds")):
        response_message(
            msgs, "ConvertIdResponseMessage", "ErrorInvalidIdMalformed", "Id is malformed."
        )
    return root


def get_folder(store: Store, req: Request) -> ET.Element:
    root = ET.Element(m("GetFolderResponse"))
    msgs = sub(root, m("ResponseMessages"))
    fields = {f.get("FieldURI") for f in req.body.iter(t("FieldURI"))}
    for folder in req.body.find(m("FolderIds")):
        try:
            mbx = readable(store, req, folder_mailbox(req, folder))
            msg = response_message(msgs, "GetFolderResponseMessage")
            cal = sub(sub(msg, m("Folders")), t("CalendarFolder"))
            sub(cal, t("FolderId"), Id=calendar_folder_id(mbx.email), ChangeKey="AgAAAA==")
            if "folder:FolderClass" in fields:
                sub(cal, t("FolderClass"), "IPF.Appointment")
            if "folder:DisplayName" in fields:
                sub(cal, t("DisplayName"), "Kalender")
            if "folder:TotalCount" in fields:
                sub(cal, t("TotalCount"), str(len(mbx.items)))
            if "folder:EffectiveRights" in fields:
                rights = sub(cal, t("EffectiveRights"))
                write = "true" if mbx.access == "full" else "false"
                for name, value in (
                    ("CreateAssociated", write),
                    ("CreateContents", write),
                    ("CreateHierarchy", write),
                    ("Delete", write),
                    ("Modify", write),
                    ("Read", "true"),
                    ("ViewPrivateItems", "true"),
                ):
                    sub(rights, t(name), value)
        except StoreError as exc:
            response_message(msgs, "GetFolderResponseMessage", exc.code, exc.text)
    return root


# -- GetUserAvailability ---------------------------------------------------------------------------
class RequestZone:
    """The Bias/StandardTime/DaylightTime rules of an availability request, as Exchange applies them."""

    def __init__(self, el: ET.Element | None) -> None:
        self.bias = int(el.findtext(t("Bias"))) if el is not None else 0
        self.std = self._rule(el.find(t("StandardTime"))) if el is not None else None
        self.dst = self._rule(el.find(t("DaylightTime"))) if el is not None else None

    @staticmethod
    def _rule(el: ET.Element | None) -> dict | None:
        if el is None:
            return None
        h, mi, s = (int(x) for x in el.findtext(t("Time")).split(":"))
        return {
            "bias": int(el.findtext(t("Bias"))),
            "time": timedelta(hours=h, minutes=mi, seconds=s),
            "order": int(el.findtext(t("DayOrder"))),
            "month": int(el.findtext(t("Month"))),
            "weekday": DAYS.index(el.findtext(t("DayOfWeek"))),
        }

    @staticmethod
    def _switch(rule: dict, year: int) -> datetime:
        """Local wall time of a transition in ``year`` (DayOrder 5 means the last one)."""
        days = calendar.monthrange(year, rule["month"])[1]
        hits = [
            d
            for d in range(1, days + 1)
            if date(year, rule["month"], d).weekday() == rule["weekday"]
        ]
        day = hits[-1] if rule["order"] >= len(hits) else hits[rule["order"] - 1]
        return datetime(year, rule["month"], day) + rule["time"]

    def offset_at_utc(self, moment: datetime) -> timedelta:
        base = -(self.bias + (self.std["bias"] if self.std else 0))
        if not self.dst or not self.std or self.dst["month"] == 0:
            return timedelta(minutes=base)
        dst_offset = -(self.bias + self.dst["bias"])
        naive = moment.astimezone(UTC).replace(tzinfo=None)
        on = self._switch(self.dst, naive.year) - timedelta(minutes=base)  # as UTC
        off = self._switch(self.std, naive.year) - timedelta(minutes=dst_offset)
        in_dst = on <= naive < off if on < off else not (off <= naive < on)
        return timedelta(minutes=dst_offset if in_dst else base)

    def to_local(self, moment: datetime) -> datetime:
        return (moment.astimezone(UTC) + self.offset_at_utc(moment)).replace(tzinfo=None)

    def to_utc(self, naive: datetime) -> datetime:
        guess = naive.replace(tzinfo=UTC) - self.offset_at_utc(naive.replace(tzinfo=UTC))
        return naive.replace(tzinfo=UTC) - self.offset_at_utc(guess)


def get_user_availability(store: Store, req: Request) -> ET.Element:
    root = ET.Element(m("GetUserAvailabilityResponse"))
    array = sub(root, m("FreeBusyResponseArray"))
    zone = RequestZone(req.body.find(t("TimeZone")))
    options = req.body.find(t("FreeBusyViewOptions"))
    window = options.find(t("TimeWindow"))
    start = _window_time(window.findtext(t("StartTime")), zone)
    end = _window_time(window.findtext(t("EndTime")), zone)
    view_type = options.findtext(t("RequestedView")) or "FreeBusy"
    mailboxes = list(req.body.find(m("MailboxDataArray")))
    if len(mailboxes) > MAX_AVAILABILITY_MAILBOXES:
        # ResponseCode (office-developer-exchange-docs, web-service-reference/responsecode.md):
        # "ErrorMailboxDataArrayTooBig: This error occurs when more than 100 entries are
        # supplied in a MailboxDataArray element." The request as a whole is refused.
        raise Fault(
            "ErrorMailboxDataArrayTooBig",
            f"The MailboxDataArray has {len(mailboxes)} entries; at most "
            f"{MAX_AVAILABILITY_MAILBOXES} are allowed.",
        )
    for data in mailboxes:
        resp = sub(array, m("FreeBusyResponse"))
        email = (data.findtext(f"{t('Email')}/{t('Address')}") or "").strip().lower()
        try:
            if end - start > timedelta(days=MAX_AVAILABILITY_DAYS):
                raise StoreError(
                    "ErrorTimeIntervalTooBig",
                    "The specified time interval is invalid (greater than 42 days).",
                )
            mbx = store.mailboxes.get(email)
            if mbx is None or not mbx.exists:
                raise StoreError(
                    "ErrorMailRecipientNotFound",
                    f"Unable to resolve e-mail address {email} to an Active Directory object.",
                )
            with store.lock:
                instances = store.busy_instances(mbx.email, start, end)
            response_message(resp, "ResponseMessage")
            view = sub(resp, m("FreeBusyView"))
            sub(view, t("FreeBusyViewType"), view_type)
            events = sub(view, t("CalendarEventArray"))
            for inst in instances:
                ev = sub(events, t("CalendarEvent"))
                sub(ev, t("StartTime"), zone.to_local(inst.start).isoformat(timespec="seconds"))
                sub(ev, t("EndTime"), zone.to_local(inst.end).isoformat(timespec="seconds"))
                sub(ev, t("BusyType"), inst.free_busy)
        except StoreError as exc:
            response_message(resp, "ResponseMessage", exc.code, exc.text)
    return root


def _window_time(text: str, zone: RequestZone) -> datetime:
    text = text.strip()
    if text.endswith("Z") or "+" in text[10:] or "-" in text[10:]:
        return parse_dt(text)
    return zone.to_utc(datetime.fromisoformat(text))


# -- rooms ----------------------------------------------------------------------------------------------
def get_room_lists(store: Store, req: Request) -> ET.Element:
    root = ET.Element(m("GetRoomListsResponse"), ResponseClass="Success")
    sub(root, m("ResponseCode"), "NoError")
    lists = sub(root, m("RoomLists"))
    for address, name in sorted(store.room_lists.items()):
        addr = sub(lists, t("Address"))
        sub(addr, t("Name"), name)
        sub(addr, t("EmailAddress"), address)
        sub(addr, t("RoutingType"), "SMTP")
        sub(addr, t("MailboxType"), "PublicDL")
    return root


def get_rooms(store: Store, req: Request) -> ET.Element:
    wanted = (req.body.findtext(f"{m('RoomList')}/{t('EmailAddress')}") or "").strip().lower()
    if wanted not in store.room_lists:
        root = ET.Element(m("GetRoomsResponse"), ResponseClass="Error")
        sub(root, m("MessageText"), "The specified room list could not be found.")
        sub(root, m("ResponseCode"), "ErrorNameResolutionNoResults")
        return root
    root = ET.Element(m("GetRoomsResponse"), ResponseClass="Success")
    sub(root, m("ResponseCode"), "NoError")
    rooms = sub(root, m("Rooms"))
    for mbx in sorted(store.mailboxes.values(), key=lambda x: x.email):
        if mbx.kind == "room" and mbx.room_list == wanted and mbx.exists:
            ident = sub(sub(rooms, t("Room")), t("Id"))
            sub(ident, t("Name"), mbx.name)
            sub(ident, t("EmailAddress"), mbx.email)
            sub(ident, t("RoutingType"), "SMTP")
            sub(ident, t("MailboxType"), "Mailbox")
    return root


def expand_dl(store: Store, req: Request) -> ET.Element:
    """ExpandDL: a distribution group's direct members; a nested group is listed as a member
    of MailboxType PublicDL, for the client to expand
    (https://learn.microsoft.com/exchange/client-developer/web-service-reference/expanddl)."""
    wanted = (req.body.findtext(f"{m('Mailbox')}/{t('EmailAddress')}") or "").strip().lower()
    root = ET.Element(m("ExpandDLResponse"))
    msgs = sub(root, m("ResponseMessages"))
    group = store.groups.get(wanted)
    if group is None:
        msg = sub(msgs, m("ExpandDLResponseMessage"), ResponseClass="Error")
        sub(msg, m("MessageText"), "No results were found.")
        sub(msg, m("ResponseCode"), "ErrorNameResolutionNoResults")
        sub(msg, m("DescriptiveLinkKey"), "0")
        return root
    msg = sub(msgs, m("ExpandDLResponseMessage"), ResponseClass="Success")
    sub(msg, m("ResponseCode"), "NoError")
    members = group["members"]
    expansion = sub(
        msg, m("DLExpansion"), TotalItemsInView=str(len(members)), IncludesLastItemInRange="true"
    )
    for address in members:
        box = sub(expansion, t("Mailbox"))
        nested = store.groups.get(address)
        mbx = store.mailboxes.get(address)
        sub(box, t("Name"), nested["name"] if nested else (mbx.name if mbx else address))
        sub(box, t("EmailAddress"), address)
        sub(box, t("RoutingType"), "SMTP")
        sub(box, t("MailboxType"), "PublicDL" if nested else "Mailbox")
    return root


__all__ = [
    "DISPLAY_NAMES",
    "convert_id",
    "expand_dl",
    "get_folder",
    "get_room_lists",
    "get_rooms",
    "get_user_availability",
]
