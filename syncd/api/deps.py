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

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or unknown API key"},
    403: {"model": ErrorResponse, "description": "Citizen withdrawn or barred"},
    404: {"model": ErrorResponse, "description": "Unknown offer, hold or booking"},
    409: {"model": ErrorResponse, "description": "Taken, expired or no room"},
    422: {"model": ErrorResponse, "description": "Invalid input (including CPR numbers)"},
}


async def _client(request: Request) -> Client:
    keys: ApiKeys = request.app.state.api_keys
    return keys.authenticate(request)


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
