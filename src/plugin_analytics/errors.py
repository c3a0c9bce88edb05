"""Errors a client may see: each a type with its status code and a clear message."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, OperationalError

from plugin_analytics.headers import SECURITY_HEADERS

logger = logging.getLogger(__name__)


# Where in a request a refusal points, as pydantic names it: ["body", "events", 2, "role"].
Loc = list[str | int]


class APIError(Exception):
    """An error answered as `{"detail": message}` with `status_code`."""

    status_code = 400

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class BadRequest(APIError):
    status_code = 400


class NotFound(APIError):
    status_code = 404


class PayloadTooLarge(APIError):
    status_code = 413


class StorageUnavailable(APIError):
    status_code = 503

    def __init__(self, detail: str = "storage is unavailable; retry shortly") -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


class ErrorMessage(BaseModel):
    detail: str = Field(description="What was wrong, in words.")


ERROR_SCHEMA = ErrorMessage.model_json_schema()
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}


def refusals(described: dict[int, str], **headers: dict[str, Any]) -> dict[int | str, Any]:
    """OpenAPI `responses` for errors answered as ErrorMessage: status code -> description.
    `headers` name each status's headers, e.g. `headers_429=RETRY_AFTER`."""
    return {
        status: {
            # Spelt out, not `model`: FastAPI would give it the route's own media type (HTML).
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
            "description": description,
            **({"headers": headers[f"headers_{status}"]} if f"headers_{status}" in headers else {}),
        }
        for status, description in described.items()
    }


def error_response(exc: APIError) -> JSONResponse:
    """The JSON answer for an API error."""
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return error_response(exc)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return error_response(StorageUnavailable("the database is unavailable; retry shortly"))
    return await _unexpected_error(request, exc)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # Answered outside the middleware stack (Starlette's ServerErrorMiddleware): add the
    # security headers here.
    headers = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}
    return JSONResponse({"detail": "internal server error"}, status_code=500, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer API errors as JSON and never show a traceback to a client."""
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
