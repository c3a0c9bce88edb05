"""Segment's tracking API: every path, how messages map to events, and identify's traits."""

import json

import httpx
import pytest

from tests.conftest import ADMIN
from tests.ingest.segment_helpers import (
    KINDS,
    assert_ok,
    at,
    batch_of,
    call,
    chat,
    event_ids,
    export_rows,
    history,
    msg,
    post,
    row,
    sample,
    sample_row,
    stored,
    summary,
    track,
    traits,
    without_received,
)

pytestmark = pytest.mark.anyio

# --- every path -----------------------------------------------------------------------------

SINGLE_PATHS = [(f"/v1/{kind}", kind) for kind in KINDS] + [
    (f"/v1/{kind[0]}", kind) for kind in KINDS
]


@pytest.mark.parametrize(("path", "kind"), SINGLE_PATHS)
async def test_each_single_call_path_stores_its_message(
    client: httpx.AsyncClient, path: str, kind: str
) -> None:
    """Each call path, full name and analytics.js's one letter, stores its type's message."""
    assert_ok(await post(client, path, call(sample(kind, 1))))
    assert await stored(client) == [sample_row(kind, 1)]


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/b", "/v1/import"])
async def test_each_batch_path_stores_every_type(client: httpx.AsyncClient, path: str) -> None:
    """/v1/batch, /v1/b and /v1/import store a message of each of the six types."""
    assert_ok(await post(client, path, batch_of(*(sample(k, n) for n, k in enumerate(KINDS)))))
    assert await stored(client) == [sample_row(kind, n) for n, kind in enumerate(KINDS)]


async def test_the_type_of_a_single_call_is_its_path(client: httpx.AsyncClient) -> None:
    """A `type` in a single call's body does not change what its path says it is."""
    assert_ok(await post(client, "/v1/p", {**call(sample("page", 1)), "type": "track"}))
    assert await stored(client) == [sample_row("page", 1)]


# --- how messages map to events -------------------------------------------------------------


async def test_chat_events_take_their_fields_from_properties(client: httpx.AsyncClient) -> None:
    """`message` and `cta_click`: properties session_id, message, role and cta_id become the
    event's fields and leave the properties; the rest stays."""
    batch = batch_of(
        chat("message", "s-1", 1, message="Do you ship to Norway?", page="/faq"),
        chat("message", "s-1", 2, message="We do.", role="assistant"),
        chat("cta_click", "s-1", 3, message="Book a demo", cta_id="demo", page="/faq"),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    expected = [
        row("m-1", "message", {"page": "/faq"}, at(1), session_id="s-1",
            message="Do you ship to Norway?"),
        row("m-2", "message", None, at(2), session_id="s-1", role="assistant", message="We do."),
        row("m-3", "cta_click", {"page": "/faq"}, at(3), session_id="s-1",
            message="Book a demo", cta_id="demo"),
    ]  # fmt: skip
    assert await stored(client) == expected
    response = await client.get("/sessions/s-1", headers=ADMIN)
    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["session_id"], page["next_cursor"]) == ("s-1", None)
    assert without_received(page["events"]) == expected
    counts = await summary(client)
    assert (counts["total_messages"], counts["cta_clicks"], counts["sessions"]) == (2, 1, 1)


async def test_a_single_track_of_a_message_is_stored(client: httpx.AsyncClient) -> None:
    """/v1/track takes a chat message on its own; numeric ids are kept as text."""
    body = call(track(5, "message", properties={"session_id": 99, "message": "Hi!"}))
    assert_ok(await post(client, "/v1/track", {**body, "userId": 42, "messageId": 7}))
    assert await stored(client) == [
        row("7", "message", None, at(5), user_id="42", session_id="99", message="Hi!")
    ]


