"""Half-open intervals and room timelines."""

from __future__ import annotations

import pytest

from syncd.rooms.intervals import Timeline, merge, overlaps
from tests.rooms.helpers import at


def test_half_open_overlap() -> None:
    assert overlaps(at(9), at(10), at(9, 59), at(11))
    assert not overlaps(at(9), at(10), at(10), at(11))
    assert not overlaps(at(10), at(11), at(9), at(10))


def test_merge_joins_overlapping_and_touching() -> None:
    assert merge(
        [(at(10), at(11)), (at(9), at(10)), (at(12), at(13)), (at(12, 30), at(12, 45))]
    ) == [
        (at(9), at(11)),
        (at(12), at(13)),
    ]


def test_timeline_queries() -> None:
    line = Timeline([(at(9), at(10), "a"), (at(10), at(11), "b"), (at(13), at(14), "c")])
    assert line.overlapping(at(9, 30), at(10, 30)) == ["a", "b"]
    assert line.overlapping(at(11), at(13)) == []
    assert line.is_free(at(11), at(13))
    assert not line.is_free(at(10, 59), at(13))
    assert line.at(at(10)) == "b"
    assert line.at(at(12)) is None


def test_timeline_refuses_overlaps() -> None:
    with pytest.raises(ValueError):
        Timeline([(at(9), at(10), "a"), (at(9, 30), at(11), "b")])
