"""Making, changing and deleting sites, each in a transaction of its own, audited. Deleting a
site erases everything collected for it."""

from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, Table, delete, select, update

from plugin_analytics.config import Settings
from plugin_analytics.db.models import (
    DEFAULT_SITE,
    DEFAULT_SITE_NUM,
    api_key_table,
    event_table,
    report_attempt_table,
    report_table,
    rollup_delta_table,
    rollup_table,
    session_key_table,
    site_table,
    user_key_table,
    user_profile_table,
)
from plugin_analytics.db.session import write_transaction
from plugin_analytics.db.upsert import insert_or_skip
from plugin_analytics.derived.rollups import hold_writers
from plugin_analytics.errors import APIError, NotFound
from plugin_analytics.privacy.audit import record
from plugin_analytics.sites.registry import Site, find_site
from plugin_analytics.sites.schemas import SiteCreate, SiteUpdate

# Every table whose rows belong to one site (site_num), in the order a deletion empties them.
SITE_DATA: tuple[Table, ...] = (
    event_table,
    rollup_table,
    rollup_delta_table,
    user_key_table,
    session_key_table,
    user_profile_table,
    report_table,
    report_attempt_table,
    api_key_table,
)


class SiteNotFound(NotFound):
    def __init__(self, site_id: str) -> None:
        super().__init__(f"no site has the id {site_id!r}")


class SiteExists(APIError):
    status_code = 409

    def __init__(self, site_id: str) -> None:
        super().__init__(f"a site with the id {site_id!r} exists already")


class DefaultSiteKept(APIError):
    status_code = 409

    def __init__(self) -> None:
        super().__init__(
            f"the site {DEFAULT_SITE!r} cannot be deleted: it holds what was collected before "
            "there were sites, and what is sent without naming one"
        )


def create_site(engine: Engine, new: SiteCreate, settings: Settings) -> Site:
    """Make a site; SiteExists when its id is taken. The database numbers it, never with the
    number of a site deleted before (a PostgreSQL sequence, SQLite's AUTOINCREMENT)."""
    with write_transaction(engine) as connection:
        made = connection.execute(
            insert_or_skip(connection, site_table)
            .values(created_at=datetime.now(UTC), **new.model_dump())
            .on_conflict_do_nothing()
            .returning(site_table.c.num)
        ).first()
        if made is None:
            raise SiteExists(new.id)
        record(connection, "site_created", 1, {"site": new.id})
        return _found(connection, new.id, settings)


def update_site(engine: Engine, site_id: str, changes: SiteUpdate, settings: Settings) -> Site:
    """Change the fields `changes` holds; SiteNotFound when there is no such site."""
    with write_transaction(engine) as connection:
        values = changes.changes()
        if values:
            changed = connection.execute(
                update(site_table).where(site_table.c.id == site_id).values(**values)
            ).rowcount
            if not changed:
                raise SiteNotFound(site_id)
            # The names of the fields, not their values: recipients are people's addresses.
            record(connection, "site_updated", 1, {"site": site_id, "fields": sorted(values)})
        return _found(connection, site_id, settings)


def delete_site(engine: Engine, site_id: str) -> dict[str, int]:
    """Delete a site and every row of its data in one transaction; the rows deleted by table.
    SiteNotFound, or DefaultSiteKept for `default`."""
    with write_transaction(engine) as connection:
        # As erasure does: storing transactions under way finish first and new ones wait (their
        # keys are deleted here), and so does a compaction writing this site's rollup rows.
        hold_writers(connection)
        num = connection.execute(
            select(site_table.c.num).where(site_table.c.id == site_id)
        ).scalar()
        if num is None:
            raise SiteNotFound(site_id)
        if num == DEFAULT_SITE_NUM:
            raise DefaultSiteKept()
        deleted = {
            table.name: connection.execute(delete(table).where(table.c.site_num == num)).rowcount
            for table in SITE_DATA
        }
        connection.execute(delete(site_table).where(site_table.c.num == num))
        # Counts only: what was deleted is not recorded, or the log would keep it.
        record(
            connection, "site_deleted", sum(deleted.values()), {"site": site_id, "deleted": deleted}
        )
        return deleted


def _found(connection: Connection, site_id: str, settings: Settings) -> Site:
    site = find_site(connection, site_id, settings)
    if site is None:
        raise SiteNotFound(site_id)
    return site
