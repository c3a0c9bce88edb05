"""App-wide behaviour: health, OpenAPI description of the raw-body routes, no tracebacks."""

import httpx
import pytest

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
