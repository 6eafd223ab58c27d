"""Exchange distribution group members over EWS (ExpandDL), for the directory sync.

ExpandDL returns a group's members; members that are groups themselves (MailboxType
PublicDL / PrivateDL) are expanded in turn, once each
(https://learn.microsoft.com/exchange/client-developer/web-service-reference/expanddl)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.directory import Person

if TYPE_CHECKING:
    from connectors.ews import EWSConnector

GROUP_TYPES = {"PublicDL", "PrivateDL", "GroupMailbox"}


def group_members(conn: EWSConnector, group: str) -> list[Person]:
    seen_groups: set[str] = set()
    people: dict[str, Person] = {}

    def expand(address: str) -> None:
        if address.lower() in seen_groups:
            return
        seen_groups.add(address.lower())
        for member in conn._call(None, lambda: list(conn.protocol.expand_dl(address))):
            email = (member.email_address or "").lower()
            if not email:
                continue
            if member.mailbox_type in GROUP_TYPES:
                expand(email)
            elif member.mailbox_type in (None, "Mailbox"):  # contacts have no calendar
                people.setdefault(email, Person(email, member.name or email, email, email))

    expand(group)
    return list(people.values())
