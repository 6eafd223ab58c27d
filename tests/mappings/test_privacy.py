"""CPR numbers are recognised wherever they hide, and only real-looking ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.privacy import contains_cpr, redact_cpr


@pytest.mark.parametrize(
    "text",
    [
        "010203-1234",
        "0102031234",
        "010203 1234",
        "CPR: 311299-4321.",
        "ref010203-1234x",
        "1.1: 3112991234",
        "010190.1234",
        "010190/1234",
        "01.01.90-1234",
        "01/01/90-1234",
        "01 01 90 1234",
        "borger 010190 - 1234 ringede",
        "01-01-90/1234",
        "borger 010190\u20131234 ringede",  # en dash
        "010190\u20101234",  # U+2010 hyphen
        "010190\u00a01234",  # no-break space
        "010190\u200b1234",  # zero-width space between the parts
        "01\u200b01\u200b90\u200b-\u200b1234",
        "010190_1234",
        "01:01:90:1234",
        "01.01.1990-1234",
        "01-01-1990-1234",
        "0 1 0 1 9 0 1 2 3 4",
        "borger 0 1 0 1 9 0 1 2 3 4 ringede",
        "\uff10\uff11\uff10\uff11\uff19\uff10-\uff11\uff12\uff13\uff14",  # full-width
    ],
)
def test_cpr_shapes_are_found(text: str) -> None:
    assert contains_cpr(text)
    assert not contains_cpr(redact_cpr(text))
    assert "[CPR fjernet]" in redact_cpr(text)


@pytest.mark.parametrize(
    "text",
    [
        "R-8K2Q",
        "12345678901",
        "320199-1234",
        "011399-1234",
        "2026-03-10",
        "tlf. 12 34 56 78",
        "",
        "2026-03-10 10:00",
        "kl. 10.30-11.45",
        "01.01.2026",
        "mødet 01.12.2026 kl. 0930",
        "kl. 10:30 d. 01.01.2027",
        "d. 01.01.2027 kl. 10:30",
        "01.01.2027 10:30-11:30",
        "2026-12-01T10:30:00+01:00",
        "uge 49, 1 2 3 4 ledige",
        "12 3 4 5 6 7 8 9 0 1",
        "tlf. 12 34 56 78",
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert not contains_cpr(text)
    assert redact_cpr(text) == text


@given(
    day=st.integers(1, 31),
    month=st.integers(1, 12),
    year=st.integers(0, 99),
    seq=st.integers(0, 9999),
)
def test_every_plausible_date_with_four_digits_is_a_cpr(
    day: int, month: int, year: int, seq: int
) -> None:
    number = f"{day:02d}{month:02d}{year:02d}-{seq:04d}"
    assert contains_cpr(f"Borger {number} ringede")
    assert number not in redact_cpr(f"Borger {number} ringede")
