"""Two sites in one installation: every metric of each site equals the brute force over that
site's events alone, when the two sites' requests are stored in the same group commits and share
event, user and session ids, and after one site's users are erased or its old days deleted."""

import asyncio
import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from plugin_analytics.db.models import site_table
from plugin_analytics.derived.rollups import compact_all
from plugin_analytics.privacy.retention import apply_site_retention
from tests.analytics.brute_force import Event, Stored
from tests.analytics.test_properties import (
    PROPERTY,
    USERS,
    ZONE_DRAWS,
    _add_duplicates,
    _split,
    anchors,
    check_reports,
    events,
    floor,
    post,
    spans,
)
from tests.conftest import ADMIN
from tests.helpers import empty

pytestmark = pytest.mark.anyio

SITES = ("default", "shop")
# Each example checks both sites (and again after each change): fewer examples than the
# single-site properties, which draw the same events and edges.
TWO_SITES = settings(PROPERTY, max_examples=15)
DAY = timedelta(days=1)


@dataclasses.dataclass
class TwoSites:
    zone: str
    requests: dict[str, list[list[Event]]]  # by site, posted pairwise at the same time
    compact_after: list[bool]
    spans: list[tuple[date, date, str]]
    erased: list[tuple[str, str]]  # (site, user)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)


@st.composite
def two_sites(draw: st.DrawFn) -> TwoSites:
    zone = draw(st.sampled_from(ZONE_DRAWS))
    anchor = draw(anchors(zone))
    requests = {}
    for site in SITES:  # the same event ids, users and sessions on both sites
        pool = [draw(events(zone, anchor, f"e{n}")) for n in range(draw(st.integers(0, 20)))]
        requests[site] = _split(draw, pool)
        _add_duplicates(draw, zone, anchor, requests[site])
    rounds = max(len(batches) for batches in requests.values())
    pairs = st.tuples(st.sampled_from(SITES), st.sampled_from(USERS))
    return TwoSites(
        zone=zone,
        requests=requests,
        compact_after=[draw(st.booleans()) for _ in range(rounds)],
        spans=draw(spans(anchor)),
        erased=draw(st.lists(pairs, min_size=1, max_size=3, unique=True)),
    )


async def with_shop(client: httpx.AsyncClient, engine: Engine) -> None:
    """The database emptied of events, with the site `shop` (made once, over HTTP, which puts
    it in force in the app's key ring at once)."""
    empty(engine)
    with engine.connect() as connection:
        if connection.execute(select(site_table.c.num).where(site_table.c.id == "shop")).first():
            return
    response = await client.post("/sites", json={"id": "shop", "name": "Shop"}, headers=ADMIN)
    assert response.status_code == 201, response.text


async def ingest_both(
    client: httpx.AsyncClient, engine: Engine, scenario: TwoSites
) -> dict[str, Stored]:
    await with_shop(client, engine)
    stored = {site: Stored() for site in SITES}
    for round_, fold in enumerate(scenario.compact_after):
        posts = [
            post(client, stored[site], batches[round_], update=False, site=site)
            for site, batches in scenario.requests.items()
            if round_ < len(batches)
        ]
        await asyncio.gather(*posts)  # one writer group may hold both sites' events
        if fold:
            with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
                compact_all(connection)
    return stored


async def check_both(
    client: httpx.AsyncClient, stored: dict[str, Stored], scenario: TwoSites
) -> None:
    for site in SITES:
        for span in scenario.spans:
            await check_reports(client, stored[site], scenario.tz, span, site)


@TWO_SITES
@given(scenario=two_sites())
async def test_each_site_is_exact_and_alone_through_erasure(
    client: httpx.AsyncClient, engine: Engine, scenario: TwoSites
) -> None:
    stored = await ingest_both(client, engine, scenario)
    await check_both(client, stored, scenario)
    for site, user_id in scenario.erased:
        response = await client.delete(f"/users/{user_id}", params={"site": site}, headers=ADMIN)
        assert response.status_code == 200, response.text
        assert response.json()["deleted_events"] == stored[site].erase(user_id)
        await check_both(client, stored, scenario)


@TWO_SITES
@given(scenario=two_sites(), pick=st.integers(0, 1000))
async def test_one_sites_retention_leaves_the_other_as_it_was(
    client: httpx.AsyncClient, engine: Engine, scenario: TwoSites, pick: int
) -> None:
    stored = await ingest_both(client, engine, scenario)
    shop = stored["shop"]
    times = sorted(event.at for event in shop.events) or [datetime(2025, 1, 1, tzinfo=UTC)]
    cut = floor(times[pick % len(times)], DAY)
    days = 30
    site_num = _num(engine, "shop")
    deleted = apply_site_retention(engine, site_num, "shop", days, now=cut + days * DAY)
    kept = [event for event in shop.events if event.at >= cut]
    assert deleted == len(shop.events) - len(kept)
    shop.events = kept
    await check_both(client, stored, scenario)


def _num(engine: Engine, site_id: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(site_table.c.num).where(site_table.c.id == site_id)
            ).scalar_one()
        )


@TWO_SITES
@given(scenario=two_sites())
async def test_deleting_a_site_leaves_the_other_exact(
    client: httpx.AsyncClient, engine: Engine, scenario: TwoSites
) -> None:
    stored = await ingest_both(client, engine, scenario)
    response = await client.delete("/sites/shop", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert sum(response.json()["deleted"].values()) >= len(stored["shop"].events)
    for span in scenario.spans:
        await check_reports(client, stored["default"], scenario.tz, span, "default")
    gone = await client.get("/analytics/summary", params={"site": "shop"}, headers=ADMIN)
    assert gone.status_code == 404
