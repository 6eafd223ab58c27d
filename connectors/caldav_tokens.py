"""Synthetic sync tokens for CalDAV servers without sync-collection (RFC 6578).

Such a server can still list every item with its ETag (PROPFIND Depth 1). The token remembers
that listing (item name -> short hash of its ETag), so the next listing yields exactly what was
created, changed or deleted. The map is compressed: a few dozen bytes per item, so a calendar
of 1,000 items costs a token of a few tens of kilobytes, which the engine stores as text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zlib
from collections.abc import Mapping

PREFIX = "selvbook-etags:1:"


def etag_digest(etag: str | None) -> str:
    """A short, stable fingerprint of an ETag (weak/strong quoting kept: it is part of it)."""
    return hashlib.sha1((etag or "").encode(), usedforsecurity=False).hexdigest()[:12]


def is_listing_token(token: str) -> bool:
    return token.startswith(PREFIX)


def encode(listing: Mapping[str, str]) -> str:
    """``listing`` maps an item's name inside the calendar to ``etag_digest`` of its ETag."""
    raw = json.dumps(dict(sorted(listing.items())), separators=(",", ":")).encode()
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode()


def decode(token: str) -> dict[str, str]:
    """Inverse of ``encode``; ``ValueError`` for anything that is not one of our tokens."""
    if not is_listing_token(token):
        raise ValueError("not a listing token")
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(token[len(PREFIX) :].encode()))
        listing = json.loads(raw)
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise ValueError(f"damaged listing token: {exc}") from None
    if not isinstance(listing, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in listing.items()
    ):
        raise ValueError("damaged listing token")
    return listing
