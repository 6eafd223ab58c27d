"""Errors raised by the translation layer.

A connector catches ``ItemParseError`` per item, so one bad calendar object is reported (with
where it is and what is wrong) and skipped while the rest of the calendar keeps syncing.
"""

from __future__ import annotations


class ItemParseError(ValueError):
    """A calendar object could not be understood.

    ``href`` names the stored object, ``where`` the place inside it (component, property, line),
    so an operator can find the offending line in the server's copy.
    """

    def __init__(self, message: str, *, href: str | None = None, where: str | None = None):
        self.reason = message
        self.href = href
        self.where = where
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.reason]
        if self.where:
            parts.append(f"at {self.where}")
        if self.href:
            parts.append(f"in {self.href}")
        return " ".join(parts)


class NotAnEvent(ItemParseError):
    """The object is well-formed but holds no event (a task, a journal entry, a bare VTIMEZONE).

    Connectors usually skip these silently rather than reporting them.
    """


class RulesError(ValueError):
    """The rules file is invalid; the message names the offending key."""
