"""PostHog capture: how events map to ours, and how $set, $set_once and $unset fold into traits."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.helpers import NO_RATINGS
from tests.ingest.posthog_helpers import (
    PAST,
    accepted,
    chat,
    exported,
    history,
    iso,
    ph,
    post,
    row,
    rows,
    traits,
)
from tests.ingest.sdk_helpers import ONE_CONVERTED_CHAT

pytestmark = pytest.mark.anyio

# --- how events map to ours ------------------------------------------------------------------


async def test_chat_events_become_our_fields(client: httpx.AsyncClient, database_url: str) -> None:
    """message and cta_click take message, role and cta_id out of the properties, and the
    session from $session_id (or session_id); numeric ids become text; what remains is kept as
    properties."""
    events = [
        ph(
            "message",
            uuid="m-user",
            properties={"$session_id": "s-1", "message": "Hi!", "role": "user", "page": "/"},
        ),
        ph(
            "message",
            uuid="m-bot",
            properties={"session_id": "s-1", "message": "Hello", "role": "assistant"},
        ),
        ph(
            "cta_click",
            uuid="click",
            properties={"$session_id": "s-1", "cta_id": "book-demo", "message": "Book a demo"},
        ),
        ph("cta_click", uuid="bare-click", properties={"$session_id": 7, "cta_id": 5}),
    ]
    accepted(await post(client, "/e/", events))
    expected = [
        row("m-user", "message", session_id="s-1", message="Hi!", properties={"page": "/"}),
        row("m-bot", "message", session_id="s-1", message="Hello", role="assistant"),
        row("click", "cta_click", session_id="s-1", message="Book a demo", cta_id="book-demo"),
        row("bare-click", "cta_click", session_id="7", cta_id="5"),
    ]
    assert rows(database_url) == expected
    session = await client.get("/sessions/s-1", headers=ADMIN)
    assert session.status_code == 200
    assert [event["event_id"] for event in session.json()["events"]] == ["m-user", "m-bot", "click"]
    assert [event["role"] for event in session.json()["events"]] == ["user", "assistant", "user"]


async def test_other_events_keep_their_name_and_properties(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Any other event is stored under its own name with every property as sent, even ones
    named like our fields; with no $session_id it belongs to no session ("")."""
    properties = {"message": "not a chat", "role": "assistant", "cta_id": "x", "n": [1, None]}
    events = [
        ph("$pageview", uuid="pv", properties={"$current_url": "https://shop.example/"}),
        ph("Order Completed", uuid="custom", properties=properties),
        ph("$autocapture", uuid="in-session", properties={"$session_id": "s-9"}),
    ]
    accepted(await post(client, "/e/", events))
    assert rows(database_url) == [
        row("pv", properties={"$current_url": "https://shop.example/"}),
        row("custom", "Order Completed", properties=properties),
        row("in-session", "$autocapture", session_id="s-9"),
    ]
    sessions = (await history(client))["sessions"]
    assert [(s["session_id"], [e["event_id"] for e in s["events"]]) for s in sessions] == [
        ("", ["pv", "custom"]),
        ("s-9", ["in-session"]),
    ]


async def test_only_chat_events_count_in_the_summary(client: httpx.AsyncClient) -> None:
    """$pageview and custom events are stored and shown, but are not chat activity."""
    events = [
        ph("$pageview", uuid="pv-1", properties={"$session_id": "s-1"}),
        ph("$pageview", "other-visitor", uuid="pv-2", properties={"$session_id": "s-2"}),
        ph("signed_up", "other-visitor", uuid="custom"),
        chat("m-1"),
        ph(
            "message",
            uuid="m-2",
            properties={"$session_id": "s-1", "message": "Yes", "role": "assistant"},
        ),
        ph("cta_click", uuid="c-1", properties={"$session_id": "s-1", "cta_id": "buy"}),
    ]
    accepted(await post(client, "/e/", events))
    today = datetime.now(UTC).date().isoformat()
    summary = await client.get(
        "/analytics/summary", params={"start_date": today, "end_date": today}, headers=ADMIN
    )
    assert summary.status_code == 200
    assert summary.json() == {
        "start_date": today,
        "end_date": today,
        "tz": "UTC",
        **ONE_CONVERTED_CHAT,
        **NO_RATINGS,
    }
    assert len(await exported(client)) == 6


