"""App-wide behaviour: health, OpenAPI description of the raw-body routes, no tracebacks."""

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from plugin_analytics.app import create_app
from plugin_analytics.config import load_settings
from plugin_analytics.services import services_of
from tests.conftest import ADMIN, ADMIN_KEY, started
from tests.helpers import event

pytestmark = pytest.mark.anyio


async def test_healthz_is_public(client: httpx.AsyncClient, database_url: str) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == database_url.split(":")[0].split("+")[0]


async def test_openapi_documents_ingestion_bodies(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    body = spec["paths"]["/client/update"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/EventCreate"}
    event_schema = spec["components"]["schemas"]["EventCreate"]
    assert set(event_schema["required"]) == {"user_id", "session_id", "event_type"}
    batch = spec["components"]["schemas"]["BatchCreate"]["properties"]["events"]
    assert batch["maxItems"] == 1000
    assert batch["items"] == {"$ref": "#/components/schemas/EventCreate"}
    assert "200" in spec["paths"]["/client/batch"]["post"]["responses"]


async def test_unknown_route_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


async def test_healthz_is_503_when_the_writer_has_stopped(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await services_of(app).writer.stop()
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert "writer" in response.json()["detail"]
    refused = await client.post("/client/update", json=event())
    assert refused.status_code == 503


async def test_healthz_is_503_when_the_database_is_not_migrated(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None, database_url=f"sqlite:///{tmp_path / 'empty.db'}", admin_api_key=ADMIN_KEY
    )
    application = create_app(settings)
    transport = httpx.ASGITransport(app=application)
    async with (
        started(application),
        httpx.AsyncClient(transport=transport, base_url="http://test") as http,
    ):
        health = await http.get("/healthz")
        assert health.status_code == 503
        assert "not migrated" in health.json()["detail"]
        read = await http.get("/sessions/s", headers=ADMIN)
        assert read.status_code == 503
