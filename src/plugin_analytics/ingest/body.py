"""Reading and validating request bodies on the hot path, with a hard size limit."""

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, TypeAdapter, ValidationError

from plugin_analytics.errors import APIError, BadRequest, PayloadTooLarge

ModelT = TypeVar("ModelT", bound=BaseModel)


class InvalidBody(APIError):
    """422 with the same `detail` shape FastAPI uses: a list of {loc, msg, type}."""

    status_code = 422

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid body")
        self.detail = errors  # type: ignore[assignment]


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it passes `limit` bytes, chunked or not."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("Content-Length must be a whole number")
        if int(declared) > limit:
            raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"body is larger than the limit of {limit} bytes")
    return bytes(body)


def parse_json(adapter: TypeAdapter[ModelT], body: bytes) -> ModelT:
    """Validate raw JSON bytes in one pass; 400 when it is not JSON, 422 naming each bad field."""
    if not body.strip():
        raise BadRequest("request body is empty; send a JSON object")
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise BadRequest(f"request body is not valid JSON: {errors[0]['msg']}") from None
        raise InvalidBody([_public(error) for error in errors]) from None


def _public(error: Any) -> dict[str, Any]:
    return {"loc": ["body", *error["loc"]], "msg": error["msg"], "type": error["type"]}
