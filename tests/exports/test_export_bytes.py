"""GET /analytics/export's bytes: gzip when accepted, a BOM when asked, a large export whole."""

import gzip
import json
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.exports.export_helpers import (
    EXPORT,
    as_row,
    at,
    csv_rows,
    export_rows,
    get,
    ids,
    ingest,
    raw_export,
    restored,
    round_trip_events,
)
from tests.helpers import event

pytestmark = pytest.mark.anyio

# --- 5. gzip -------------------------------------------------------------------------------

GZIP_ACCEPTED = ["gzip", "gzip, deflate", "deflate, gzip;q=0.5", "GZIP", "*", "br, *;q=0.1"]
GZIP_REFUSED = ["identity", "gzip;q=0", "gzip;q=0.0", "br", "deflate, gzip;q=0, *", "*;q=0"]


@pytest.mark.parametrize("output", ["csv", "ndjson"])
async def test_gzip_only_when_accepted(client: httpx.AsyncClient, output: str) -> None:
    await ingest(client, round_trip_events())
    identity, plain = await raw_export(client, "identity", format=output)
    assert "content-encoding" not in identity.headers
    assert plain.startswith(b"event_id," if output == "csv" else b'{"event_id":')
    for accept in GZIP_ACCEPTED:
        response, raw = await raw_export(client, accept, format=output)
        assert response.headers["content-encoding"] == "gzip", accept
        assert response.headers["vary"] == "Accept-Encoding"
        assert raw[:2] == b"\x1f\x8b", accept
        assert gzip.decompress(raw) == plain, accept
    for accept in GZIP_REFUSED:
        response, raw = await raw_export(client, accept, format=output)
        assert "content-encoding" not in response.headers, accept
        assert response.headers["vary"] == "Accept-Encoding"
        assert raw == plain, accept


async def test_httpx_default_gets_gzip_and_decodes_it(client: httpx.AsyncClient) -> None:
    await ingest(client, round_trip_events())
    response = await get(client, EXPORT)  # httpx sends Accept-Encoding: gzip, deflate
    assert response.headers["content-encoding"] == "gzip"
    identity = await client.get(EXPORT, headers={**ADMIN, "Accept-Encoding": "identity"})
    assert response.text == identity.text
    assert restored(csv_rows(response.text)) == [as_row(b) for b in round_trip_events()]


# --- 6. byte order mark --------------------------------------------------------------------


async def test_bom_only_when_asked(client: httpx.AsyncClient) -> None:
    await ingest(client, [event(event_id="e1", message="Grüße", timestamp=at(0))])
    _, plain = await raw_export(client, "identity")
    assert plain.startswith(b"event_id,user_id,")
    _, explicit_off = await raw_export(client, "identity", bom="false")
    assert explicit_off == plain
    _, with_bom = await raw_export(client, "identity", bom="true")
    assert with_bom == b"\xef\xbb\xbf" + plain
    assert with_bom.decode("utf-8").startswith("\ufeffevent_id,user_id,")
    _, zipped = await raw_export(client, "gzip", bom="true")
    assert gzip.decompress(zipped) == with_bom
    assert csv_rows(with_bom.decode("utf-8-sig")) == [
        ["e1", "user-1", "session-1", "message", at(0), "Grüße"]
    ]


# --- 9. a large export ---------------------------------------------------------------------

LARGE = 5_000


def large_events() -> list[dict[str, Any]]:
    """Event n happens n seconds after the start; they are posted in a scrambled order."""
    order = [(n * 2_003) % LARGE for n in range(LARGE)]  # 2003 is prime: a permutation
    assert sorted(order) == list(range(LARGE))
    return [
        event(
            event_id=f"e{n:05d}",
            user_id=f"user-{n % 97}",
            session_id=f"session-{n % 211}",
            message=f'message {n}, with "quotes"\r\nand a newline' if n % 2 else f"={n}",
            timestamp=f"2026-03-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z",
        )
        for n in order
    ]


async def test_large_export_is_complete_and_in_order(client: httpx.AsyncClient) -> None:
    events = large_events()
    await ingest(client, events)
    by_id = {body["event_id"]: as_row(body) for body in events}
    expected = [by_id[f"e{n:05d}"] for n in range(LARGE)]

    _, plain = await raw_export(client, "identity")
    rows = csv_rows(plain.decode("utf-8"))
    assert len(rows) == LARGE
    assert restored(rows) == expected

    _, zipped = await raw_export(client, "gzip")
    assert gzip.decompress(zipped) == plain

    ndjson = await get(client, EXPORT, format="ndjson")
    lines = ndjson.text.split("\n")
    assert lines[-1] == ""
    assert [json.loads(line)["event_id"] for line in lines[:-1]] == [row[0] for row in expected]

    one_user = await export_rows(client, user_id="user-5")
    assert ids(one_user) == [f"e{n:05d}" for n in range(5, LARGE, 97)]
