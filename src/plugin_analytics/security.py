"""Who may read: an admin key guards every read/admin endpoint, and is never optional.

An admin key is ADMIN_API_KEY or one made with `plugin-analytics keys create --kind admin`. A
write key never opens these endpoints: it is public, since it ships in every page's JavaScript.
"""

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from plugin_analytics.access.ring import Unauthorized
from plugin_analytics.dependencies import KeysDep
from plugin_analytics.errors import RETRY_AFTER, APIError, refusals

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <admin key>`")


class AdminKeyNotConfigured(APIError):
    status_code = 503

    def __init__(self) -> None:
        super().__init__(
            "reading is disabled because ADMIN_API_KEY is not set and no admin key was made with "
            "`plugin-analytics keys create --kind admin`; set ADMIN_API_KEY in the environment "
            "or in .env (make run creates one) and restart the server, or make a key"
        )


def require_admin(
    ring: KeysDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Pass only a request bearing an admin key in force."""
    if not ring.has_admin_key:
        raise AdminKeyNotConfigured()
    if credentials is None:
        raise Unauthorized("missing Authorization: Bearer <ADMIN_API_KEY> header")
    ring.current.check_admin(credentials.credentials)


AdminDep = Depends(require_admin)
# What every admin route may answer besides its own responses.
ADMIN_REFUSALS = refusals(
    {
        401: "No admin key, or one that is wrong or revoked",
        403: "A write key: it can only send events",
        503: "No admin key is configured, or the database is unavailable",
    },
    headers_401={"WWW-Authenticate": {"schema": {"type": "string"}}},
    headers_503=RETRY_AFTER,
)
