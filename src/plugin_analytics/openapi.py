"""OpenAPI that also describes routes served outside FastAPI's request handling."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute


def install_openapi(app: FastAPI, documented: list[BaseRoute]) -> None:
    """Describe `documented` (declarations of raw ASGI routes) beside the app's own routes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=[*documented, *app.routes],
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
