"""Keys belong to sites: WRITE_KEYS written SITE:KEY, keys of a site that goes away, and sites
resolved by the key ring without a query, or with one for a site made a moment ago.

Over HTTP through the app, on SQLite and PostgreSQL. Ingestion does not store events per site
yet on this branch, so a key's admission is seen through a body that is refused only once the
key was let in (422), and the site it stands for through the ring."""

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from plugin_analytics.access import ring as ring_module
from plugin_analytics.access.keys import digest
from plugin_analytics.access.ring import KeyRing, WriteAccess
from plugin_analytics.app import create_app
from plugin_analytics.config import Settings, SettingsError, load_settings, split_write_key
from plugin_analytics.db.models import DEFAULT_SITE_NUM
from plugin_analytics.errors import StorageUnavailable
from plugin_analytics.services import services_of
from plugin_analytics.sites.registry import SLUG
from tests.access.conftest import MakeSite
from tests.access.helpers import drop_sites, make_key
from tests.conftest import ADMIN_KEY, client_of, started
from tests.helpers import event

pytestmark = pytest.mark.anyio

SHOP_KEY, PLAIN_KEY, GHOST_KEY = "wk_shop_0123456789", "wk_plain_0123456789", "wk_ghost_0123456789"


async def admitted(http: httpx.AsyncClient, key: str) -> int:
    """The status of an ingestion request with `key` and an empty body: 422 once let in."""
    return (await http.post("/client/update", json={}, headers={"X-Write-Key": key})).status_code


def with_write_keys(settings: Settings, *entries: str) -> Settings:
    return settings.model_copy(update={"write_keys": list(entries)})


@pytest.fixture
async def keyed_app(settings: Settings, sites: MakeSite) -> AsyncIterator[FastAPI]:
    """An app whose WRITE_KEYS hold a key of `shop` (made before it starts), two of `default`
    (one holding a colon), and one of `ghost`, a site that does not exist yet."""
    sites("shop")
    entries = (f"shop:{SHOP_KEY}", PLAIN_KEY, f"ghost:{GHOST_KEY}", "default:a:b")
    app = create_app(with_write_keys(settings, *entries))
    async with started(app):
        yield app


async def test_write_keys_belong_to_the_site_they_name(keyed_app: FastAPI) -> None:
    keys = services_of(keyed_app).keys.current
    assert keys.check_write(SHOP_KEY) == WriteAccess(digest(SHOP_KEY), keys.sites["shop"])
    assert keys.check_write(PLAIN_KEY) == WriteAccess(digest(PLAIN_KEY), DEFAULT_SITE_NUM)
    assert keys.check_write("a:b") == WriteAccess(digest("a:b"), DEFAULT_SITE_NUM)
    async with client_of(keyed_app) as http:
        for key in (SHOP_KEY, PLAIN_KEY, "a:b"):
            assert await admitted(http, key) == 422, key
        ghost = await http.post("/client/update", json={}, headers={"X-Write-Key": GHOST_KEY})
        assert ghost.status_code == 401
        assert ghost.json() == {"detail": "invalid write key"}
        assert await admitted(http, f"shop:{SHOP_KEY}") == 401  # the entry is not the key


async def test_a_write_key_of_a_missing_site_waits_for_it(
    keyed_app: FastAPI, sites: MakeSite
) -> None:
    ring = services_of(keyed_app).keys
    ghost = sites("ghost")
    async with client_of(keyed_app) as http:
        assert await admitted(http, GHOST_KEY) == 401  # until the next reload
        ring.load()
        assert await admitted(http, GHOST_KEY) == 422
    assert ring.current.check_write(GHOST_KEY) == WriteAccess(digest(GHOST_KEY), ghost)


async def test_a_missing_site_is_warned_about_once_while_missing(
    engine: Engine, database_url: str, settings: Settings, sites: MakeSite,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING, logger=ring_module.__name__)
    ring = KeyRing(engine, with_write_keys(settings, f"ghost:{GHOST_KEY}", PLAIN_KEY))

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if "'ghost'" in r.getMessage()]

    ring.load()
    ring.load()
    assert len(warnings()) == 1
    assert "WRITE_KEYS" in warnings()[0]
    sites("ghost")
    ring.load()
    drop_sites(database_url)
    ring.load()
    assert len(warnings()) == 2  # gone again
    assert not [r for r in caplog.records if GHOST_KEY in r.getMessage()]


