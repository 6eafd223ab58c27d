"""Invariant checks for tests: fail with every violation the store's own verifier finds."""

from __future__ import annotations

from syncd.store.verify import count_live, find_violations


def assert_no_double_booking(db) -> dict[str, int]:
    problems = find_violations(db)
    assert not problems, problems[:5]
    return {"live": count_live(db)}
