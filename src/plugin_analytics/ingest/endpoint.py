"""The ingestion endpoint every wire format shares: our own, Segment's and PostHog's.

Ingestion is the hot path, so its routes are plain ASGI endpoints: the body is read once and
validated from raw bytes, with none of FastAPI's per-request dependency solving or response
serialisation. A `Dialect` says how one wire format is read and answered; the endpoint does the
rest the same way for all of them: the write key, the rate limit, the size limit, RETENTION_DAYS,
REDACT_PII, and storing the events before answering. Only the endpoint stores: a dialect formats
the answer to a write that has already succeeded, so none can acknowledge events it never stored.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from anyio import to_thread
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from plugin_analytics.access.ring import KeySet, WriteAccess, header_write_key
from plugin_analytics.config import Settings
from plugin_analytics.db.models import DEFAULT_SITE_NUM
from plugin_analytics.errors import APIError, Loc
from plugin_analytics.ingest.body import InvalidBody, read_limited
from plugin_analytics.ingest.redact import might_hold_pii, redact
from plugin_analytics.ingest.schemas import EventCreate
from plugin_analytics.ingest.writer import WriteResult
from plugin_analytics.privacy.retention import oldest_accepted
from plugin_analytics.services import Services, services_of
from plugin_analytics.sites.registry import SLUG

REDACT_ON_LOOP_CHARS = 512  # beyond this, masking could hold the event loop for milliseconds
# How the endpoint refuses a request on any ingestion route, whatever its format (OpenAPI).
ENDPOINT_REFUSALS = {
    401: "A write key is needed (once any exists), and this one is missing, wrong or revoked",
    403: "An admin or viewer key (ingestion takes a write key), or a write key of another "
    "site than the one the request names",
    429: "Over INGEST_RATE_LIMIT; nothing was stored",
    503: "Storage unavailable or overloaded; nothing was stored",
}

Body = TypeVar("Body")
Context = Mapping[str, Any]


class Dialect(Protocol[Body]):
    """One wire format: how its requests are read, mapped to events and answered."""

    def max_body_bytes(self, settings: Settings) -> int:
        """The largest body accepted, before and after decompression."""
        ...

    async def read(self, scope: Scope, raw: bytes, limit: int, context: Context) -> Body:
        """Decode and validate the body; refuse it with an APIError naming what is wrong.
        `context`: what validation needs to know of the app (the event types modules add)."""
        ...

    def body_key(self, scope: Scope, body: Body) -> str | None:
        """The write key sent in the body (or query), for clients that cannot set headers."""
        ...

    def body_site(self, body: Body) -> tuple[str, Loc] | None:
        """The site the body names (its `site` field) and where, if it names one."""
        ...

    def events(self, body: Body, received_at: datetime) -> list[EventCreate]:
        """The events to store; raises InvalidBody naming each field at fault."""
        ...

    def timestamp_loc(self, body: Body, index: int) -> Loc:
        """Where the `index`th event's time was given, to name it in a refusal."""
        ...

    def properties_loc(self, body: Body, index: int) -> Loc:
        """Where the `index`th event's properties were given."""
        ...

    def success(self, result: WriteResult, events: list[EventCreate]) -> bytes:
        """The JSON answer once `events` are stored, as `result` counts them."""
        ...

    def refusal(self, exc: APIError) -> Response:
        """The answer for a refused request, with the status codes the SDKs expect."""
        ...


