"""Compressed and encoded request bodies, as the SDKs send them.

Segment's and PostHog's SDKs gzip their bodies (`Content-Encoding: gzip`); posthog-js says so in
the query instead (`?compression=gzip-js`), or sends base64 in a form field (`data=`) from
sendBeacon. Decompressing stops as soon as the output passes the limit, so a small body that
inflates to gigabytes (a gzip bomb) costs no more than the limit.
"""

import base64
import binascii
import zlib
from urllib.parse import parse_qs

from anyio import to_thread
from starlette.types import Scope

from plugin_analytics.errors import APIError, BadRequest, PayloadTooLarge

GZIP_MAGIC = b"\x1f\x8b"
# gzip inflates at most ~1,000-fold: beyond this, inflating could hold the event loop for ms.
ON_LOOP_COMPRESSED_BYTES = 1024
GZIP_WBITS = zlib.MAX_WBITS | 16
ZLIB_WBITS = zlib.MAX_WBITS


class UnsupportedEncoding(APIError):
    status_code = 415


def header(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def query_value(scope: Scope, name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[-1] if values else None


async def decode_body(scope: Scope, body: bytes, limit: int, *, sniff: bool = False) -> bytes:
    """The JSON text of a body: inflated per Content-Encoding (or posthog-js's `compression`
    query parameter, or, with `sniff`, gzip's magic number), base64 form data decoded."""
    encoding = (header(scope, b"content-encoding") or "identity").strip().lower()
    compression = (query_value(scope, "compression") or "").lower()
    if encoding in ("gzip", "x-gzip") or compression in ("gzip", "gzip-js"):
        wbits = GZIP_WBITS
    elif encoding == "deflate":
        wbits = ZLIB_WBITS
    elif encoding != "identity":
        raise UnsupportedEncoding(
            f"Content-Encoding {encoding!r} is not supported; send gzip, deflate or none"
        )
    elif sniff and body.startswith(GZIP_MAGIC):
        wbits = GZIP_WBITS
    else:
        wbits = 0
    if wbits:
        if len(body) > ON_LOOP_COMPRESSED_BYTES:
            body = await to_thread.run_sync(inflate, body, wbits, limit)
        else:
            body = inflate(body, wbits, limit)
    # curl -d labels any body a form, so a form is only taken as one when it holds `data=`.
    if compression == "base64" or (_is_form(scope) and body.startswith(b"data=")):
        body = _form_data(body)
    return body


def inflate(body: bytes, wbits: int, limit: int) -> bytes:
    """Decompress every gzip member (or the zlib stream) of `body`, at most `limit` bytes."""
    name = "gzip" if wbits == GZIP_WBITS else "deflate"
    output = bytearray()
    rest = body
    while rest:
        inflater = zlib.decompressobj(wbits)
        try:
            output += inflater.decompress(rest, limit + 1 - len(output))
        except zlib.error as exc:
            raise BadRequest(f"the body is not valid {name} data: {exc}") from None
        if len(output) > limit:
            raise PayloadTooLarge(f"the body inflates to more than the limit of {limit} bytes")
        if not inflater.eof:
            raise BadRequest(f"the {name} body is cut short")
        rest = inflater.unused_data if wbits == GZIP_WBITS else b""
    return bytes(output)


def _is_form(scope: Scope) -> bool:
    content_type = header(scope, b"content-type") or ""
    return content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"


def _form_data(body: bytes) -> bytes:
    """posthog-js's sendBeacon body: `data=` and the URL-encoded base64 of the JSON."""
    try:
        fields = parse_qs(body.decode("ascii"), strict_parsing=True)
        return base64.b64decode(fields["data"][-1], validate=True)
    except (UnicodeDecodeError, ValueError, KeyError, binascii.Error):
        raise BadRequest("a form body must be data=<base64 of the JSON>") from None
