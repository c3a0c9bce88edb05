"""Who may read: a key guards every read and admin endpoint, and is never optional.

An admin key (ADMIN_API_KEY, or one made with `keys create --kind admin` or `POST /keys`) reads
every site and administers the installation: `AdminDep`. A viewer key reads its own site only:
routes that a viewer may call take `ReaderDep`, which says whose request it is. A write key
never opens these endpoints: it is public, since it ships in every page's JavaScript.
"""

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from plugin_analytics.access.ring import Reader, Unauthorized
from plugin_analytics.dependencies import KeysDep
from plugin_analytics.errors import RETRY_AFTER, APIError, refusals

bearer = HTTPBearer(
    auto_error=False,
    description="`Authorization: Bearer <key>`: an admin key, or a viewer key where a route "
    "says it reads one site",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


class AdminKeyNotConfigured(APIError):
    status_code = 503

    def __init__(self) -> None:
        super().__init__(
            "reading is disabled because ADMIN_API_KEY is not set and no admin key was made with "
            "`plugin-analytics keys create --kind admin`; set ADMIN_API_KEY in the environment "
            "or in .env (make run creates one) and restart the server, or make a key"
        )


def require_admin(ring: KeysDep, credentials: Credentials) -> None:
    """Pass only a request bearing an admin key in force."""
    if not ring.has_admin_key:
        raise AdminKeyNotConfigured()
    if credentials is None:
        raise Unauthorized("missing Authorization: Bearer <ADMIN_API_KEY> header")
    ring.current.check_admin(credentials.credentials)


def require_reader(ring: KeysDep, credentials: Credentials) -> Reader:
    """Who reads: a request bearing an admin key (every site) or a viewer key (its site)."""
    if not ring.has_reader_key:
        raise AdminKeyNotConfigured()
    if credentials is None:
        wanted = "admin or viewer key" if ring.current.viewer else "ADMIN_API_KEY"
        raise Unauthorized(f"missing Authorization: Bearer <{wanted}> header")
    return ring.current.check_reader(credentials.credentials)


AdminDep = Depends(require_admin)
ReaderDep = Annotated[Reader, Depends(require_reader)]
ReaderGuard = Depends(require_reader)  # for a router whose every route an admin or viewer reads

_HEADERS_401 = {"WWW-Authenticate": {"schema": {"type": "string"}}}
# What every admin route may answer besides its own responses.
ADMIN_REFUSALS = refusals(
    {
        401: "No admin key, or one that is wrong or revoked",
        403: "A write key (it can only send events) or a viewer key (it only reads its site)",
        503: "No admin key is configured, or the database is unavailable",
    },
    headers_401=_HEADERS_401,
    headers_503=RETRY_AFTER,
)
# What every route an admin or viewer key reads may answer besides its own responses.
READER_REFUSALS = refusals(
    {
        401: "No admin or viewer key, or one that is wrong or revoked",
        403: "A write key: it can only send events",
        503: "No admin or viewer key exists yet, or the database is unavailable",
    },
    headers_401=_HEADERS_401,
    headers_503=RETRY_AFTER,
)