class IngestEndpoint(Generic[Body]):
    """An ASGI endpoint: check the write key and the rate limit, read the body within the size
    limit, validate it, store it, answer JSON.

    A key sent in a header is checked before the body is read; a key in the body (for
    sendBeacon, which cannot set headers, and for SDKs that send it there) once it is valid.
    """

    def __init__(self, dialect: Dialect[Body]) -> None:
        self._dialect = dialect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        if scope["method"] != "POST":  # an OPTIONS request that is not a CORS preflight
            response = PlainTextResponse("Method Not Allowed", 405, {"Allow": "POST, OPTIONS"})
            await response(scope, receive, send)
            return
        try:
            response = Response(await self._handle(scope, receive), 200, None, "application/json")
        except APIError as exc:
            response = self._dialect.refusal(exc)
        await response(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive) -> bytes:
        dialect, services = self._dialect, services_of(scope["app"])
        keys: KeySet = services.keys.current
        # While ingestion is open, a key (even a malformed header) is not looked at.
        header_key = header_write_key(scope["headers"]) if keys.write_required else None
        key_in_body = keys.write_required and header_key is None
        # A key in the body is only known once the body is read, inflated and parsed: such
        # requests are counted against the rate limit first, by client address alone.
        access = None if key_in_body else keys.check_write(header_key)
        self._admit(services, scope, access)
        limit = dialect.max_body_bytes(services.settings)
        raw = await read_limited(scope, receive, limit)
        body = await dialect.read(scope, raw, limit, services.modules.validation_context)
        if key_in_body:
            access = keys.check_write(dialect.body_key(scope, body))
        site_num = await _site_of(services, scope, dialect.body_site(body), access)
        received_at = datetime.now(UTC)
        events = dialect.events(body, received_at)
        # Events of a type an analytics module added must have the properties it expects.
        errors = services.modules.check_events(events, lambda n: dialect.properties_loc(body, n))
        if errors:
            raise InvalidBody(errors)
        if own := keys.retention.get(site_num):
            _refuse_expired(events, own, "the site's retention_days", dialect, body)
        elif services.settings.retention_days:
            _refuse_expired(
                events, services.settings.retention_days, "RETENTION_DAYS", dialect, body
            )
        if services.settings.redact_pii:
            await _redact_messages(events, services.settings.redact_pii_region)
        result = await services.writer.write(events, received_at, site_num)
        return dialect.success(result, events)

    @staticmethod
    def _admit(services: Services, scope: Scope, access: WriteAccess | None) -> None:
        if services.rate_limit is not None:
            client = scope.get("client")
            key_digest = access.digest if access else None
            services.rate_limit.hit(key_digest, client[0] if client else "unknown")


def site_field(document: Mapping[str, Any], loc: Loc) -> tuple[str, Loc] | None:
    """The `site` a body's JSON object names, with where; 422 when it is not a string."""
    site = document.get("site")
    if site is None:
        return None
    if not isinstance(site, str):
        raise InvalidBody(
            [{"loc": loc, "msg": "must be a site id (a string)", "type": "value_error"}]
        )
    return site, loc


class WrongSite(APIError):
    status_code = 403

    def __init__(self, site_id: str) -> None:
        super().__init__(
            f"this write key belongs to another site than {site_id!r}; send the events with "
            "that site's write key, or without naming a site"
        )


async def _site_of(
    services: Services,
    scope: Scope,
    named: tuple[str, Loc] | None,
    access: WriteAccess | None,
) -> int:
    """The site the events go to: the write key's; while ingestion is open, the one the body
    or X-Site names, else `default`. 422 for a site that does not exist, 403 for a key's
    request that names another site."""
    header = next((value for name, value in scope["headers"] if name == b"x-site"), None)
    if header is not None:
        named = (header.decode("latin-1").strip(), ["header", "x-site"])
    if named is None:
        return access.site_num if access else DEFAULT_SITE_NUM
    site_id, loc = named
    site_num = await services.keys.site_num_of(site_id) if SLUG.fullmatch(site_id) else None
    if site_num is None:
        raise InvalidBody(
            [{"loc": loc, "msg": f"there is no site {site_id!r}", "type": "value_error"}]
        )
    if access is not None and site_num != access.site_num:
        raise WrongSite(site_id)
    return site_num


def refusal_texts(own: dict[int, str]) -> dict[int, str]:
    """An ingestion route's refusals by status code: the endpoint's, and its format's `own`
    (how it answers a bad or too large body)."""
    return dict(sorted({**ENDPOINT_REFUSALS, **own}.items()))


