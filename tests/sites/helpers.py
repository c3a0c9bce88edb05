"""Rows of every table of a site's data, inserted behind the app's back, and read back."""

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Engine, insert, select

from plugin_analytics.db.models import api_key_table, site_table
from plugin_analytics.derived.activity import BITMAPS, COUNTERS
from plugin_analytics.derived.periods import GRAINS
from plugin_analytics.sites.service import SITE_DATA

HOUR = datetime(2026, 11, 24, 10, tzinfo=UTC)
EVENTS_PER_SITE = 3


def site_num(engine: Engine, site_id: str) -> int:
    with engine.connect() as connection:
        num = connection.execute(select(site_table.c.num).where(site_table.c.id == site_id))
        return int(num.scalar_one())


def personal(tag: str) -> tuple[str, ...]:
    """What `fill` stores about people for the site `tag`: none of it may be kept elsewhere."""
    return (
        f"{tag}-visitor",
        f"{tag}-session",
        f"{tag} asks about shipping",
        f"{tag}@people.example",
        f"{tag}@owner.example",
    )


def fill(engine: Engine, num: int, tag: str) -> dict[str, int]:
    """Rows for the site `num` in every table of a site's data; how many, by table."""
    user, session, message, email, owner = personal(tag)
    now = datetime.now(UTC)
    measures: dict[str, Any] = dict.fromkeys(COUNTERS, 1)
    measures |= {name: BitMap([1]).serialize() for name in BITMAPS}
    rows: dict[str, list[dict[str, Any]]] = {
        "event": [
            {
                "site_num": num, "event_id": f"{tag}-{n}", "user_id": user, "session_id": session,
                "event_type": "message", "role": "user", "message": message,
                "occurred_at": HOUR + timedelta(minutes=n), "received_at": now,
            }
            for n in range(EVENTS_PER_SITE)
        ],
        "rollup": [
            {"site_num": num, "grain": grain, "start_at": HOUR, **measures} for grain in GRAINS
        ],
        "rollup_delta": [{"site_num": num, "start_at": HOUR, **measures}],
        "user_key": [{"site_num": num, "user_id": user}],
        "session_key": [{"site_num": num, "session_id": session}],
        "user_profile": [
            {"site_num": num, "user_id": user, "traits": {"email": email}, "updated_at": now}
        ],
        "report": [
            {
                "site_num": num, "week_start": date(2026, 11, 16), "status": "sent",
                "claim_token": tag, "lease_until": now, "attempts": 1, "sent_at": now,
            }
        ],
        "report_attempt": [
            {
                "site_num": num, "week_start": date(2026, 11, 16), "trigger": "schedule",
                "forced": False, "status": "sent", "recipients": [owner], "started_at": now,
            }
        ],
        "api_key": [
            {
                "site_num": num, "kind": kind, "name": f"{tag} {kind}", "prefix": f"pa_{kind}_",
                "digest": hashlib.sha256(f"{tag}-{kind}".encode()).hexdigest(), "created_at": now,
            }
            for kind in ("write", "viewer")
        ],
    }  # fmt: skip
    tables = {table.name: table for table in SITE_DATA}
    assert set(rows) == set(tables)  # a table of site data added later must be filled too
    with engine.begin() as connection:
        for name, values in rows.items():
            connection.execute(insert(tables[name]), values)
    return {name: len(values) for name, values in rows.items()}


def site_rows(engine: Engine, num: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the site `num`, by table, in a stable order."""
    with engine.connect() as connection:
        return {
            table.name: sorted(
                (tuple(row) for row in connection.execute(
                    select(table).where(table.c.site_num == num)
                )),
                key=repr,
            )
            for table in SITE_DATA
        }  # fmt: skip


def admin_keys(engine: Engine) -> int:
    """Admin keys belong to no site: deleting one keeps them."""
    with engine.connect() as connection:
        rows = connection.execute(select(api_key_table).where(api_key_table.c.site_num.is_(None)))
        return len(rows.all())
