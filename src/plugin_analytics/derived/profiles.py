"""User traits: what Segment `identify` and PostHog `$set` say about a user.

An event carries trait changes in its properties, in PostHog's words: `$set_once` (set a trait
the user does not have yet), `$set` (set or replace) and `$unset` (a list of traits to remove),
applied in that order. Segment's identify is stored with its traits as `$set`.

A user's profile is those changes folded in event time order (events of the same time in the
order they were stored, by row id), so a late or retried event never overrides a newer one.
Ingestion folds new events onto the stored profile when they come after everything folded so
far, and otherwise rebuilds it from the user's events; retention rebuilds the profiles that lost
events, and erasure deletes the profile.
"""

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeGuard

from sqlalchemy import Connection, delete, select, update

from plugin_analytics.db.batches import chunked
from plugin_analytics.db.models import event_table, user_profile_table
from plugin_analytics.db.types import from_epoch_us, to_epoch_us
from plugin_analytics.db.upsert import insert_or_skip
from plugin_analytics.derived.driver import KEY_CHUNK
from plugin_analytics.ingest.store import (
    OCCURRED_AT,
    PROPERTIES,
    SITE_NUM,
    USER_ID,
    Identity,
    StoredRow,
    identity,
)

TRAIT_OPS = ("$set_once", "$set", "$unset")
# (occurred_at in µs, row id, properties): one event that changes traits.
Change = tuple[int, int, dict[str, Any]]
# A user of a site: (site_num, user_id).
SiteUser = tuple[int, str]


def _of(table: Any, user: SiteUser) -> tuple[Any, Any]:
    """The where-clause of one user of one site in `table`."""
    return table.c.site_num == user[0], table.c.user_id == user[1]


def carries_traits(properties_json: str | None) -> TypeGuard[str]:
    """Whether stored properties (as JSON text) may change traits: a cheap test for ingestion."""
    return properties_json is not None and (
        '"$set' in properties_json or '"$unset"' in properties_json
    )


def apply(traits: dict[str, Any], properties: dict[str, Any]) -> None:
    """Apply one event's trait changes to `traits`; malformed ones are ignored."""
    once, replace, remove = (properties.get(op) for op in TRAIT_OPS)
    if isinstance(once, dict):
        for name, value in once.items():
            traits.setdefault(name, value)
    if isinstance(replace, dict):
        traits.update(replace)
    if isinstance(remove, list):
        for name in remove:
            if isinstance(name, str):
                traits.pop(name, None)


def fold(changes: Iterable[Change]) -> dict[str, Any]:
    traits: dict[str, Any] = {}
    for *_, properties in sorted(changes, key=lambda change: change[:2]):
        apply(traits, properties)
    return traits


def update_profiles(connection: Connection, rows: Sequence[StoredRow]) -> None:
    """Ingestion: fold the trait changes of newly stored event rows into their users' profiles,
    in the transaction that stores them."""
    carrying: dict[Identity, tuple[StoredRow, dict[str, Any]]] = {}  # (row, properties)
    for row in rows:
        if carries_traits(row[PROPERTIES]):
            properties = json.loads(row[PROPERTIES])
            if any(op in properties for op in TRAIT_OPS):
                carrying[identity(row)] = (row, properties)
    if not carrying:
        return
    changes: dict[SiteUser, list[Change]] = {}
    for key, row_id in _row_ids(connection, list(carrying)):
        row, properties = carrying[key]
        user = (row[SITE_NUM], row[USER_ID])
        changes.setdefault(user, []).append((row[OCCURRED_AT], row_id, properties))
    for user in sorted(changes):  # one lock order for every worker
        _fold_into(connection, user, sorted(changes[user], key=lambda c: c[:2]))


