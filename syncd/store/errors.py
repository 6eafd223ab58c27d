"""Errors the booking operations raise; the API turns them into JSON with the same code."""

from __future__ import annotations


class BookingError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class NotFoundError(BookingError):
    status = 404
    code = "not_found"


class ConflictError(BookingError):
    """Taken, expired or otherwise no longer possible: the caller may pick another offer."""

    status = 409
    code = "conflict"


class ForbiddenError(BookingError):
    status = 403
    code = "forbidden"


class InvalidError(BookingError):
    status = 422
    code = "invalid"
