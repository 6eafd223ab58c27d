"""The one error envelope: every refusal is ``{"error": {"code", "message"}}`` with a stable
code, whatever raised it (the booking store, FastAPI's validation or routing, a body that is
not JSON, or a fault of ours)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from syncd.logs import get_logger
from syncd.store.errors import BookingError

log = get_logger(__name__)

# Stable codes of the refusals that do not come from the booking store.
HTTP_CODES = {
    400: "malformed_request",  # not JSON we can read: bad UTF-8, nesting too deep, huge numbers
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BookingError)
    async def _booking_error(_: Request, exc: BookingError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        # Starlette's class: FastAPI's own and the router's 404/405 both land here.
        code = HTTP_CODES.get(exc.status_code, "error")
        message = str(exc.detail)
        if exc.status_code == 400:
            message = (
                "the body is not readable JSON (UTF-8, nesting and number sizes within limits)"
            )
        response = error_response(exc.status_code, code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the input back: it could hold a CPR number.
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(Exception)
    async def _fault(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the traceback too; this line names the request.
        log.error("request failed", method=request.method, path=request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "an internal error; it has been logged")
