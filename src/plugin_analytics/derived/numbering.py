"""User and session numbering: a small number for each user_id and session_id (the user_key and
session_key tables), so that rollups can hold sets of users and sessions as roaring bitmaps; and
forgetting the numbers of ids that no event has any more."""

import json

from sqlalchemy import Connection, delete, exists, text

from plugin_analytics.db.batches import chunked
from plugin_analytics.db.models import event_table, session_key_table, user_key_table
from plugin_analytics.derived.driver import KEY_CHUNK, DriverSql

# User and session numbers by id.
KeyNumbers = tuple[dict[str, int], dict[str, int]]
# (table, id column) of each numbering.
USER_KEY = ("user_key", "user_id")
SESSION_KEY = ("session_key", "session_id")


class KeySql(DriverSql):
    """Looking up and assigning numbers, on the driver's cursor (see DriverSql)."""

    def key_numbers(self, user_ids: set[str], session_ids: set[str]) -> KeyNumbers:
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

    def _numbers(self, user_ids: list[str], session_ids: list[str]) -> KeyNumbers:
        if self.sqlite:
            return self._numbers_in(USER_KEY, user_ids), self._numbers_in(SESSION_KEY, session_ids)
        # PostgreSQL: both in one round trip, each list one JSON string (see ingest.store). One
        # index probe per id: the LIMIT keeps the planner from turning the lateral lookups into
        # a hash join over the whole key table, which made every group cost O(all sessions).
        lookup = (
            "SELECT {kind}, wanted.id, found.num FROM jsonb_array_elements_text(%s::jsonb) "
            "AS wanted(id) CROSS JOIN LATERAL "
            "(SELECT num FROM {table} WHERE {column} = wanted.id LIMIT 1) AS found"
        )
        self.cursor.execute(
            " UNION ALL ".join(
                lookup.format(kind=kind, table=table, column=column)
                for kind, (table, column) in enumerate((USER_KEY, SESSION_KEY))
            ),
            [json.dumps(user_ids), json.dumps(session_ids)],
        )
        users: dict[str, int] = {}
        sessions: dict[str, int] = {}
        for kind, value, num in self.cursor.fetchall():
            (sessions if kind else users)[value] = num
        return users, sessions

    def _numbers_in(self, key: tuple[str, str], ids: list[str]) -> dict[str, int]:
        table, column = key
        numbers: dict[str, int] = {}
        for chunk in chunked(ids, KEY_CHUNK):
            query = (
                f"SELECT {column}, num FROM {table} WHERE {column} IN ({self.marks(len(chunk))})"
            )
            self.cursor.execute(query, chunk)
            numbers.update(self.cursor.fetchall())
        return numbers

    def _number(self, key: tuple[str, str], ids: list[str]) -> None:
        table, column = key
        conflict = f"ON CONFLICT ({column}) DO NOTHING"
        if not self.sqlite:
            self.cursor.execute(
                f"INSERT INTO {table} ({column}) "
                f"SELECT jsonb_array_elements_text(%s::jsonb) {conflict}",
                [json.dumps(ids)],
            )
            return
        for chunk in chunked(ids, KEY_CHUNK):
            values = ", ".join(["(?)"] * len(chunk))
            self.cursor.execute(f"INSERT INTO {table} ({column}) VALUES {values} {conflict}", chunk)


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


def forget_unused_keys(connection: Connection, key: tuple[str, str], ids: set[str]) -> int:
    """Delete the keys (USER_KEY or SESSION_KEY) of these ids that no event has any more; how
    many. The caller holds ingestion first (hold_ingestion)."""
    table = user_key_table if key == USER_KEY else session_key_table
    column = key[1]
    has_events = exists().where(event_table.c[column] == table.c[column])
    return sum(
        connection.execute(delete(table).where(table.c[column].in_(chunk), ~has_events)).rowcount
        for chunk in chunked(sorted(ids), KEY_CHUNK)
    )
