"""What the dashboard accepts at its edge: every query parameter and form field is checked for
control characters (NUL above all: PostgreSQL refuses it in text) and length before a route
sees it, and refusals carry the same ``{"error": {"code", "message"}}`` envelope as the booking
API beside the dashboard's own ``ok``/``message``."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from syncd.inputs import TEXT_MAX, has_control

CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    422: "invalid_request",
    429: "too_many_attempts",
}
FIELD_MAX = 2 * TEXT_MAX  # generous for a next= URL; reasons are capped by the services


class BadField(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def refusal(status: int, message: str, code: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "ok": False,
        "message": message,
        "error": {"code": code or CODES.get(status, "error"), "message": message},
    }
    return JSONResponse(body, status_code=status)


def _check(name: str, value: str) -> None:
    if len(value) > FIELD_MAX:
        raise BadField(name, f"Feltet {name} er for langt (højst {FIELD_MAX} tegn)")
    if has_control(value):
        raise BadField(name, f"Feltet {name} indeholder ugyldige tegn")


async def clean_inputs(request: Request) -> None:
    """An app-wide dependency: query parameters and (for form posts) form fields."""
    for name, value in request.query_params.multi_items():
        _check(name, value)
    if request.method == "POST" and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        for name, value in (await request.form()).multi_items():
            if isinstance(value, str):
                _check(name, value)


def validation_message(exc: RequestValidationError) -> str:
    """FastAPI's list of errors as one Danish line naming the fields (never the input)."""
    fields = sorted({str(e.get("loc", ("", "?"))[-1]) for e in exc.errors()})
    return "Ugyldige eller manglende felter: " + ", ".join(fields)