async def test_a_custom_track_is_stored_and_not_counted(client: httpx.AsyncClient) -> None:
    """A custom track ("Order Completed") keeps its name and its properties (those named like
    chat fields included) and shows in the history, but is no message, session or user in the
    summary."""
    order = {"revenue": 99, "message": "not chat", "role": "x"}
    batch = batch_of(
        chat("message", "s-1", 1, message="Hello"),
        track(2, "Order Completed", properties=order),
        track(
            3, "Order Completed", user="shopper", properties={"session_id": "s-2", "cta_id": "b"}
        ),
        msg("page", 4, user="visitor"),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    assert await stored(client) == [
        row("m-1", "message", None, at(1), session_id="s-1", message="Hello"),
        row("m-2", "Order Completed", order, at(2)),
        row("m-3", "Order Completed", {"cta_id": "b"}, at(3), user_id="shopper", session_id="s-2"),
        row("m-4", "page", None, at(4), user_id="visitor"),
    ]
    sessions = (await history(client, "user-1"))["sessions"]
    assert [(s["session_id"], [e["event_type"] for e in s["events"]]) for s in sessions] == [
        ("s-1", ["message"]),
        ("", ["Order Completed"]),
    ]
    counts = await summary(client)
    assert (counts["total_messages"], counts["user_messages"], counts["cta_clicks"]) == (1, 1, 0)
    assert (counts["sessions"], counts["unique_users"], counts["converted_sessions"]) == (1, 1, 0)


async def test_user_id_wins_over_anonymous_id_which_is_kept(client: httpx.AsyncClient) -> None:
    """userId is the user and an anonymousId beside it is kept as `$anonymous_id`; without
    userId (absent, empty or null) the anonymousId is the user."""
    no_user = track(2, "Viewed", anonymousId="anon-8")
    del no_user["userId"]
    batch = batch_of(
        track(1, "Signed Up", user="ann", anonymousId="anon-7", properties={"plan": "pro"}),
        no_user,
        msg("page", 3, user="", anonymousId="anon-9"),
        {**msg("identify", 4, anonymousId="anon-10", traits={"lang": "nb"}), "userId": None},
    )
    assert_ok(await post(client, "/v1/batch", batch))
    assert await stored(client) == [
        row("m-1", "Signed Up", {"plan": "pro", "$anonymous_id": "anon-7"}, at(1), user_id="ann"),
        row("m-2", "Viewed", None, at(2), user_id="anon-8"),
        row("m-3", "page", None, at(3), user_id="anon-9"),
        row("m-4", "identify", {"$set": {"lang": "nb"}}, at(4), user_id="anon-10"),
    ]
    assert await traits(client, "anon-10") == {"lang": "nb"}


async def test_a_message_id_is_stored_once(client: httpx.AsyncClient) -> None:
    """messageId is the event_id: a retry (on another path, or in a batch) and a repeat within
    one batch are stored once, as first seen, and counted once."""
    first = chat("message", "s-1", 1, message="first")
    assert_ok(await post(client, "/v1/track", call(first)))
    assert_ok(await post(client, "/v1/t", call(first)))
    assert_ok(await post(client, "/v1/batch", batch_of(first)))
    twice = batch_of(
        chat("message", "s-1", 2, message="second"),
        chat("message", "s-1", 2, message="second, again"),
        chat("message", "s-1", 1, message="first, again"),
    )
    assert_ok(await post(client, "/v1/b", twice))
    assert await stored(client) == [
        row("m-1", "message", None, at(1), session_id="s-1", message="first"),
        row("m-2", "message", None, at(2), session_id="s-1", message="second"),
    ]
    assert (await summary(client))["total_messages"] == 2


async def test_a_resent_identify_changes_no_traits(client: httpx.AsyncClient) -> None:
    """An identify re-sent with its messageId is a retry: other traits in it are not applied."""
    identify = call(msg("identify", 1, user="ann", traits={"a": 1}))
    assert_ok(await post(client, "/v1/identify", identify))
    assert_ok(await post(client, "/v1/i", {**identify, "traits": {"a": 2}}))
    assert await traits(client, "ann") == {"a": 1}
    assert await event_ids(client) == ["m-1"]


async def test_context_is_kept_and_the_batch_context_merged(client: httpx.AsyncClient) -> None:
    """`context` is kept as the `$context` property; a batch's context is merged under each
    message's, the message's own keys winning (a shallow merge)."""
    shared = {"library": {"name": "analytics-node", "version": "6"}, "locale": "en-GB"}
    batch = batch_of(
        track(1, "A", context={"locale": "nb-NO", "ip": "203.0.113.9"}),
        track(2, "B", properties={"k": "v"}),
        context=shared,
    )
    assert_ok(await post(client, "/v1/batch", batch))
    assert_ok(await post(client, "/v1/track", call(track(3, "C", context={"page": {"p": "/"}}))))
    merged = {**shared, "locale": "nb-NO", "ip": "203.0.113.9"}
    assert await stored(client) == [
        row("m-1", "A", {"$context": merged}, at(1)),
        row("m-2", "B", {"k": "v", "$context": shared}, at(2)),
        row("m-3", "C", {"$context": {"page": {"p": "/"}}}, at(3)),
    ]


async def test_page_screen_group_and_alias_fields_are_properties(
    client: httpx.AsyncClient,
) -> None:
    """name and category, groupId and its traits, previousId become reserved properties
    beside the message's own; absent ones are left out."""
    batch = batch_of(
        msg("page", 1, name="Docs", properties={"url": "https://x.example/docs"}),
        msg("screen", 2, name="Cart", category="Shop"),
        msg("group", 3, groupId="g-1"),
        msg("alias", 4, previousId="anon-1", properties={"why": "signup"}),
        msg("page", 5, name="", category=None),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    assert await stored(client) == [
        row("m-1", "page", {"url": "https://x.example/docs", "$name": "Docs"}, at(1)),
        row("m-2", "screen", {"$name": "Cart", "$category": "Shop"}, at(2)),
        row("m-3", "group", {"$group_id": "g-1", "$group_traits": {}}, at(3)),
        row("m-4", "alias", {"why": "signup", "$previous_id": "anon-1"}, at(4)),
        row("m-5", "page", None, at(5)),
    ]


async def test_events_outside_a_chat_are_in_the_empty_session(client: httpx.AsyncClient) -> None:
    """An event without properties.session_id has the session "", its own group in the
    history; any event with a session_id is in that session."""
    batch = batch_of(
        sample("page", 1),
        chat("message", "s-1", 2, message="Hi"),
        sample("identify", 3),
        track(4, "Order Completed", properties={"session_id": "s-1"}),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    user = await history(client, "user-1")
    assert user["next_cursor"] is None
    sessions = [(s["session_id"], [e["event_id"] for e in s["events"]]) for s in user["sessions"]]
    assert sessions == [("", ["m-1", "m-3"]), ("s-1", ["m-2", "m-4"])]


# --- identify and traits --------------------------------------------------------------------


async def test_identify_traits_are_merged_into_the_profile(client: httpx.AsyncClient) -> None:
    """Each identify's traits are merged into the user's, a later one replacing keys."""
    first = msg("identify", 1, user="ann", traits={"name": "Ann", "plan": "free"})
    assert_ok(await post(client, "/v1/identify", call(first)))
    assert await traits(client, "ann") == {"name": "Ann", "plan": "free"}
    second = msg("identify", 2, user="ann", traits={"plan": "pro", "seats": 3})
    assert_ok(await post(client, "/v1/i", call(second)))
    assert_ok(await post(client, "/v1/i", call(msg("identify", 3, user="ann"))))
    user = await history(client, "ann")
    assert user["traits"] == {"name": "Ann", "plan": "pro", "seats": 3}
    [session] = user["sessions"]
    assert without_received(session["events"]) == [
        row("m-1", "identify", {"$set": {"name": "Ann", "plan": "free"}}, at(1), user_id="ann"),
        row("m-2", "identify", {"$set": {"plan": "pro", "seats": 3}}, at(2), user_id="ann"),
        row("m-3", "identify", None, at(3), user_id="ann"),
    ]


async def test_an_older_identify_sent_later_does_not_override(client: httpx.AsyncClient) -> None:
    """Traits fold in event time order, not arrival order: an identify older than one already
    folded in only adds what the newer did not set; a newer one overrides again."""
    newer = msg("identify", 30, user="ann", traits={"plan": "pro"})
    older = msg("identify", 10, user="ann", traits={"plan": "free", "company": "Acme"})
    assert_ok(await post(client, "/v1/identify", call(newer)))
    assert_ok(await post(client, "/v1/identify", call(older)))
    assert await traits(client, "ann") == {"plan": "pro", "company": "Acme"}
    assert_ok(await post(client, "/v1/identify", call(msg("identify", 20, user="ann"))))
    assert await traits(client, "ann") == {"plan": "pro", "company": "Acme"}
    batch = batch_of(  # in one batch too, the older second
        msg("identify", 50, user="ann", traits={"plan": "enterprise"}),
        msg("identify", 40, user="ann", traits={"plan": "team", "company": "Acme AS"}),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    assert await traits(client, "ann") == {"plan": "enterprise", "company": "Acme AS"}


async def test_erasing_a_user_removes_their_traits(client: httpx.AsyncClient) -> None:
    """DELETE /users/{id} deletes the profile with the events: null traits afterwards."""
    batch = batch_of(
        msg("identify", 1, user="ann", traits={"email": "ann@example.com"}),
        msg("identify", 2, user="bob", traits={"email": "bob@example.com"}),
    )
    assert_ok(await post(client, "/v1/batch", batch))
    erased = await client.delete("/users/ann", headers=ADMIN)
    assert erased.status_code == 200, erased.text
    assert erased.json() == {"user_id": "ann", "deleted_events": 1}
    assert (await client.get("/users/ann/history", headers=ADMIN)).status_code == 404
    assert_ok(await post(client, "/v1/track", call(track(3, "Came Back", user="ann"))))
    assert await traits(client, "ann") is None
    assert await traits(client, "bob") == {"email": "bob@example.com"}
    assert "ann@example.com" not in json.dumps(await export_rows(client))


async def test_a_user_without_identify_has_null_traits(client: httpx.AsyncClient) -> None:
    """Traits are null for a user no identify named, while another user has some."""
    batch = batch_of(chat("message", "s-1", 1, message="Hi"), sample("identify", 2, user="eve"))
    assert_ok(await post(client, "/v1/batch", batch))
    assert await traits(client, "user-1") is None
    assert await traits(client, "eve") == {"plan": "pro", "email": "ann@example.com"}
