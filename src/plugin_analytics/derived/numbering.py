"""User and session numbering: a small number for each user_id and session_id (the user_key and
session_key tables), so that rollups can hold sets of users and sessions as roaring bitmaps; and
forgetting the numbers of ids that no event has any more."""

import json

from sqlalchemy import Connection, delete, exists, text

from plugin_analytics.db.batches import chunked
from plugin_analytics.db.models import event_table, session_key_table, user_key_table
from plugin_analytics.derived.driver import KEY_CHUNK, DriverSql

# A user or session of a site: (site_num, id). Ids are per site; numbers are unique overall.
SiteId = tuple[int, str]
# User and session numbers by (site_num, id).
KeyNumbers = tuple[dict[SiteId, int], dict[SiteId, int]]
# (table, id column) of each numbering.
USER_KEY = ("user_key", "user_id")
SESSION_KEY = ("session_key", "session_id")


class KeySql(DriverSql):
    """Looking up and assigning numbers, on the driver's cursor (see DriverSql)."""

    def key_numbers(self, user_ids: set[SiteId], session_ids: set[SiteId]) -> KeyNumbers:
        """The numbers of these users and sessions, numbering those that have none yet."""
        wanted = (sorted(user_ids), sorted(session_ids))
        found = self._numbers(*wanted)
        missing = [
            [value for value in ids if value not in numbers]
            for ids, numbers in zip(wanted, found, strict=True)
        ]
        if any(missing):
            for key, ids in zip((USER_KEY, SESSION_KEY), missing, strict=True):
                if ids:
                    self._number(key, ids)
            for numbers, more in zip(found, self._numbers(*missing), strict=True):
                numbers.update(more)
        return found

    def _numbers(self, user_ids: list[SiteId], session_ids: list[SiteId]) -> KeyNumbers:
        if self.sqlite:
            return self._numbers_in(USER_KEY, user_ids), self._numbers_in(SESSION_KEY, session_ids)
        # PostgreSQL: both in one round trip, each list one JSON string of [site, id] pairs (see
        # ingest.store). One index probe per id: the LIMIT keeps the planner from turning the
        # lateral lookups into a hash join over the whole key table, which made every group
        # cost O(all sessions).
        lookup = (
            "SELECT {kind}, found.site_num, found.{column}, found.num "
            "FROM jsonb_array_elements(%s::jsonb) AS wanted(pair) CROSS JOIN LATERAL "
            "(SELECT site_num, {column}, num FROM {table} "
            "WHERE site_num = (wanted.pair->>0)::integer AND {column} = wanted.pair->>1 "
            "LIMIT 1) AS found"
        )
        self.cursor.execute(
            " UNION ALL ".join(
                lookup.format(kind=kind, table=table, column=column)
                for kind, (table, column) in enumerate((USER_KEY, SESSION_KEY))
            ),
            [json.dumps(user_ids), json.dumps(session_ids)],
        )
        users: dict[SiteId, int] = {}
        sessions: dict[SiteId, int] = {}
        for kind, site_num, value, num in self.cursor.fetchall():
            (sessions if kind else users)[site_num, value] = num
        return users, sessions

    def _numbers_in(self, key: tuple[str, str], ids: list[SiteId]) -> dict[SiteId, int]:
        table, column = key
        numbers: dict[SiteId, int] = {}
        for site_num, site_ids in _by_site(ids).items():
            for chunk in chunked(site_ids, KEY_CHUNK):
                query = (
                    f"SELECT {column}, num FROM {table} "
                    f"WHERE site_num = ? AND {column} IN ({self.marks(len(chunk))})"
                )
                self.cursor.execute(query, [site_num, *chunk])
                numbers.update(((site_num, value), num) for value, num in self.cursor.fetchall())
        return numbers

    def _number(self, key: tuple[str, str], ids: list[SiteId]) -> None:
        table, column = key
        conflict = f"ON CONFLICT (site_num, {column}) DO NOTHING"
        if not self.sqlite:
            self.cursor.execute(
                f"INSERT INTO {table} (site_num, {column}) "
                "SELECT (pair->>0)::integer, pair->>1 "
                f"FROM jsonb_array_elements(%s::jsonb) AS wanted(pair) {conflict}",
                [json.dumps(ids)],
            )
            return
        for chunk in chunked(ids, KEY_CHUNK):
            values = ", ".join(["(?, ?)"] * len(chunk))
            params = [part for pair in chunk for part in pair]
            self.cursor.execute(
                f"INSERT INTO {table} (site_num, {column}) VALUES {values} {conflict}", params
            )


def _by_site(ids: list[SiteId]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for site_num, value in ids:
        grouped.setdefault(site_num, []).append(value)
    return grouped


def hold_ingestion(connection: Connection) -> None:
    """Make ingestion wait until this transaction ends, before deleting user or session keys.

    On PostgreSQL, storing events reads the keys of their users and sessions without locking
    them. Deleting a key in between would let that event count its user under a number that no
    longer exists, and the user's next event under a new one: counted twice. Ingestion inserts
    its events in the statement that reads the keys, and PostgreSQL takes that statement's table
    locks before it reads, so a SHARE lock on `event` waits for every storing transaction under
    way to commit (its events are then seen), and makes new ones wait for this one to end.
    SQLite needs nothing: a writing transaction holds the only write lock already."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("LOCK TABLE event IN SHARE MODE"))


def forget_unused_keys(
    connection: Connection, key: tuple[str, str], site_num: int, ids: set[str]
) -> int:
    """Delete the keys (USER_KEY or SESSION_KEY) of these ids of a site that no event has any
    more; how many. The caller holds ingestion first (hold_ingestion)."""
    table = user_key_table if key == USER_KEY else session_key_table
    column = key[1]
    has_events = exists().where(
        event_table.c.site_num == table.c.site_num, event_table.c[column] == table.c[column]
    )
    return sum(
        connection.execute(
            delete(table).where(
                table.c.site_num == site_num, table.c[column].in_(chunk), ~has_events
            )
        ).rowcount
        for chunk in chunked(sorted(ids), KEY_CHUNK)
    )
