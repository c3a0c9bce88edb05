"""GET /analytics/export and /analytics/export/summary: the admin key, bad parameters refused."""

from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.exports.export_helpers import (
    EXPORT,
    SUMMARY,
    at,
    ingest,
)
from tests.helpers import event

pytestmark = pytest.mark.anyio

# --- 8. errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [EXPORT, SUMMARY])
async def test_admin_key_required(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401
    wrong = {"Authorization": "Bearer not-the-key"}
    assert (await client.get(path, headers=wrong)).status_code == 401


@pytest.mark.parametrize("path", [EXPORT, SUMMARY])
async def test_bad_ranges_are_400(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, params={"tz": "Mars/Olympus"}, headers=ADMIN)
    assert response.status_code == 400
    assert "Mars/Olympus" in response.json()["detail"]
    params = {"start_date": "2026-03-05", "end_date": "2026-03-01"}
    response = await client.get(path, params=params, headers=ADMIN)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "2026-03-05" in detail
    assert "2026-03-01" in detail
    assert "start_date" in detail
    assert "end_date" in detail


INVALID_EXPORT_PARAMS = [
    {"start_date": "2026-02-30"},
    {"end_date": "yesterday"},
    {"start_date": "01/03/2026"},
    {"user_id": "user\x00-1"},
    {"event_type": "\x00"},
    {"user_id": "u" * 257},
    {"format": "xml"},
    {"format": "CSV"},
    {"escape_formulas": "maybe"},
    {"bom": "2"},
]


@pytest.mark.parametrize("params", INVALID_EXPORT_PARAMS)
async def test_invalid_export_params_are_422(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get(EXPORT, params=params, headers=ADMIN)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    "params", [{"start_date": "2026-13-01"}, {"end_date": "2026-3-x"}, {"interval": "month"}]
)
async def test_invalid_summary_params_are_422(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get(SUMMARY, params=params, headers=ADMIN)
    assert response.status_code == 422, response.text


ODD_PARAMS = [
    {"tz": ""},
    {"tz": "../../etc/passwd"},
    {"tz": "/UTC"},
    {"tz": "zone.tab"},
    {"tz": "America"},
    {"tz": "\x00"},
    {"tz": "x" * 5000},
    {"start_date": "0001-01-01"},
    {"user_id": "🙂" * 256, "event_type": "e" * 64},
    {"user_id": ""},
    {"event_type": ""},
]
# Dates at the ends of Python's calendar (year 1, year 9999): refused, never an overflow.
CALENDAR_ENDS = [
    {"start_date": "0001-01-01", "tz": "Asia/Tokyo"},
    {"end_date": "0001-01-01", "tz": "America/New_York"},
    {"end_date": "9999-12-31"},
    {"start_date": "9999-12-31", "tz": "Pacific/Kiritimati"},
    {"start_date": "0001-01-01", "end_date": "9999-12-31"},
]


def odd_case(path: str, params: dict[str, str]) -> Any:
    name = "&".join(f"{key}={value[:16]}" for key, value in params.items())
    return pytest.param(path, params, id=f"{path.rsplit('/', 1)[1]}?{name}")


ODD_CASES = [odd_case(path, params) for params in ODD_PARAMS for path in (EXPORT, SUMMARY)]


@pytest.mark.parametrize("path", [EXPORT, SUMMARY])
@pytest.mark.parametrize("params", CALENDAR_ENDS)
async def test_dates_at_the_ends_of_the_calendar_are_refused(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params, headers=ADMIN)
    assert response.status_code == 400, response.text
    assert "dates must be between 0002-01-01 and 9998-12-31" in response.json()["detail"]


@pytest.mark.parametrize(("path", "params"), ODD_CASES)
async def test_odd_params_never_5xx(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    await ingest(client, [event(event_id="e1", timestamp=at(0))])
    response = await client.get(path, params=params, headers=ADMIN)
    assert response.status_code in (200, 400, 422), response.text
