"""How a booked conversation appears in the caseworker's calendar.

The event is what colleagues, delegates, phones and room displays see, so it carries a
pseudonymous booking reference and never a CPR number, and it is marked private. The wording
comes from the rules, so a municipality can change it without code.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Literal

from connectors.base import EventDraft
from mappings.privacy import contains_cpr
from mappings.rules import Rules

Mode = Literal["in_person", "phone", "video"]
MODES: tuple[Mode, ...] = ("in_person", "phone", "video")


@dataclass(frozen=True)
class BookingView:
    """What the calendar may know about one booking; built by the engine from the store."""

    external_id: str
    type_title: str
    mode: Mode
    start: datetime
    end: datetime
    room_name: str | None
    site_name: str | None
    room_email: str | None
    booking_reference: str
    citizen_name: str | None = None
    citizen_contact: str | None = None  # shown only if the rules say so
    room_missing: bool = False  # in person, and no room yet: the location says so
    booked_by: str = "citizen"  # citizen | staff: staff bookings are not "selvbooket"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end must be aware datetimes")
        if self.end <= self.start:
            raise ValueError("end must be after start")


class RenderRefused(ValueError):
    """A text meant for the calendar holds something shaped like a CPR number. ``field`` names
    where it is (a ``BookingView`` field, or "rules" for the municipality's rule texts); the
    value itself is never repeated, so the error can be logged and shown."""

    def __init__(self, field: str) -> None:
        self.field = field
        where = "a rule text" if field == "rules" else field
        super().__init__(f"refusing to render booking: {where} contains a CPR number")


def _refuse_cpr(view: BookingView) -> None:
    for f in fields(view):
        value = getattr(view, f.name)
        if isinstance(value, str) and contains_cpr(value):
            raise RenderRefused(f.name)


def _location(view: BookingView, rules: Rules) -> str:
    if view.mode != "in_person":
        return ""
    if view.room_missing and not (view.room_name or "").strip():
        return rules.booking.room_missing
    room, site = (view.room_name or "").strip(), (view.site_name or "").strip()
    if room and site:
        return rules.booking.location.format(room_name=room, site_name=site)
    return room or site


def render_booking(view: BookingView, rules: Rules) -> EventDraft:
    """The event draft for one booking (``RenderRefused``, a ``ValueError``, if any text
    holds a CPR number)."""
    _refuse_cpr(view)
    booking = rules.booking
    label = getattr(booking.mode_labels, view.mode)
    staff = view.booked_by == "staff"
    lines = [
        (booking.staff_description if staff else booking.description).format(
            booking_reference=view.booking_reference, type_title=view.type_title, mode_label=label
        )
    ]
    mode_line = getattr(booking.mode_lines, view.mode)
    if mode_line:
        lines.append(mode_line)
    if booking.show_citizen_name and view.citizen_name and view.citizen_name.strip():
        lines.append(booking.citizen_name_line.format(citizen_name=view.citizen_name.strip()))
    lines.append(booking.contact_line.format(booking_reference=view.booking_reference))
    if booking.show_citizen_contact and view.citizen_contact and view.citizen_contact.strip():
        lines.append(
            booking.citizen_contact_line.format(citizen_contact=view.citizen_contact.strip())
        )
    draft = EventDraft(
        external_id=view.external_id,
        summary=(booking.staff_title if staff else booking.title).format(
            type_title=view.type_title, mode_label=label
        ),
        start=view.start,
        end=view.end,
        location=_location(view, rules),
        description="\n".join(line for line in lines if line),
        private=True,
        categories=(booking.category,) if booking.category else (),
        transparent=False,
        resources=(view.room_email.strip(),) if view.room_email and view.room_email.strip() else (),
        reminder_minutes=booking.reminder_minutes if booking.reminder else None,
    )
    # Rule texts are municipal configuration: check the result too, not just the inputs.
    for text in (draft.summary, draft.location, draft.description, *draft.categories):
        if contains_cpr(text):
            raise RenderRefused("rules")
    return draft
