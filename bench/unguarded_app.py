"""The application without its web-facing guards: bench/access.py's reference.

Bench-only. Security headers (the SecurityHeaders middleware) and CORS (the wrapper around each
ingestion endpoint) are taken off, so that single-event ingestion next to `main:app` shows what
they cost. There is deliberately no setting for this.
"""

from typing import cast

from starlette.routing import Route

from plugin_analytics.app import create_app
from plugin_analytics.headers import SecurityHeaders

app = create_app()
app.user_middleware = [
    entry for entry in app.user_middleware if cast(object, entry.cls) is not SecurityHeaders
]
for route in app.router.routes:
    if isinstance(route, Route) and route.path.startswith("/client/"):
        route.app = route.app._endpoint  # type: ignore[attr-defined]  # inside CorsWhenOrigin
