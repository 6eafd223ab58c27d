"""CPR numbers (Danish personal identity numbers) must never reach a calendar, log or metric.

A CPR number is DDMMYY-NNNN or ten digits, and people write it in many ways: 010190.1234,
010190/1234, 01.01.90-1234, 01 01 90 1234, 01.01.1990-1234, with an en dash or a non-breaking
space from a word processor, full-width digits, or a zero-width space pasted in between. The
text is normalised first (NFKC, invisible format characters dropped, every dash and space made
plain), so every door that asks this module (API, dashboard, calendar, logs) agrees. We refuse
anything shaped like one (with a valid day and month), without the old modulus-11 check, since
numbers issued since 2007 may fail it.
"""

from __future__ import annotations

import re
import unicodedata

_SEP = r"[./ _:-]"
# Day, month and year each may be set apart by a separator; the four digits by one too, with
# spaces around. A four-digit year (19xx/20xx) counts only with a separator before the four
# digits, so that "01.12.2026 kl. 0930" stays a date and a time.
_CPR = re.compile(
    rf"(?<!\d)(\d{{2}}){_SEP}?(\d{{2}})"
    rf"(?:{_SEP}?(\d{{2}}) ?{_SEP}? ?|{_SEP}?(?:19|20)\d{{2}} ?[./_-] ?)(\d{{4}})(?!\d)"
)
# Digits typed one by one with spaces between ("0 1 0 1 9 0 1 2 3 4") are read together.
_SPACED_DIGITS = re.compile(r"(?<!\d)(?<!\d )\d(?: \d(?!\d))+")
# Dashes and minus signs people (and word processors) write between the parts.
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"), "-")


def _plausible(day: str, month: str) -> bool:
    d, m = int(day), int(month)
    return 1 <= d <= 31 and 1 <= m <= 12


def normalise(text: str) -> str:
    """``text`` as the guard reads it: NFKC (full-width digits, non-breaking spaces), no format
    characters (zero-width spaces, joiners, bidi marks, BOM, soft hyphens), every dash a hyphen
    and every space a plain space."""
    return _SPACED_DIGITS.sub(lambda m: m.group(0).replace(" ", ""), unify(text))


def unify(text: str) -> str:
    """NFKC, without format characters (zero-width, bidi, BOM, soft hyphen), every dash a
    hyphen and every space a plain space: how two spellings of the same thing are made one."""
    if text.isascii():  # the common case (every log line passes here): nothing to unify
        return text.replace("\t", " ")
    return "".join(
        " " if cat == "Zs" or ch == "\t" else ch
        for ch in unicodedata.normalize("NFKC", text).translate(_DASHES)
        if (cat := unicodedata.category(ch)) != "Cf"
    )


def contains_cpr(text: str) -> bool:
    """True if ``text`` contains something shaped like a CPR number."""
    return any(_plausible(m.group(1), m.group(2)) for m in _CPR.finditer(normalise(text)))


def redact_cpr(text: str) -> str:
    """``text`` with every CPR-shaped number replaced by a marker (the text is returned as it
    was when it holds none; otherwise in its normalised form)."""
    if not contains_cpr(text):
        return text

    def _sub(m: re.Match[str]) -> str:
        return "[CPR fjernet]" if _plausible(m.group(1), m.group(2)) else m.group(0)

    return _CPR.sub(_sub, normalise(text))
