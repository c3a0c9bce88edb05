"""Security headers on every response: successes, refusals, streams, docs and crashes alike."""

import httpx
import pytest
from fastapi import FastAPI

from plugin_analytics.headers import SECURITY_HEADERS
from tests.conftest import ADMIN
from tests.helpers import event

pytestmark = pytest.mark.anyio

EXPECTED = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}


def assert_secure(response: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (response.request.url, name)
    assert "traceback" not in response.text.lower()


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        ("POST", "/client/update", event(), {}, 200),
        ("POST", "/client/update", {"user_id": 1}, {}, 422),
        ("POST", "/client/batch", b"{not json", {}, 400),
        ("GET", "/analytics/summary", None, ADMIN, 200),
        ("GET", "/analytics/summary", None, {}, 401),
        ("GET", "/analytics/summary?tz=Mars/Olympus", None, ADMIN, 400),
        ("GET", "/analytics/export", None, ADMIN, 200),
        ("GET", "/users/nobody/history", None, ADMIN, 404),
        ("GET", "/healthz", None, {}, 200),
        ("GET", "/docs", None, {}, 200),
        ("GET", "/openapi.json", None, {}, 200),
        ("GET", "/no/such/route", None, {}, 404),
        ("DELETE", "/healthz", None, {}, 405),
    ],
)
async def test_every_response_carries_the_security_headers(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: object,
    headers: dict[str, str],
    status: int,
) -> None:
    content = body if isinstance(body, bytes) else None
    json_body = None if isinstance(body, bytes) else body
    response = await client.request(method, path, json=json_body, content=content, headers=headers)
    assert response.status_code == status, response.text
    assert_secure(response)


async def test_a_crash_is_a_bare_500_with_the_headers(app: FastAPI) -> None:
    @app.get("/test-only/crash")
    def crash() -> None:
        raise RuntimeError("secret detail that must not leak")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/test-only/crash")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    assert "secret detail" not in response.text
    assert_secure(response)