async def test_an_unknown_site_in_write_keys_keeps_ingestion_closed(settings: Settings) -> None:
    app = create_app(with_write_keys(settings, f"ghost:{GHOST_KEY}"))
    async with started(app), client_of(app) as http:
        response = await http.post("/client/update", json=event())
        assert response.status_code == 401
        assert "write key is required" in response.json()["detail"]


async def test_a_key_of_a_site_that_is_gone_is_void(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, sites: MakeSite
) -> None:
    sites("gone")
    key = make_key(database_url, "write", site="gone").key
    services_of(app).keys.load()
    assert await admitted(client, key) == 422
    drop_sites(database_url)
    services_of(app).keys.load()
    assert await admitted(client, key) == 401


async def test_the_ring_resolves_sites_without_a_query(app: FastAPI, sites: MakeSite) -> None:
    shop = sites("shop")
    ring = services_of(app).keys
    ring.load()
    assert ring.current.sites == {"default": DEFAULT_SITE_NUM, "shop": shop}
    assert await ring.site_num_of("shop") == shop
    assert await ring.site_num_of("default") == DEFAULT_SITE_NUM


async def test_a_site_made_since_the_last_reload_is_looked_up(
    app: FastAPI, sites: MakeSite
) -> None:
    ring = services_of(app).keys
    late = sites("late")  # as on another worker, a second ago
    assert "late" not in ring.current.sites
    assert await ring.site_num_of("late") == late
    assert await ring.site_num_of("late") == late


@pytest.mark.parametrize("site_id", ["nope", "Not-A-Slug", "", "a" * 64, "shop\n"])
async def test_no_such_site_is_none(app: FastAPI, site_id: str) -> None:
    assert await services_of(app).keys.site_num_of(site_id) is None


async def test_an_id_of_no_site_is_not_looked_up_again_until_the_reload(
    app: FastAPI, sites: MakeSite
) -> None:
    ring = services_of(app).keys
    assert await ring.site_num_of("later") is None
    later = sites("later")
    assert await ring.site_num_of("later") is None
    ring.load()
    assert await ring.site_num_of("later") == later


async def test_ids_of_no_site_are_looked_up_a_bounded_number_of_times(
    app: FastAPI, sites: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ring_module, "MAX_MISSES", 2)
    ring = services_of(app).keys
    for site_id in ("nope-1", "nope-2"):
        assert await ring.site_num_of(site_id) is None
    fresh = sites("fresh")
    assert await ring.site_num_of("fresh") is None  # no more lookups until the reload
    ring.load()
    assert await ring.site_num_of("fresh") == fresh
    fresher = sites("fresher")  # the reload forgot the misses: lookups are made again
    assert await ring.site_num_of("fresher") == fresher


async def test_sites_are_unknown_until_the_keys_were_read(
    engine: Engine, settings: Settings
) -> None:
    with pytest.raises(StorageUnavailable):
        await KeyRing(engine, settings).site_num_of("default")


@pytest.mark.parametrize(
    ("entry", "site_and_key"),
    [
        ("wk_plain", ("default", "wk_plain")),
        ("shop:wk_1", ("shop", "wk_1")),
        ("default:a:b", ("default", "a:b")),
        ("my-shop-2:pa_write_x", ("my-shop-2", "pa_write_x")),
    ],
)
def test_a_write_keys_entry_names_its_site(entry: str, site_and_key: tuple[str, str]) -> None:
    assert split_write_key(entry) == site_and_key
    settings = load_settings(_env_file=None, admin_api_key=ADMIN_KEY, write_keys=entry)
    assert settings.site_write_keys == [site_and_key]


@pytest.mark.parametrize("entry", ["Shop:wk_1", "shop:", ":wk_1", "my_shop:wk_1", "a:", "-a:k"])
def test_an_entry_with_a_colon_must_be_site_and_key(entry: str) -> None:
    with pytest.raises(SettingsError, match=r"  WRITE_KEYS: .*SITE:KEY"):
        load_settings(_env_file=None, write_keys=f"wk_fine,{entry}")


@pytest.mark.parametrize("site", ["a" * 63, "a" * 64, "0-a", "a-", "-a", "a.b", "é"])
def test_write_keys_read_a_site_id_as_sites_are_named(site: str) -> None:
    """config.py cannot import the registry's SLUG (the registry imports config): the two
    patterns must agree."""
    named = split_write_key(f"{site}:k") == (site, "k")
    assert named == (SLUG.fullmatch(site) is not None)