def _row_ids(connection: Connection, keys: list[Identity]) -> list[tuple[Identity, int]]:
    """The row ids of just stored events (their order of arrival), a chunk at a time."""
    by_site: dict[int, list[str]] = {}
    for site_num, event_id in keys:
        by_site.setdefault(site_num, []).append(event_id)
    found: list[tuple[Identity, int]] = []
    for site_num, event_ids in by_site.items():
        for chunk in chunked(event_ids, KEY_CHUNK):
            rows = connection.execute(
                select(event_table.c.event_id, event_table.c.id).where(
                    event_table.c.site_num == site_num, event_table.c.event_id.in_(chunk)
                )
            )
            found.extend(((site_num, event_id), row_id) for event_id, row_id in rows)
    return found


def _fold_into(connection: Connection, user: SiteUser, changes: list[Change]) -> None:
    profile = _locked(connection, user)
    last = (to_epoch_us(profile.last_at), profile.last_id) if profile.last_at is not None else None
    if last is not None and changes[0][:2] < last:  # arrived late: fold everything again
        rebuild(connection, *user)
        return
    traits = dict(profile.traits)
    for *_, properties in changes:
        apply(traits, properties)
    first_at = profile.first_at or from_epoch_us(changes[0][0])
    _write(connection, user, traits, first_at, changes[-1][:2])


def _locked(connection: Connection, user: SiteUser) -> Any:
    """The user's profile row, created empty if missing, locked until the transaction ends
    (PostgreSQL; the writer holds SQLite's only write lock anyway)."""
    site_num, user_id = user
    values = {
        "site_num": site_num,
        "user_id": user_id,
        "traits": {},
        "updated_at": datetime.now(UTC),
    }
    connection.execute(
        insert_or_skip(connection, user_profile_table).values(values).on_conflict_do_nothing()
    )
    return connection.execute(
        select(user_profile_table).where(*_of(user_profile_table, user)).with_for_update()
    ).one()


def _write(
    connection: Connection,
    user: SiteUser,
    traits: dict[str, Any],
    first_at: datetime,
    last: tuple[int, int],
) -> None:
    connection.execute(
        update(user_profile_table)
        .where(*_of(user_profile_table, user))
        .values(
            traits=traits,
            first_at=first_at,
            last_at=from_epoch_us(last[0]),
            last_id=last[1],
            updated_at=datetime.now(UTC),
        )
    )


def rebuild(connection: Connection, site_num: int, user_id: str) -> None:
    """Fold the profile again from the user's stored events; delete it if none changes traits."""
    user = (site_num, user_id)
    changes = _stored_changes(connection, user)
    if not changes:
        forget(connection, site_num, user_id)
        return
    _locked(connection, user)
    first, last = min(c[:2] for c in changes), max(c[:2] for c in changes)
    _write(connection, user, fold(changes), from_epoch_us(first[0]), last)


def _stored_changes(connection: Connection, user: SiteUser) -> list[Change]:
    rows = connection.execute(
        select(event_table.c.occurred_at, event_table.c.id, event_table.c.properties).where(
            *_of(event_table, user), event_table.c.properties.is_not(None)
        )
    )
    return [
        (to_epoch_us(occurred_at), row_id, properties)
        for occurred_at, row_id, properties in rows
        if isinstance(properties, dict) and any(op in properties for op in TRAIT_OPS)
    ]


def forget(connection: Connection, site_num: int, user_id: str) -> None:
    connection.execute(
        delete(user_profile_table).where(*_of(user_profile_table, (site_num, user_id)))
    )


def rebuild_older_than(connection: Connection, site_num: int, cut: datetime) -> int:
    """Retention: rebuild every profile of the site that folded in an event from before `cut`
    (now deleted). Returns how many profiles were rebuilt or deleted."""
    users = (
        connection.execute(
            select(user_profile_table.c.user_id).where(
                user_profile_table.c.site_num == site_num, user_profile_table.c.first_at < cut
            )
        )
        .scalars()
        .all()
    )
    for user_id in users:
        rebuild(connection, site_num, user_id)
    return len(users)


def traits_of(connection: Connection, site_num: int, user_id: str) -> dict[str, Any] | None:
    return connection.execute(
        select(user_profile_table.c.traits).where(*_of(user_profile_table, (site_num, user_id)))
    ).scalar()
