"""A deterministic limit on search work (no clock: the allocator must give the same answer for
the same inputs, and may not read the time)."""

from __future__ import annotations


class OutOfBudget(Exception):
    """The search spent its budget before proving its answer."""


class Budget:
    """Work units left; ``None`` means unlimited."""

    __slots__ = ("left",)

    def __init__(self, units: int | None) -> None:
        self.left = units

    def spend(self, units: int = 1) -> None:
        if self.left is None:
            return
        self.left -= units
        if self.left < 0:
            raise OutOfBudget