async def test_distinct_id_at_the_top_or_in_the_properties(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """distinct_id may be beside the properties or in them (the top one wins); numbers are
    stored as text."""
    events = [
        ph(uuid="top", distinct_id="ana", properties={"distinct_id": "ignored"}),
        {"event": "$pageview", "uuid": "inside", "properties": {"distinct_id": "ben"}},
        {
            "event": "$pageview",
            "uuid": "empty-top",
            "distinct_id": "",
            "properties": {"distinct_id": "cy"},
        },
        ph(uuid="number", distinct_id=42),
        {"event": "$pageview", "uuid": "number-inside", "properties": {"distinct_id": 7}},
    ]
    accepted(await post(client, "/e/", events))
    assert rows(database_url) == [
        row("top", user_id="ana"),
        row("inside", user_id="ben"),
        row("empty-top", user_id="cy"),
        row("number", user_id="42"),
        row("number-inside", user_id="7"),
    ]
    assert [line["user_id"] for line in await exported(client)] == ["ana", "ben", "cy", "42", "7"]


async def test_uuid_is_the_event_id_and_a_resent_one_is_stored_once(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A retried event (same uuid), in the same batch or a later request, is stored once: the
    first one as sent. Events without a uuid get a UUIDv7."""
    first = chat("0190b5c2-aaaa-7bbb-8ccc-000000000001", "first")
    again = chat("0190b5c2-aaaa-7bbb-8ccc-000000000001", "changed on retry")
    accepted(await post(client, "/e/", [first, again, ph()]))
    accepted(await post(client, "/batch", {"api_key": "k", "batch": [again]}))
    accepted(await post(client, "/capture", first))
    stored = rows(database_url)
    assert stored[0] == row(
        "0190b5c2-aaaa-7bbb-8ccc-000000000001", "message", session_id="s-1", message="first"
    )
    generated = stored[1]["event_id"]
    assert stored[1:] == [row(generated)]
    assert len(generated) == 36
    assert generated[14] == "7"
    today = datetime.now(UTC).date().isoformat()
    summary = await client.get(
        "/analytics/summary", params={"start_date": today, "end_date": today}, headers=ADMIN
    )
    assert summary.json()["total_messages"] == 1


async def test_key_and_user_are_not_kept_in_the_properties(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """token, api_key and $token are credentials and distinct_id is a column: none is stored
    among the properties."""
    properties = {
        "token": "phc_a",
        "api_key": "phc_b",
        "$token": "phc_c",
        "distinct_id": "visitor-1",
        "$browser": "Firefox",
    }
    accepted(await post(client, "/e/", [ph(uuid="t", token="phc_d", properties=properties)]))
    accepted(await post(client, "/e/", [ph(uuid="only-key", properties={"token": "phc_a"})]))
    assert rows(database_url) == [row("t", properties={"$browser": "Firefox"}), row("only-key")]
    assert "phc_" not in json.dumps(await exported(client))


# --- traits ----------------------------------------------------------------------------------


def traits_event(uuid: str, at: datetime, top_level: bool = False, **ops: Any) -> dict[str, Any]:
    """An event at `at` carrying trait changes, `$set=...` given as set=..., in its properties
    or (top_level) beside them."""
    changes = {f"${name}": value for name, value in ops.items()}
    if top_level:
        return ph("$identify", uuid=uuid, timestamp=iso(at), **changes)
    return ph("$identify", uuid=uuid, timestamp=iso(at), properties=changes)


async def test_set_set_once_and_unset_fold_into_traits(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """$set replaces, $set_once only fills what is missing, $unset removes; the changes stay in
    the stored properties."""
    events = [
        traits_event("t1", PAST, set={"plan": "free", "seats": 1}, set_once={"source": "ad"}),
        traits_event("t2", PAST + timedelta(seconds=1), set_once={"source": "seo", "email": "a@x"}),
        traits_event("t3", PAST + timedelta(seconds=2), set={"plan": "pro"}, unset=["seats"]),
    ]
    accepted(await post(client, "/batch", {"api_key": "k", "batch": events}))
    assert await traits(client) == {"plan": "pro", "source": "ad", "email": "a@x"}
    assert rows(database_url)[2] == row(
        "t3", "$identify", properties={"$set": {"plan": "pro"}, "$unset": ["seats"]}
    )


async def test_set_and_set_once_beside_the_properties(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Older SDKs put $set and $set_once at the event's top level: they count the same, and
    are stored among the properties."""
    events = [
        traits_event("a", PAST, top_level=True, set={"plan": "free"}, set_once={"source": "ad"}),
        traits_event("b", PAST + timedelta(seconds=1), top_level=True, set_once={"source": "x"}),
    ]
    accepted(await post(client, "/capture", events))
    assert await traits(client) == {"plan": "free", "source": "ad"}
    assert rows(database_url)[0] == row(
        "a", "$identify", properties={"$set": {"plan": "free"}, "$set_once": {"source": "ad"}}
    )


async def test_set_beside_and_in_the_properties_both_count(client: httpx.AsyncClient) -> None:
    """An event with $set both in its properties and beside them sets both."""
    event = ph(
        "$identify",
        uuid="both",
        properties={"$set": {"plan": "pro"}, "$set_once": {"source": "ad"}},
        **{"$set": {"email": "a@x"}, "$set_once": {"lang": "nb"}},
    )
    accepted(await post(client, "/capture", event))
    assert await traits(client) == {"plan": "pro", "email": "a@x", "source": "ad", "lang": "nb"}


async def test_older_changes_arriving_later_do_not_win(client: httpx.AsyncClient) -> None:
    """Traits are folded in event time order, not arrival order: an older $set arriving later
    does not replace a newer one, and an older $set_once does fill first. Equal times are
    folded in the order stored."""
    newer = traits_event(
        "n", PAST + timedelta(hours=1), set={"plan": "pro"}, set_once={"ref": "late"}
    )
    accepted(await post(client, "/capture", newer))
    assert await traits(client) == {"plan": "pro", "ref": "late"}
    older = traits_event("o", PAST, set={"plan": "free"}, set_once={"ref": "early"})
    accepted(await post(client, "/capture", older))
    assert await traits(client) == {"plan": "pro", "ref": "early"}
    # Same time: the one stored last wins, whatever the uuids.
    tie = PAST + timedelta(hours=2)
    accepted(await post(client, "/capture", traits_event("tie-b", tie, set={"seats": 2})))
    accepted(await post(client, "/capture", traits_event("tie-a", tie, set={"seats": 1})))
    assert await traits(client) == {"plan": "pro", "ref": "early", "seats": 1}


async def test_later_set_in_the_same_batch_wins(client: httpx.AsyncClient) -> None:
    """Two $set of one trait in one list, with no time or uuid of their own: the one sent
    last is the user's trait (for 20 users, so chance cannot pass it)."""
    users = [f"visitor-{n}" for n in range(20)]
    events = [
        ph("$identify", user, properties={"$set": {"plan": plan}})
        for user in users
        for plan in ("free", "pro")
    ]
    accepted(await post(client, "/e/", events))
    assert [await traits(client, user) for user in users] == [{"plan": "pro"}] * len(users)


async def test_a_resent_uuid_does_not_change_traits(client: httpx.AsyncClient) -> None:
    """A retry that is not stored again changes nothing, even if its $set differs."""
    accepted(await post(client, "/capture", traits_event("x", PAST, set={"plan": "pro"})))
    accepted(await post(client, "/capture", traits_event("x", PAST, set={"plan": "free"})))
    assert await traits(client) == {"plan": "pro"}


async def test_events_without_trait_changes_have_no_traits(client: httpx.AsyncClient) -> None:
    accepted(await post(client, "/e", [ph(uuid="plain", properties={"$set_x": 1})]))
    assert await traits(client) is None


async def test_erasing_a_user_deletes_the_traits(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """DELETE /users/{id} removes the profile with the events: a later event of the user
    starts with no traits."""
    events = [traits_event("e1", PAST, set={"email": "ana@example.com"}), chat("e2")]
    accepted(await post(client, "/e", events))
    assert await traits(client) == {"email": "ana@example.com"}
    erased = await client.delete("/users/visitor-1", headers=ADMIN)
    assert erased.status_code == 200
    assert erased.json() == {"user_id": "visitor-1", "deleted_events": 2}
    assert (await client.get("/users/visitor-1/history", headers=ADMIN)).status_code == 404
    assert rows(database_url) == []
    accepted(await post(client, "/e", [ph(uuid="after")]))
    assert await traits(client) is None
