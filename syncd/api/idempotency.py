"""``Idempotency-Key`` on the API's POSTs: a retry with the same key and the same request gets
the first answer again (marked ``Idempotent-Replayed: true``); the same key with another
request is 422 ``idempotency_key_reused``; while the first is still running, 409
``idempotency_key_in_flight``. Without the header a POST acts as before."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Header, Request
from fastapi.responses import Response
from pydantic import BaseModel

from syncd.api.auth import Client
from syncd.api.errors import error_response
from syncd.inputs import ID_PATTERN
from syncd.runtime import Runtime
from syncd.store import idempotency
from syncd.store.errors import BookingError, ConflictError, InvalidError

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=ID_PATTERN,
        description="Any unique string (a UUID, say). Sending the same request again with the "
        "same key returns the first answer instead of acting twice; kept for "
        "`api.idempotency_hours` (24 by default).",
        examples=["5f1c7a2e-3b0d-4d55-9a61-0f3e8f1c2b7a"],
    ),
]

_PURGE_EVERY = 600.0
_purged = [0.0]
_purge_lock = threading.Lock()


def idempotent(
    rt: Runtime,
    who: Client,
    request: Request,
    key: str | None,
    body: BaseModel | None,
    act: Callable[[], Response],
) -> Response:
    if key is None:
        return act()
    fingerprint = hashlib.sha256(
        f"{request.method} {request.url.path}\n".encode()
        + (body.model_dump_json().encode() if body is not None else b"")
    ).hexdigest()
    now = rt.clock()
    ttl = timedelta(hours=rt.config.api.idempotency_hours)
    try:
        stored = idempotency.claim(rt.db, who.name, key, fingerprint, now, ttl)
    except idempotency.KeyReused:
        raise InvalidError(
            "this Idempotency-Key was used with a different request; use a new key",
            code="idempotency_key_reused",
        ) from None
    except idempotency.InFlight:
        raise ConflictError(
            "the first request with this Idempotency-Key has not finished; retry shortly",
            code="idempotency_key_in_flight",
        ) from None
    if stored is not None:
        return Response(
            stored.body or None,
            status_code=stored.status,
            media_type="application/json" if stored.body else None,
            headers={"Idempotent-Replayed": "true"},
        )
    try:
        response = act()
    except BookingError as exc:  # a refusal is an answer too: the retry gets the same one
        response = error_response(exc.status, exc.code, exc.message)
    except BaseException:
        idempotency.forget(rt.db, who.name, key)
        raise
    idempotency.record(rt.db, who.name, key, response.status_code, bytes(response.body).decode())
    _purge_now_and_then(rt)
    return response


def _purge_now_and_then(rt: Runtime) -> None:
    with _purge_lock:
        if time.monotonic() - _purged[0] < _PURGE_EVERY:
            return
        _purged[0] = time.monotonic()
    idempotency.purge_expired(rt.db, rt.clock())
