"""The statements that maintain the rollup rows and deltas, on the driver's own cursor (see
DriverSql): they run in every ingestion transaction."""

from collections import defaultdict
from typing import Any

from plugin_analytics.db.batches import chunked
from plugin_analytics.derived.activity import COUNTERS, MEASURES, Activity
from plugin_analytics.derived.driver import KEY_CHUNK, DriverSql

# PostgreSQL advisory lock that lets one transaction at a time compact (any number may insert).
COMPACTION_LOCK = 0x706C7567_696E0001
# A site's quarter hour (site_num, start in µs) and rollup period (site_num, grain, start).
Quarter = tuple[int, int]
PeriodKey = tuple[int, str, int]
# A period's row, its activity, and the bitmaps to write back.
RowWrite = tuple[PeriodKey, Activity, tuple[str, ...]]


class RollupSql(DriverSql):
    """Rollup rows are keyed (site_num, grain, start in µs); deltas are a site's quarter hours
    (site_num, start in µs)."""

    COLUMNS = ", ".join(MEASURES)

    def insert_deltas(self, quarters: dict[Quarter, Activity]) -> None:
        rows = [
            (site, self.time(start), *activity.to_row())
            for (site, start), activity in quarters.items()
        ]
        values = f"({self.marks(2 + len(MEASURES))})"
        for chunk in chunked(rows, KEY_CHUNK):
            self.cursor.execute(
                f"INSERT INTO rollup_delta (site_num, start_at, {self.COLUMNS}) "
                f"VALUES {', '.join([values] * len(chunk))}",
                [param for row in chunk for param in row],
            )

    def lock_compaction(self, wait: bool) -> bool:
        if self.sqlite:
            return True  # the transaction holds SQLite's only write lock already
        if wait:
            self.cursor.execute("SELECT pg_advisory_xact_lock(%s)", [COMPACTION_LOCK])
            return True
        self.cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [COMPACTION_LOCK])
        (locked,) = self.cursor.fetchone() or (False,)
        return bool(locked)

    def take_deltas(self, limit: int) -> list[tuple[Quarter, Activity]]:
        """Delete the `limit` oldest deltas and return them ((site, quarter start), activity)."""
        self.cursor.execute(
            "DELETE FROM rollup_delta WHERE id IN "
            f"(SELECT id FROM rollup_delta ORDER BY id LIMIT {self.mark}) "
            f"RETURNING site_num, start_at, {self.COLUMNS}",
            [limit],
        )
        return [
            ((row[0], self.epoch(row[1])), Activity.from_row(row[2:]))
            for row in self.cursor.fetchall()
        ]

    def ensure_rows(self, keys: list[PeriodKey]) -> None:
        """Create the rows of `keys` that do not exist yet, empty."""
        for chunk in chunked(keys, KEY_CHUNK):
            self._ensure_chunk(chunk)

    def _ensure_chunk(self, keys: list[PeriodKey]) -> None:
        empty = Activity().to_row()
        values = ", ".join([f"({self.marks(3 + len(MEASURES))})"] * len(keys))
        params = [p for site, grain, at in keys for p in (site, grain, self.time(at), *empty)]
        self.cursor.execute(
            f"INSERT INTO rollup (site_num, grain, start_at, {self.COLUMNS}) VALUES {values} "
            "ON CONFLICT (site_num, grain, start_at) DO NOTHING",
            params,
        )

    def lock_rows(self, keys: list[PeriodKey]) -> dict[PeriodKey, Activity]:
        """Lock and read the rows of `keys` that exist, in key order (chunks keep SQLite under
        its limit of bound parameters when a backfill touches thousands of periods)."""
        rows: dict[PeriodKey, Activity] = {}
        for chunk in chunked(keys, KEY_CHUNK):
            rows.update(self._lock_chunk(chunk))
        return rows

    def _lock_chunk(self, keys: list[PeriodKey]) -> dict[PeriodKey, Activity]:
        where = " OR ".join(
            [f"(site_num = {self.mark} AND grain = {self.mark} AND start_at = {self.mark})"]
            * len(keys)
        )
        params = [p for site, grain, at in keys for p in (site, grain, self.time(at))]
        lock = "" if self.sqlite else " FOR UPDATE"  # SQLite: the writer holds the write lock
        self.cursor.execute(
            f"SELECT site_num, grain, start_at, {self.COLUMNS} FROM rollup WHERE {where} "
            f"ORDER BY site_num, grain, start_at{lock}",
            params,
        )
        return {
            (row[0], row[1], self.epoch(row[2])): Activity.from_row(row[3:])
            for row in self.cursor.fetchall()
        }

    def write_rows(self, rows: list[RowWrite]) -> None:
        """Write back each row's counts and the named bitmaps. A bitmap left out is not sent:
        most events come from users and sessions a period has already seen, and rewriting an
        unchanged bitmap (on PostgreSQL a new TOASTed value) was most of the rollups' cost."""
        by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for (site, grain, at), activity, bitmaps in rows:
            blobs = tuple(getattr(activity, name).serialize() for name in bitmaps)
            by_columns[(*COUNTERS, *bitmaps)].append(
                (*activity.counts(), *blobs, site, grain, self.time(at))
            )
        for names, params in by_columns.items():
            assignments = ", ".join(f"{name} = {self.mark}" for name in names)
            where = f"site_num = {self.mark} AND grain = {self.mark} AND start_at = {self.mark}"
            # psycopg pipelines executemany into one round trip.
            self.cursor.executemany(f"UPDATE rollup SET {assignments} WHERE {where}", params)
