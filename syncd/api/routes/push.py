"""The endpoint Microsoft Graph posts change and lifecycle notifications to (``/push/graph``).

No API key: Graph cannot send one. Trust comes from the ``clientState`` every notification
must carry (checked in ``syncd.engine.push.receive_graph``), and nothing a notification says
is used beyond "sync this calendar now". Graph wants the validation handshake answered within
10 seconds and every notification within 3, so the handler only records the hint and answers
202 (concepts/change-notifications-delivery-webhooks.md in microsoft-graph-docs-contrib).
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from syncd.api.deps import Rt
from syncd.api.errors import error_response
from syncd.engine.push import ENDPOINT_PATH, receive_graph
from syncd.logs import get_logger

log = get_logger("syncd.push")

router = APIRouter()

# A notification without resource data is about 600 bytes, and Graph posts a handful at a time
# (a changeNotificationCollection; Graph documents no maximum). Anything near these limits is
# not Graph: it is refused before it costs a database look-up.
MAX_BODY = 200_000
MAX_TOKEN = 2_000


@router.post(ENDPOINT_PATH, include_in_schema=False)
async def graph_notifications(request: Request, rt: Rt) -> Response:
    token = request.query_params.get("validationToken")
    if token is not None:
        # The validation handshake: the URL-decoded token as text/plain, 200.
        if len(token) > MAX_TOKEN:
            return error_response(400, "malformed_request", "validationToken too long")
        return PlainTextResponse(token, headers={"X-Content-Type-Options": "nosniff"})
    body = await read_limited(request, MAX_BODY)
    if body is None:
        return error_response(413, "too_large", "notification body too large")
    try:
        result = await anyio.to_thread.run_sync(receive_graph, rt, body)
    except ValueError as exc:
        return error_response(400, "malformed_request", f"not a change notification: {exc}")
    except Exception:
        # Not recorded: a 5xx makes Graph send it again (for up to 4 hours).
        log.exception("push notification could not be recorded")
        return error_response(503, "unavailable", "notification not recorded; retry")
    if result.rejected and not result.accepted:
        return error_response(403, "forbidden", "clientState does not match")
    return Response(status_code=202)


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed ``limit`` bytes (a declared
    Content-Length, or the bytes read so far): a 60 MB post is never buffered."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
