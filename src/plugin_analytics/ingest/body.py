"""Reading and validating request bodies on the hot path, with a hard size limit."""

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from starlette.types import Receive, Scope

from plugin_analytics.errors import APIError, BadRequest, PayloadTooLarge

ModelT = TypeVar("ModelT")


class InvalidBody(APIError):
    """422 with the same `detail` shape FastAPI uses: a list of {loc, msg, type}."""

    status_code = 422

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid body")
        self.detail = errors  # type: ignore[assignment]


class ClientClosedRequest(APIError):
    """The client went away before sending its whole body; nothing was stored."""

    status_code = 499

    def __init__(self) -> None:
        super().__init__("client closed the connection before sending the whole body")


async def read_limited(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it passes `limit` bytes, chunked or not."""
    _check_declared_length(scope, limit)
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientClosedRequest()
        body += message.get("body", b"")
        if len(body) > limit:
            raise PayloadTooLarge(f"body is larger than the limit of {limit} bytes")
        if not message.get("more_body", False):
            return bytes(body)


def _check_declared_length(scope: Scope, limit: int) -> None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # Digits only: str.isdigit() would also admit "²", which int() rejects.
            if not value.isdigit():
                raise BadRequest("Content-Length must be a whole number")
            if int(value) > limit:
                raise PayloadTooLarge(f"body is {int(value)} bytes; the limit is {limit} bytes")


def parse_json(
    adapter: TypeAdapter[ModelT], body: bytes, context: Mapping[str, Any] | None = None
) -> ModelT:
    """Validate raw JSON bytes in one pass; 400 when it is not JSON, 422 naming each bad field.
    `context` goes to the validators (the event types installed modules accept)."""
    if not body.strip():
        raise BadRequest("request body is empty; send a JSON object")
    try:
        return adapter.validate_json(body, context=context)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        if errors and errors[0]["type"] == "json_invalid":
            errors = _field_errors(adapter, body, context) or errors
            if errors[0]["type"] == "json_invalid":
                raise BadRequest(f"request body is not valid JSON: {errors[0]['msg']}") from None
        raise InvalidBody([_public(error) for error in errors]) from None


def _field_errors(
    adapter: TypeAdapter[Any], body: bytes, context: Mapping[str, Any] | None
) -> list[Any]:
    """The field errors of a body pydantic's parser refused as a whole but the standard library
    reads: a lone surrogate escape ("\\ud800") is JSON, but not Unicode. Naming the field beats
    naming a column. Only ever finds errors: a body that passes here is still refused."""
    if b"\\u" not in body:  # such a surrogate can only be written as an escape
        return []
    try:  # strict UTF-8: no BOM, no UTF-16, which json.loads would otherwise guess
        document = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return []
    try:
        adapter.validate_python(document, context=context)
    except ValidationError as exc:
        return exc.errors(include_url=False, include_input=False, include_context=False)
    return []


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _public(error: Any) -> dict[str, Any]:
    return {"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]}
