"""The Resource Booking Assistant (RBA) of a room mailbox, as both Exchange simulators model it.

What a room does with an invitation is its calendar processing policy, set with
``Set-CalendarProcessing`` (learn.microsoft.com/powershell/module/exchangepowershell/
set-calendarprocessing):

- ``AutomateProcessing``: ``AutoAccept`` lets the RBA accept or decline; ``AutoUpdate`` (the
  Calendar Attendant only) and ``None`` leave the request unanswered for a delegate.
- ``BookingWindowInDays`` (0-1080, default 180): "the maximum number of days in advance that the
  resource can be reserved"; a meeting ending beyond it is declined.
- ``AllowConflicts`` (default ``$false``): a request overlapping an accepted meeting is declined.
- ``DeleteSubject`` and ``AddOrganizerToSubject`` (both ``$true`` by default): the room's copy
  of the meeting loses its subject and shows the organizer's name instead.

The RBA works from the room's inbox, after the invitation has been delivered, so its answer
comes later than the organizer's write (seconds to minutes; longer under load). A room with
``answers_later`` keeps its invitations until the test lets the assistant run, so tests see the
in-between state without sleeping. Each simulator keeps its own clock (``now``) so a test can
put the booking window where it wants it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

OUTSIDE_WINDOW = "outside the booking window"
CONFLICT = "conflict"


@dataclass
class RoomPolicy:
    automate_processing: str = "AutoAccept"  # AutoAccept | AutoUpdate | None
    booking_window_days: int = 180
    allow_conflicts: bool = False
    delete_subject: bool = True
    add_organizer_to_subject: bool = True
    answers_later: bool = False  # the assistant answers only when the test lets it run


@dataclass(frozen=True)
class Answer:
    response: str  # accept | decline
    reason: str = ""  # why a decline (OUTSIDE_WINDOW, CONFLICT)


def decide(
    policy: RoomPolicy, end: datetime, now: datetime, *, conflict: bool, cancelled: bool = False
) -> Answer | None:
    """The assistant's answer to a meeting ending at ``end``; None leaves it to a delegate."""
    if policy.automate_processing != "AutoAccept":
        return None
    if end > now + timedelta(days=policy.booking_window_days):
        return Answer("decline", OUTSIDE_WINDOW)
    if cancelled or (conflict and not policy.allow_conflicts):
        return Answer("decline", CONFLICT)
    return Answer("accept")


def copy_subject(policy: RoomPolicy, subject: str, organizer_name: str) -> str:
    """The subject of the room's copy of a meeting (DeleteSubject, AddOrganizerToSubject)."""
    kept = "" if policy.delete_subject else subject
    if policy.add_organizer_to_subject:
        return f"{organizer_name} {kept}".strip()
    return kept
