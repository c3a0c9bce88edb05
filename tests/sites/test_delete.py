"""Deleting a site erases every row of its data, in one transaction, and nothing of another
site's; the audit log keeps the counts, never the data."""

import asyncio
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Engine, insert, select, text

from plugin_analytics.access.keys import create_key
from plugin_analytics.config import Settings
from plugin_analytics.db.models import DEFAULT_SITE_NUM, event_table, rollup_table, site_table
from plugin_analytics.db.session import write_transaction
from plugin_analytics.derived.rollup_sql import RollupSql
from plugin_analytics.ingest.writer import EventWriter, SiteGone, WriteResult
from plugin_analytics.sites import service
from plugin_analytics.sites.schemas import SiteCreate
from tests.access.helpers import audit_entries
from tests.conftest import ADMIN
from tests.helpers import created
from tests.sites.helpers import HOUR, admin_keys, fill, personal, site_num, site_rows

pytestmark = pytest.mark.anyio


def make_site(engine: Engine, settings: Settings, site_id: str) -> int:
    service.create_site(engine, SiteCreate(id=site_id, name=site_id.title()), settings)
    return site_num(engine, site_id)


async def test_deleting_a_site_erases_its_data_and_nothing_else(
    client: httpx.AsyncClient, engine: Engine, settings: Settings, database_url: str
) -> None:
    nums = {site: make_site(engine, settings, site) for site in ("alpha", "beta")}
    nums["default"] = DEFAULT_SITE_NUM
    filled = {site: fill(engine, num, site) for site, num in nums.items()}
    with engine.begin() as connection:
        create_key(connection, "admin", "operator")
    kept_before = {site: site_rows(engine, nums[site]) for site in ("beta", "default")}
    assert all(rows for rows in site_rows(engine, nums["alpha"]).values())

    response = await client.delete("/sites/alpha", headers=ADMIN)

    assert response.status_code == 200, response.text
    assert response.json() == {"site": "alpha", "deleted": filled["alpha"]}
    assert site_rows(engine, nums["alpha"]) == {table: [] for table in filled["alpha"]}
    for site in ("beta", "default"):
        assert site_rows(engine, nums[site]) == kept_before[site], site
    assert admin_keys(engine) == 1
    listed = (await client.get("/sites", headers=ADMIN)).json()["sites"]
    assert [site["id"] for site in listed] == ["default", "beta"]
    [*_, entry] = audit_entries(database_url)
    assert (entry["action"], entry["rows"]) == ("site_deleted", sum(filled["alpha"].values()))
    assert entry["detail"] == {"site": "alpha", "deleted": filled["alpha"]}
    for stored in personal("alpha"):
        assert stored not in repr(entry)


def test_a_refused_deletion_deletes_nothing(engine: Engine, settings: Settings) -> None:
    num = make_site(engine, settings, "alpha")
    filled = {"alpha": fill(engine, num, "alpha"), "default": fill(engine, 1, "default")}
    before = {site: site_rows(engine, n) for site, n in (("alpha", num), ("default", 1))}
    with pytest.raises(service.DefaultSiteKept):
        service.delete_site(engine, "default")
    with pytest.raises(service.SiteNotFound):
        service.delete_site(engine, "nowhere")
    assert {site: site_rows(engine, n) for site, n in (("alpha", num), ("default", 1))} == before
    assert all(len(rows) == filled["alpha"][table] for table, rows in before["alpha"].items())


class Deleting(threading.Thread):
    """`delete_site` on a thread of its own, keeping what it raised."""

    def __init__(self, engine: Engine, site_id: str) -> None:
        super().__init__()
        self.engine, self.site_id = engine, site_id
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            service.delete_site(self.engine, self.site_id)
        except BaseException as exc:  # re-raised by finish
            self.error = exc

    def waiting_for_a_lock(self) -> None:
        """Return once the deletion waits for a lock, or has ended without waiting."""
        query = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
        with self.engine.connect() as connection:
            while self.is_alive() and not connection.execute(query).scalar_one():
                time.sleep(0.01)
                connection.rollback()

    def finish(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error


def test_deleting_waits_for_a_compaction_under_way(engine: Engine, settings: Settings) -> None:
    """A compactor's rollup rows, inserted but not committed, must not outlive the site."""
    if engine.dialect.name == "sqlite":
        pytest.skip("a SQLite transaction that writes holds the only write lock")
    num = make_site(engine, settings, "alpha")
    fill(engine, num, "alpha")
    with write_transaction(engine) as folding:
        assert RollupSql(folding).lock_compaction(wait=True)
        quarter = folding.execute(select(rollup_table).where(rollup_table.c.grain == "quarter"))
        row = dict(quarter.mappings().one())
        folding.execute(insert(rollup_table).values(row | {"start_at": HOUR.replace(hour=11)}))
        deleting = Deleting(engine, "alpha")
        deleting.waiting_for_a_lock()
    deleting.finish()
    assert site_rows(engine, num)["rollup"] == []


def test_deleting_waits_for_events_being_stored(engine: Engine, settings: Settings) -> None:
    """An event stored while the site is deleted is deleted with it, not left behind."""
    if engine.dialect.name == "sqlite":
        pytest.skip("a SQLite transaction that writes holds the only write lock")
    num = make_site(engine, settings, "alpha")
    fill(engine, num, "alpha")
    with engine.connect() as connection:
        stored = connection.execute(select(event_table).where(event_table.c.site_num == num))
        event = {**(stored.mappings().first() or {}), "event_id": "late"}
    del event["id"]
    with write_transaction(engine) as storing:
        storing.execute(insert(event_table).values(event))
        deleting = Deleting(engine, "alpha")
        deleting.waiting_for_a_lock()
    deleting.finish()
    assert site_rows(engine, num)["event"] == []
    with engine.connect() as connection:
        assert connection.execute(select(site_table).where(site_table.c.num == num)).all() == []


def test_a_deleted_sites_number_is_never_given_again(engine: Engine, settings: Settings) -> None:
    """A worker may still hold a deleted site's write key for a few seconds: its events must
    not land in a site made since."""
    first = make_site(engine, settings, "first")
    last = make_site(engine, settings, "last")
    assert DEFAULT_SITE_NUM < first < last
    service.delete_site(engine, "last")
    assert make_site(engine, settings, "again") > last


async def test_events_for_a_site_deleted_meanwhile_are_refused_and_not_kept(
    engine: Engine, settings: Settings
) -> None:
    """A worker whose key ring has not yet seen the deletion still hands the writer a deleted
    site's number: that request is refused, and another site's in the same group is stored."""
    gone = make_site(engine, settings, "gone")
    service.delete_site(engine, "gone")
    writer = EventWriter(engine, compact_interval=3600)
    await writer.start()
    try:
        now = datetime.now(UTC)
        lost, kept = await asyncio.gather(
            writer.write([created(event_id="lost")], now, gone),
            writer.write([created(event_id="kept")], now, DEFAULT_SITE_NUM),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
    assert isinstance(lost, SiteGone)
    assert kept == WriteResult(new=1, duplicates=0)
    with engine.connect() as connection:
        rows = connection.execute(select(event_table.c.site_num, event_table.c.event_id)).all()
    assert [tuple(row) for row in rows] == [(DEFAULT_SITE_NUM, "kept")]