def _refuse_expired(
    events: Sequence[EventCreate], days: int, rule: str, dialect: Dialect[Any], body: Any
) -> None:
    """422 for an event older than the site's retention (its own days, else RETENTION_DAYS):
    it would be deleted at the next run."""
    oldest = oldest_accepted(days)
    errors = [
        {
            "loc": dialect.timestamp_loc(body, n),
            "msg": f"is older than {rule} ({days} days), so it would not be kept",
            "type": "value_error",
        }
        for n, event in enumerate(events)
        if (timestamp := event.get("timestamp")) is not None and timestamp < oldest
    ]
    if errors:
        raise InvalidBody(errors)


async def _redact_messages(events: list[EventCreate], region: str) -> None:
    """REDACT_PII: mask e-mail addresses, phone and card numbers before anything is stored.
    Masking costs about 0.1 ms a number found, so long texts are masked off the event loop."""
    texts = [
        (event, event["message"])
        for event in events
        if "message" in event and might_hold_pii(event["message"])
    ]
    if sum(len(text) for _, text in texts) > REDACT_ON_LOOP_CHARS:
        masked = await to_thread.run_sync(_redact_all, [text for _, text in texts], region)
    else:
        masked = _redact_all([text for _, text in texts], region)
    for (event, _), text in zip(texts, masked, strict=True):
        event["message"] = text


def _redact_all(texts: list[str], region: str) -> list[str]:
    return [redact(text, region) for text in texts]


# What a browser may send to ingestion: JSON, and the write key as a header or Basic auth.
CORS_HEADERS = ["Content-Type", "Content-Encoding", "X-Write-Key", "Authorization"]
CORS_MAX_AGE_S = 86_400


def ingest_route(path: str, dialect: Dialect[Any], cors_origins: list[str]) -> Route:
    """A route to `dialect`'s endpoint at `path`, answering CORS for `cors_origins` (`*`: any
    origin) and for every site's domains, as the key ring holds them now. Only ingestion routes
    do: read and admin routes never send CORS headers."""
    endpoint = IngestEndpoint(dialect)
    cors = _cors(endpoint, origins=cors_origins)
    # Only ever handed a request whose Origin is one of the sites' (CorsWhenOrigin checks), so
    # it may take any: Starlette's CORSMiddleware holds a fixed list, and the sites' domains
    # change while the server runs. A regex match still echoes the origin, never `*`.
    site_cors = _cors(endpoint, origin_regex=".*")
    return Route(path, CorsWhenOrigin(endpoint, cors, site_cors), methods=["POST", "OPTIONS"])


def _cors(
    endpoint: ASGIApp, origins: Sequence[str] = (), origin_regex: str | None = None
) -> CORSMiddleware:
    return CORSMiddleware(
        endpoint,
        allow_origins=origins,
        allow_origin_regex=origin_regex,
        allow_methods=["POST"],
        allow_headers=CORS_HEADERS,
        max_age=CORS_MAX_AGE_S,
    )


class CorsWhenOrigin:
    """Only a request with an Origin header goes through CORS. Any other (an SDK, a server,
    curl) is not a CORS request, and CORSMiddleware would only pass it on after parsing every
    header: on the hot path, it skips that. An Origin of a site's domains goes to `site_cors`,
    any other to `cors` (CORS_ORIGINS)."""

    def __init__(self, endpoint: ASGIApp, cors: ASGIApp, site_cors: ASGIApp) -> None:
        self._endpoint, self._cors, self._site_cors = endpoint, cors, site_cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = next((value for name, value in scope["headers"] if name == b"origin"), None)
        if origin is None:
            await self._endpoint(scope, receive, send)
        elif origin.decode("latin-1") in services_of(scope["app"]).keys.origins:
            await self._site_cors(scope, receive, send)
        else:
            await self._cors(scope, receive, send)
