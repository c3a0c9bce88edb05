"""Who may read: the admin key guards every read/admin endpoint, and is never optional."""

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from plugin_analytics.errors import APIError

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <ADMIN_API_KEY>`")


class Unauthorized(APIError):
    status_code = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class AdminKeyNotConfigured(APIError):
    status_code = 503

    def __init__(self) -> None:
        super().__init__(
            "reading is disabled because ADMIN_API_KEY is not set; set ADMIN_API_KEY in the "
            "environment or in .env (make run creates one) and restart the server"
        )


def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Pass only a request bearing the configured admin key (compared in constant time)."""
    configured = request.app.state.settings.admin_api_key
    if configured is None:
        raise AdminKeyNotConfigured()
    if credentials is None:
        raise Unauthorized("missing Authorization: Bearer <ADMIN_API_KEY> header")
    expected = configured.get_secret_value().encode()
    if not secrets.compare_digest(credentials.credentials.encode(), expected):
        raise Unauthorized("invalid admin key")


AdminDep = Depends(require_admin)
