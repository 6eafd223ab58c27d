"""Which calendar items are self-booking windows, which are busy time, which do not matter.

Caseworkers keep control of their calendar: they mark windows by category or title, and
everything else they have stays theirs. The daemon's own items are set apart first, so a booking
never counts as a window or as busy time against itself.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from connectors.base import CalendarItem
from mappings.rules import Rules

Kind = Literal["window", "busy", "ignore", "own"]

_DANISH = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "ß": "ss"})
_LOOSE = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ß": "ss"})


@dataclass(frozen=True)
class Classification:
    """What an item is. ``conversation_types`` is None for "every type the caseworker offers".

    ``unknown_types`` lists type names in a window's title that matched no conversation type, so
    the caseworker can be told about a typo instead of silently getting no offers.
    """

    kind: Kind
    conversation_types: tuple[str, ...] | None = None
    reason: str = ""
    unknown_types: tuple[str, ...] = ()


def name_keys(text: str) -> frozenset[str]:
    """Ways of writing a name that count as equal: case, accents and æ/ø/å spelled out or not.

    "Opfølgning", "opfolgning" and "OPFOELGNING" share a key; so do "Fællessamtale" and
    "faellessamtale".
    """
    folded = " ".join(text.casefold().split())
    keys = set()
    for table in (_DANISH, _LOOSE):
        decomposed = unicodedata.normalize("NFKD", folded.translate(table))
        keys.add("".join(c for c in decomposed if not unicodedata.combining(c)))
    return frozenset(keys)


def match_types(
    text: str, type_codes: Mapping[str, str], rules: Rules
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Conversation type codes named in ``text`` (by code or title), and the names not found."""
    lookup: dict[str, str] = {}
    for code, title in type_codes.items():
        for key in name_keys(title) | name_keys(code):
            lookup.setdefault(key, code)
    whole = _lookup(text, lookup)
    if whole is not None:
        return (whole,), ()
    found: list[str] = []
    unknown: list[str] = []
    for piece in rules.windows.separator_regex().split(text):
        part = (piece or "").strip()
        if not part:
            continue
        matched = _lookup(part, lookup)
        if matched is None:
            unknown.append(part)
        elif matched not in found:
            found.append(matched)
    return tuple(found), tuple(unknown)


def _lookup(text: str, lookup: Mapping[str, str]) -> str | None:
    for key in name_keys(text):
        if key in lookup:
            return lookup[key]
    return None


def _window(
    item: CalendarItem, rules: Rules, type_codes: Mapping[str, str]
) -> Classification | None:
    pattern = rules.windows.summary_regex()
    marked = {c.casefold() for c in rules.windows.categories}
    named: str | None = None
    why = ""
    match = pattern.match(item.summary or "")
    if match:
        named = (match.groupdict().get("types") or "").strip() or None
        why = "window by title"
    for category in item.categories:
        category_match = pattern.match(category)
        if category.casefold() in marked or category_match:
            why = why or f"window by category {category!r}"
            if named is None and category_match:
                named = (category_match.groupdict().get("types") or "").strip() or None
    if not why:
        return None
    if named is None:
        return Classification("window", None, why)
    codes, unknown = match_types(named, type_codes, rules)
    return Classification("window", codes, why, unknown)


def classify(item: CalendarItem, rules: Rules, type_codes: Mapping[str, str]) -> Classification:
    """Classify one item (or one occurrence's source) of a caseworker calendar.

    ``type_codes`` maps conversation type code -> title, for the types this caseworker offers.
    """
    if item.external_id:
        return Classification("own", reason="created by syncd")
    if item.status.upper() == "CANCELLED":
        return Classification("ignore", reason="cancelled")
    window = _window(item, rules, type_codes)
    if window is not None:
        return window
    busy = rules.busy
    if item.transparent:
        return Classification("ignore", reason="shown as free")
    if item.status.upper() == "TENTATIVE" and not busy.tentative_is_busy:
        return Classification("ignore", reason="tentative")
    if item.all_day and not busy.all_day_is_busy:
        return Classification("ignore", reason="all-day")
    ignored = {c.casefold() for c in busy.ignore_categories}
    for category in item.categories:
        if category.casefold() in ignored:
            return Classification("ignore", reason=f"category {category!r} is ignored")
    return Classification("busy", reason="all-day, blocks the day" if item.all_day else "opaque")
