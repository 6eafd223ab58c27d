"""What every route depends on: the calling client (by API key) and the runtime.

Both dependencies are ``async`` on purpose: a plain ``def`` dependency costs every request a
trip through the thread pool for a hash and a dict lookup.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.responses import Response

from syncd.api.auth import ApiKeys, Client
from syncd.api.schemas import ErrorResponse
from syncd.inputs import ID_MAX, ID_PATTERN
from syncd.runtime import Runtime
from syncd.store.errors import ForbiddenError

# Every refusal is {"error": {"code", "message"}}; these are the codes each status carries.
ERROR_CODES: dict[int, dict[str, str]] = {
    400: {"malformed_request": "the body is not readable JSON (bad UTF-8, too deep, huge number)"},
    401: {"unauthorized": "missing or unknown API key"},
    403: {
        "citizen_withdrawn": "the citizen may not self-book (a restriction)",
        "caseworker_barred": "the citizen may not book this caseworker (a restriction)",
        "not_your_booking": "the booking was made by another client; a staff key is needed",
        "staff_only": "a staff key is needed",
        "booking_scope_needed": "the key has neither the booking nor the staff scope",
        "forbidden": "the key's scopes do not allow this",
    },
    404: {
        "offer_not_found": "no such offer (or no longer offered)",
        "booking_not_found": "no such hold or booking",
        "caseworker_not_found": "no such caseworker",
        "not_found": "no such path",
    },
    405: {"method_not_allowed": "the path does not take this method"},
    409: {
        "slot_taken": "the time was just taken; pick another offer",
        "hold_expired": "the hold lapsed or was released; reserve again",
        "not_a_hold": "only a hold can be released",
        "not_confirmed": "only a confirmed booking can be cancelled or rebooked",
        "too_late": "the time is too close (minimum notice) or past",
        "weekly_cap_reached": "the caseworker's weekly cap of this type is reached",
        "no_room": "no suitable room is free at that time",
        "idempotency_key_in_flight": "the first request with this key is still running",
    },
    422: {
        "invalid_request": "a field is missing, too long, out of range or has control characters",
        "cpr_not_allowed": "a reference or text looks like a CPR number (refused, not stored)",
        "unknown_type": "no such conversation type",
        "invalid_period": "'to' must be after 'from', at most 366 days apart",
        "invalid_offer_id": "not an offer id",
        "invalid_citizen_ref": "empty or too long citizen reference",
        "mode_not_offered": "the conversation type is not offered in that mode",
        "idempotency_key_reused": "the Idempotency-Key came with a different request",
        "invalid": "a value is not acceptable (e.g. a time without UTC offset)",
    },
    500: {"internal_error": "a fault of ours; it has been logged"},
}


def _described(status: int) -> dict[str, Any]:
    codes = "; ".join(f"`{code}`: {text}" for code, text in ERROR_CODES[status].items())
    example = next(iter(ERROR_CODES[status]))
    return {
        "model": ErrorResponse,
        "description": f"Codes: {codes}.",
        "content": {
            "application/json": {
                "example": {"error": {"code": example, "message": ERROR_CODES[status][example]}}
            }
        },
    }


ERRORS: dict[int | str, dict[str, Any]] = {status: _described(status) for status in ERROR_CODES}


def linked(status: int, links: dict[str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """ERRORS plus OpenAPI links from the ``status`` answer to the operations it leads to (they
    document the flow and let contract tests follow it)."""
    return {**ERRORS, status: {"links": links}}


def _to(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


BOOKING_ID = "$response.body#/id"
HOLD_LINKS = {
    "GetHold": _to("get_hold_api_v1_holds__hold_id__get", hold_id=BOOKING_ID),
    "ConfirmHold": _to("confirm_api_v1_holds__hold_id__confirm_post", hold_id=BOOKING_ID),
    "ReleaseHold": _to("release_api_v1_holds__hold_id__delete", hold_id=BOOKING_ID),
}
BOOKING_LINKS = {
    "GetBooking": _to("get_booking_api_v1_bookings__booking_id__get", booking_id=BOOKING_ID),
    "CancelBooking": _to("cancel_api_v1_bookings__booking_id__cancel_post", booking_id=BOOKING_ID),
    "RebookBooking": _to("rebook_api_v1_bookings__booking_id__rebook_post", booking_id=BOOKING_ID),
}
OFFER_LINKS = {
    "HoldFirstOffer": {
        "operationId": "reserve_api_v1_holds_post",
        "requestBody": {"offer_id": "$response.body#/offers/0/offer_id", "citizen_ref": "c-link"},
    }
}


async def _client(request: Request) -> Client:
    """The calling client, which must hold the ``booking`` scope (``staff`` implies it): an
    ``ops``-only key, or one without scopes, reads metrics and docs, never offers or bookings."""
    keys: ApiKeys = request.app.state.api_keys
    client = keys.authenticate(request)
    if not client.books:
        raise ForbiddenError("this key lacks the booking scope", code="booking_scope_needed")
    return client


async def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


Authed = Annotated[Client, Depends(_client)]
Rt = Annotated[Runtime, Depends(_runtime)]
# A hold, booking or citizen reference in the path; an identifier in the query string.
PathId = Annotated[str, Path(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN)]
QueryId = Annotated[str | None, Query(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN)]


def json_response(body: Any, status_code: int = 200) -> Response:
    """A pydantic model as JSON, serialised here (pydantic's Rust core) rather than by FastAPI,
    which would validate the model a second time on another trip through the thread pool.
    ``response_model`` on the routes still documents it."""
    return Response(body.model_dump_json(), status_code=status_code, media_type="application/json")
