"""Who is asking, for which mailbox, and whether they may: impersonation and folder rights.

Impersonation errors are SOAP faults in Exchange (the request is refused before any operation
runs); missing folder rights are per-response-message errors (ErrorAccessDenied).
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from tests.sims.ews.store import Mailbox, Store, StoreError
from tests.sims.ews.xmlio import SOAP, t


class Fault(Exception):
    """Answer the whole request with a SOAP fault."""

    def __init__(self, code: str, text: str, back_off_ms: int | None = None) -> None:
        super().__init__(f"{code}: {text}")
        self.code, self.text, self.back_off_ms = code, text, back_off_ms


@dataclass
class Request:
    op: str
    body: ET.Element  # the operation element inside soap:Body
    impersonated: str | None  # PrimarySmtpAddress/SmtpAddress from ExchangeImpersonation
    timezone_id: str | None  # TimeZoneContext/TimeZoneDefinition@Id
    api_version: str | None
    anchor: str | None  # X-AnchorMailbox header


def parse_request(raw: bytes, anchor: str | None) -> Request:
    env = ET.fromstring(raw)
    header = env.find(f"{{{SOAP}}}Header")
    body = env.find(f"{{{SOAP}}}Body")
    op_el = body[0]
    impersonated = tz = version = None
    if header is not None:
        sid = header.find(f"{t('ExchangeImpersonation')}/{t('ConnectingSID')}")
        if sid is not None:
            for name in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName"):
                if sid.findtext(t(name)):
                    impersonated = sid.findtext(t(name)).strip().lower()
                    break
        tzdef = header.find(f"{t('TimeZoneContext')}/{t('TimeZoneDefinition')}")
        if tzdef is not None:
            tz = tzdef.get("Id")
        rsv = header.find(t("RequestServerVersion"))
        if rsv is not None:
            version = rsv.get("Version")
    return Request(op_el.tag.split("}")[1], op_el, impersonated, tz, version, anchor)


def check_impersonation(store: Store, req: Request) -> None:
    """Refuse the request as Exchange does when the impersonated user is unknown or denied."""
    if req.impersonated is None:
        return
    mbx = store.mailboxes.get(req.impersonated)
    if mbx is None or not mbx.exists:
        raise Fault(
            "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it."
        )
    if mbx.access == "deny_impersonation":
        raise Fault(
            "ErrorImpersonateUserDenied",
            "The account does not have permission to impersonate the requested user.",
        )


def default_mailbox(req: Request) -> str:
    if req.impersonated:
        return req.impersonated
    if req.anchor:
        return req.anchor.lower()
    raise StoreError(
        "ErrorMissingEmailAddress",
        "When making a request as an account that does not have a mailbox, you must specify the mailbox primary SMTP address for any distinguished folders.",
    )


def readable(store: Store, req: Request, email: str) -> Mailbox:
    mbx = store.mailbox(email)
    if mbx.access in ("none",) or (mbx.access == "deny_impersonation" and req.impersonated is None):
        raise StoreError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    return mbx


def writable(store: Store, req: Request, email: str) -> Mailbox:
    mbx = readable(store, req, email)
    if mbx.access == "read":
        raise StoreError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    return mbx


def calendar_folder_id(email: str) -> str:
    return "AQMk" + base64.b64encode(f"{email}|calendar".encode()).decode()


def folder_mailbox(req: Request, folder_el: ET.Element) -> str:
    """The mailbox a FolderId or DistinguishedFolderId element points at."""
    if folder_el.tag == t("DistinguishedFolderId"):
        if folder_el.get("Id") not in ("calendar",):
            raise StoreError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )
        addr = folder_el.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
        return addr.strip().lower() if addr else default_mailbox(req)
    try:
        email, _name = base64.b64decode(folder_el.get("Id", "")[4:]).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        raise StoreError("ErrorInvalidIdMalformed", "Id is malformed.") from None
    return email
