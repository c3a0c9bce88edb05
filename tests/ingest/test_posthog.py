"""PostHog's capture API (POST /batch, /capture, /e, /i/v0/e, /track) through the app, on SQLite
and PostgreSQL.

Every body shape and encoding the SDKs send (posthog-python's {api_key, batch, sent_at},
posthog-js's gzip-js lists and sendBeacon's base64 forms) is stored exactly as the module's
mapping says, read back from the database, the history (with the user's traits), the sessions
and the NDJSON export; the clock is corrected as PostHog corrects it; the write key is found
where the SDKs put it; and every refusal is PostHog's {type, code, detail[, errors]} with
nothing of the request stored.
"""

import base64
import gzip
import json
import time
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from plugin_analytics.config import Settings
from tests.access.helpers import make_key
from tests.conftest import ADMIN, ADMIN_KEY, client_for
from tests.helpers import NO_RATINGS, NO_USAGE, stored_events
from tests.ingest.sdk_helpers import ONE_CONVERTED_CHAT, stored_row

pytestmark = pytest.mark.anyio

BASES = ["/batch", "/capture", "/e", "/i/v0/e", "/track"]
PATHS = [path for base in BASES for path in (base, f"{base}/")]
MIB = 1024 * 1024
MAX_BODY = 20 * MIB
OK = {"status": 1}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A client clock far from ours: times the server must move, never store as they are.
CLIENT_TIME = datetime(2001, 2, 3, 4, 5, 6, 789_000, tzinfo=UTC)
PAST = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
FIELDS = (
    "event_id", "user_id", "session_id", "event_type", "role", "message", "cta_id", "properties",
)  # fmt: skip


# --- helpers ---------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """A time as posthog-js writes it: milliseconds and a Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def ph(event: str = "$pageview", distinct_id: Any = "visitor-1", **fields: Any) -> dict[str, Any]:
    """A PostHog event; `fields` are added at its top level (uuid, properties, timestamp...)."""
    return {"event": event, "distinct_id": distinct_id, **fields}


def chat(uuid: str, text: str = "Do you ship to Norway?", **properties: Any) -> dict[str, Any]:
    """A `message` event in session s-1 from visitor-1; `properties` are added."""
    return ph(
        "message",
        uuid=uuid,
        properties={"$session_id": "s-1", "message": text, "role": "user", **properties},
    )


def row(
    event_id: str, event_type: str = "$pageview", *, user_id: str = "visitor-1", **fields: Any
) -> dict[str, Any]:
    """A stored event as `rows` shows it, with the defaults of an event outside any chat."""
    return stored_row(event_id, user_id, event_type, **fields)


def rows(database_url: str) -> list[dict[str, Any]]:
    """Every stored event, in arrival order, without its times and numeric id."""
    return [{name: stored[name] for name in FIELDS} for stored in stored_events(database_url)]


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def post(
    client: httpx.AsyncClient,
    path: str,
    body: Any,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """`body` (JSON, or raw bytes as they are) to `path`, as an SDK would send it."""
    content = body if isinstance(body, bytes) else dumps(body)
    headers = {"Content-Type": "application/json", **(headers or {})}
    return await client.post(path, content=content, headers=headers, params=params)


def accepted(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == OK


def refused(response: httpx.Response, status: int, code: str, kind: str) -> dict[str, Any]:
    """PostHog's refusal: {type, code, detail} and, for field errors, `errors` whose words are
    the detail; no traceback."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert (body["type"], body["code"]) == (kind, code), body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert set(body) <= {"type", "code", "detail", "errors"}, body
    assert "Traceback" not in response.text
    if "errors" in body:
        words = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}".lstrip(": ")
            for error in body["errors"]
        )
        assert body["detail"] == words
        assert all(set(error) == {"loc", "msg", "type"} for error in body["errors"])
    return body


def invalid(response: httpx.Response) -> dict[str, Any]:
    return refused(response, 400, "invalid_payload", "validation_error")


def field_error(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


async def history(client: httpx.AsyncClient, user_id: str = "visitor-1") -> dict[str, Any]:
    response = await client.get(f"/users/{user_id}/history", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


async def traits(client: httpx.AsyncClient, user_id: str = "visitor-1") -> Any:
    return (await history(client, user_id))["traits"]


async def exported(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every event as GET /analytics/export?format=ndjson gives it, oldest first."""
    response = await client.get("/analytics/export", params={"format": "ndjson"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def stored_times(database_url: str) -> list[tuple[datetime, datetime]]:
    """(occurred_at, received_at) of every stored event, in arrival order."""
    return [
        (stored["occurred_at"], stored["received_at"]) for stored in stored_events(database_url)
    ]


def form(document: Any) -> bytes:
    """sendBeacon's body as posthog-js makes it: data=encodeURIComponent(base64(JSON))."""
    return b"data=" + quote(base64.b64encode(dumps(document)).decode(), safe="").encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


# --- paths and body shapes -------------------------------------------------------------------


async def test_every_path_with_and_without_a_slash_stores_the_event(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """All ten capture paths answer {"status": 1} and store the event they were sent."""
    for path in PATHS:
        accepted(await post(client, path, ph("$pageview", uuid=f"at{path}")))
    assert rows(database_url) == [row(f"at{path}") for path in PATHS]
    exports = await exported(client)
    assert [line["event_id"] for line in exports] == [f"at{path}" for path in PATHS]
    assert exports[0] == {
        **row("at/batch"),
        "timestamp": exports[0]["received_at"],
        "received_at": exports[0]["received_at"],
        **NO_USAGE,
    }


async def test_posthog_python_batch(client: httpx.AsyncClient, database_url: str) -> None:
    """{api_key, batch, sent_at} as posthog-python sends it: every event stored, in order."""
    body = {
        "api_key": "phc_project",
        "sent_at": iso(CLIENT_TIME),
        "batch": [
            ph(
                "signed_up",
                uuid="py-1",
                timestamp=iso(CLIENT_TIME - timedelta(seconds=3)),
                properties={"$lib": "posthog-python", "plan": "pro"},
            ),
            {**chat("py-2"), "timestamp": iso(CLIENT_TIME)},
        ],
    }
    accepted(await post(client, "/batch/", body))
    assert rows(database_url) == [
        row("py-1", "signed_up", properties={"$lib": "posthog-python", "plan": "pro"}),
        row("py-2", "message", session_id="s-1", message="Do you ship to Norway?"),
    ]
    assert [received - occurred for occurred, received in stored_times(database_url)] == [
        timedelta(seconds=3),
        timedelta(0),
    ]


async def test_single_event_object(client: httpx.AsyncClient, database_url: str) -> None:
    """One event as the whole body, as /capture takes it."""
    accepted(await post(client, "/capture/", ph("clicked", uuid="one", properties={"x": 1})))
    assert rows(database_url) == [row("one", "clicked", properties={"x": 1})]


async def test_list_of_events(client: httpx.AsyncClient, database_url: str) -> None:
    """A JSON list of events, as posthog-js sends them."""
    events = [ph("$pageview", uuid="js-1"), chat("js-2"), ph("$pageleave", uuid="js-3")]
    accepted(await post(client, "/e/", events))
    assert rows(database_url) == [
        row("js-1"),
        row("js-2", "message", session_id="s-1", message="Do you ship to Norway?"),
        row("js-3", "$pageleave"),
    ]


async def test_gzip_js_with_text_plain(client: httpx.AsyncClient, database_url: str) -> None:
    """posthog-js's ?compression=gzip-js: a gzipped list labelled text/plain."""
    body = gzip.compress(dumps([ph(uuid="gz-1"), ph(uuid="gz-2")]))
    response = await post(
        client, "/e/", body, {"Content-Type": "text/plain"}, {"compression": "gzip-js"}
    )
    accepted(response)
    assert rows(database_url) == [row("gz-1"), row("gz-2")]


async def test_gzip_content_encoding(client: httpx.AsyncClient, database_url: str) -> None:
    """Content-Encoding: gzip (posthog-python's gzip option) is inflated."""
    body = gzip.compress(dumps({"api_key": "k", "batch": [ph(uuid="ce-1")]}))
    accepted(await post(client, "/batch/", body, {"Content-Encoding": "gzip"}))
    assert rows(database_url) == [row("ce-1")]


async def test_deflate_and_unsupported_encodings(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Content-Encoding deflate is inflated too; any other encoding is a 400 saying so."""
    body = dumps([ph(uuid="deflated")])
    accepted(await post(client, "/e", zlib.compress(body), {"Content-Encoding": "deflate"}))
    refusal = invalid(await post(client, "/e", body, {"Content-Encoding": "br"}))
    assert refusal == {
        "type": "validation_error",
        "code": "invalid_payload",
        "detail": "Content-Encoding 'br' is not supported; send gzip, deflate or none",
    }
    assert rows(database_url) == [row("deflated")]


async def test_gzip_found_by_its_magic_number(client: httpx.AsyncClient, database_url: str) -> None:
    """A gzipped body with no header and no query parameter saying so is still read."""
    body = gzip.compress(dumps(ph(uuid="magic")))
    assert body[:2] == b"\x1f\x8b"
    accepted(await post(client, "/e", body, {"Content-Type": "text/plain"}))
    assert rows(database_url) == [row("magic")]


async def test_concatenated_gzip_members_are_one_body(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A gzip file may hold several members; they are one body together."""
    text = dumps([ph(uuid="m-1"), ph(uuid="m-2")])
    body = gzip.compress(text[:10]) + gzip.compress(text[10:])
    accepted(await post(client, "/e/", body, params={"compression": "gzip-js"}))
    assert rows(database_url) == [row("m-1"), row("m-2")]


async def test_sendbeacon_base64_form(client: httpx.AsyncClient, database_url: str) -> None:
    """data=<URL-encoded base64> with ?compression=base64, as sendBeacon sends it: the base64's
    + and / survive URL-decoding."""
    events = [ph("$pageleave", uuid="beacon", properties={"?>": "???>>>"})]
    encoded = base64.b64encode(dumps(events)).decode()
    assert "+" in encoded and "/" in encoded  # both must be URL-decoded back
    response = await post(client, "/e/", form(events), FORM, {"compression": "base64"})
    accepted(response)
    assert rows(database_url) == [row("beacon", "$pageleave", properties={"?>": "???>>>"})]


async def test_base64_form_found_without_the_query_parameter(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A form body starting with data= is base64 even when the query does not say so."""
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
    accepted(await post(client, "/e", form(ph(uuid="f-1")), headers))
    assert rows(database_url) == [row("f-1")]


async def test_curl_json_labelled_as_a_form_is_json(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """curl -d labels any body a form: JSON that does not start with data= is read as JSON."""
    accepted(await post(client, "/capture", ph(uuid="curl"), FORM))
    assert rows(database_url) == [row("curl")]


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
    assert len(generated) == 36 and generated[14] == "7"
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


# --- time ------------------------------------------------------------------------------------


async def test_offset_is_ms_before_receipt(client: httpx.AsyncClient, database_url: str) -> None:
    """offset wins over timestamp and sent_at: the event happened offset ms before receipt."""
    events = [
        ph(uuid="o1", offset=2500),
        ph(uuid="o2", offset=0, timestamp=iso(CLIENT_TIME), sent_at=iso(CLIENT_TIME)),
        ph(uuid="o3", offset=-1000),
    ]
    accepted(await post(client, "/e", events))
    assert [occurred - received for occurred, received in stored_times(database_url)] == [
        timedelta(milliseconds=-2500),
        timedelta(0),
        timedelta(seconds=1),
    ]


async def test_sent_at_corrects_the_client_clock(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """With sent_at (the batch's, or the event's own, which wins), the time is
    received - (sent_at - timestamp): a client clock years off is cancelled out."""
    body = {
        "api_key": "k",
        "sent_at": iso(CLIENT_TIME + timedelta(seconds=5)),
        "batch": [
            ph(uuid="batch-sent-at", timestamp=iso(CLIENT_TIME)),
            ph(
                uuid="own-sent-at",
                timestamp=iso(CLIENT_TIME),
                sent_at=iso(CLIENT_TIME + timedelta(milliseconds=1250)),
            ),
            ph(uuid="no-timestamp"),
        ],
    }
    accepted(await post(client, "/batch", body))
    assert [received - occurred for occurred, received in stored_times(database_url)] == [
        timedelta(seconds=5),
        timedelta(milliseconds=1250),
        timedelta(0),
    ]


async def test_sent_at_of_a_single_event(client: httpx.AsyncClient, database_url: str) -> None:
    """A single event's own sent_at corrects its timestamp; a timestamp with an offset is the
    same instant."""
    event = ph(
        uuid="single",
        timestamp="2001-02-03T06:05:06.789+02:00",
        sent_at=iso(CLIENT_TIME + timedelta(minutes=1)),
    )
    accepted(await post(client, "/capture", event))
    [(occurred, received)] = stored_times(database_url)
    assert received - occurred == timedelta(minutes=1)


async def test_client_clock_days_ahead_is_accepted_once_corrected(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A timestamp 3 days ahead is refused alone, but with a sent_at showing the same skew it
    is an event from 2 s ago."""
    ahead = datetime.now(UTC) + timedelta(days=3)
    alone = invalid(await post(client, "/capture", ph(uuid="a", timestamp=iso(ahead))))
    assert alone["errors"] == [field_error(["timestamp"], "is more than 24 hours in the future")]
    event = ph(uuid="b", timestamp=iso(ahead), sent_at=iso(ahead + timedelta(seconds=2)))
    accepted(await post(client, "/capture", event))
    [(occurred, received)] = stored_times(database_url)
    assert received - occurred == timedelta(seconds=2)


async def test_underscore_query_parameter_is_sent_at(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """posthog-js's `_` (ms since the epoch when it sent) is sent_at for a list of events;
    a sent_at in the body wins over it."""
    sent = str(ms(CLIENT_TIME + timedelta(seconds=7)))
    events = [ph(uuid="u1", timestamp=iso(CLIENT_TIME))]
    accepted(await post(client, "/e/", events, params={"_": sent, "ver": "1.200.0"}))
    body = {"batch": [ph(uuid="u2", timestamp=iso(CLIENT_TIME))], "sent_at": iso(CLIENT_TIME)}
    accepted(await post(client, "/batch", body, params={"_": sent}))
    assert [received - occurred for occurred, received in stored_times(database_url)] == [
        timedelta(seconds=7),
        timedelta(0),
    ]


async def test_ignore_sent_at_keeps_the_timestamp(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """$ignore_sent_at: true stores the timestamp as sent (a backfill)."""
    event = ph(
        uuid="backfill",
        timestamp="2024-06-01T12:00:00.250Z",
        properties={"$ignore_sent_at": True},
    )
    accepted(await post(client, "/batch", {"batch": [event], "sent_at": iso(CLIENT_TIME)}))
    [stored] = stored_events(database_url)
    assert stored["occurred_at"] == datetime(2024, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    assert stored["properties"] == {"$ignore_sent_at": True}


async def test_timestamp_alone_is_kept_and_no_time_is_receipt(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Without offset or sent_at the timestamp is stored as sent (UTC if it names no zone);
    without any time, the event happened when it was received."""
    before = datetime.now(UTC)
    events = [
        ph(uuid="z", timestamp="2024-06-01T12:00:00Z"),
        ph(uuid="naive", timestamp="2024-06-01T12:00:00.5"),
        ph(uuid="none"),
    ]
    accepted(await post(client, "/e", events, params={"ver": "1"}))
    times = stored_times(database_url)
    assert times[0][0] == datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert times[1][0] == datetime(2024, 6, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    assert times[2][0] == times[2][1] and before <= times[2][0] <= datetime.now(UTC)
    exports = await exported(client)
    assert [line["timestamp"] for line in exports[:2]] == [
        "2024-06-01T12:00:00Z",
        "2024-06-01T12:00:00.500000Z",
    ]


YEAR_MS = 366 * 24 * 3600 * 1000
BAD_OFFSETS = ["2500", 2.5, True, [1], YEAR_MS + 1, -YEAR_MS - 1]


@pytest.mark.parametrize("offset", BAD_OFFSETS)
async def test_bad_offset_is_400(client: httpx.AsyncClient, database_url: str, offset: Any) -> None:
    response = await post(client, "/e", [ph(uuid="ok"), ph(uuid="bad", offset=offset)])
    assert invalid(response)["errors"] == [
        field_error([1, "offset"], "must be whole milliseconds, at most a year")
    ]
    assert stored_events(database_url) == []


async def test_bad_times_are_400_naming_them(client: httpx.AsyncClient, database_url: str) -> None:
    iso_msg = "must be an ISO 8601 date-time string, e.g. 2026-11-24T10:15:00Z"
    cases = [
        (
            {"batch": [ph(timestamp=1700000000)]},
            None,
            [field_error(["batch", 0, "timestamp"], iso_msg)],
        ),
        ({"batch": [ph()], "sent_at": "yesterday"}, None, [field_error(["sent_at"], iso_msg)]),
        ([ph(sent_at="soon")], None, [field_error([0, "sent_at"], iso_msg)]),
        (
            [ph()],
            {"_": "17e11"},
            [
                field_error(
                    ["query", "_"], "must be milliseconds since the Unix epoch, before year 10000"
                )
            ],
        ),
    ]
    far = "is too far from the time the batch was sent"
    cases += [
        (
            [ph(timestamp="0001-01-01T00:00:00Z", sent_at="9999-12-31T00:00:00Z")],
            None,
            [field_error([0, "timestamp"], far)],
        ),
        (
            {"batch": [ph(timestamp="9999-12-31T00:00:00Z")], "sent_at": "0001-01-01T00:00:00Z"},
            None,
            [field_error(["batch", 0, "timestamp"], far)],
        ),
    ]
    for body, params, errors in cases:
        assert invalid(await post(client, "/e", body, params=params))["errors"] == errors
    assert stored_events(database_url) == []


async def test_underscore_past_year_9999_is_400(app: FastAPI, database_url: str) -> None:
    """`_` is checked as at most 15 digits, but 15 digits of ms reach past year 9999."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await post(client, "/e/", [ph(uuid="x")], params={"_": "300000000000000"})
    assert stored_events(database_url) == []
    assert invalid(response)["errors"] == [
        field_error(["query", "_"], "must be milliseconds since the Unix epoch, before year 10000")
    ]


async def test_time_from_offset_is_refused_naming_offset(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """An offset of minus two days puts the event two days ahead: the refusal names offset."""
    response = await post(client, "/e", [ph(uuid="x", offset=-2 * 86_400_000)])
    assert stored_events(database_url) == []
    assert [error["loc"] for error in invalid(response)["errors"]] == [[0, "offset"]]


async def test_bad_trait_changes_beside_the_properties_are_refused_naming_them(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A NUL in a $set or $set_once sent beside the properties is refused where it was sent."""
    body = {
        "batch": [
            ph(uuid="a", **{"$set": {"name": "a\x00"}}),
            ph(uuid="b", properties={"$set": {"ok": 1}}, **{"$set_once": {"\x00": 1}}),
        ]
    }
    nul = "must not contain NUL (\\u0000) characters"
    assert invalid(await post(client, "/capture", body))["errors"] == [
        field_error(["batch", 0, "$set"], nul),
        field_error(["batch", 1, "$set_once"], nul),
    ]
    assert stored_events(database_url) == []


# --- the write key ---------------------------------------------------------------------------


@pytest.fixture
async def keyed(
    settings: Settings, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """An app whose ingestion needs a write key (made as the CLI makes it), and the key."""
    key = make_key(database_url, "write").key
    async with client_for(settings) as http:
        yield http, key


async def test_write_key_where_the_sdks_send_it(
    keyed: tuple[httpx.AsyncClient, str], database_url: str
) -> None:
    """api_key, token or $token in the body, token in the first event's properties
    (posthog-js), or a Bearer header: each is accepted, and none is stored."""
    client, key = keyed
    accepted(await post(client, "/batch/", {"api_key": key, "batch": [ph(uuid="api_key")]}))
    accepted(await post(client, "/capture/", ph(uuid="token", token=key)))
    accepted(await post(client, "/capture/", ph(uuid="$token", **{"$token": key})))
    js = [ph(uuid="js-1", properties={"token": key}), ph(uuid="js-2", properties={"token": key})]
    gz = gzip.compress(dumps(js))
    accepted(
        await post(client, "/e/", gz, {"Content-Type": "text/plain"}, {"compression": "gzip-js"})
    )
    beacon = [ph(uuid="beacon", properties={"token": key})]
    accepted(await post(client, "/e/", form(beacon), FORM, {"compression": "base64"}))
    bearer = {"Authorization": f"Bearer {key}"}
    accepted(await post(client, "/i/v0/e/", [ph(uuid="bearer")], bearer))
    assert rows(database_url) == [
        row(uuid) for uuid in ("api_key", "token", "$token", "js-1", "js-2", "beacon", "bearer")
    ]


async def test_missing_or_wrong_write_key_is_401(
    keyed: tuple[httpx.AsyncClient, str], database_url: str
) -> None:
    """Without the key, with a wrong one, or with a wrong header beside a right body key:
    401 in PostHog's words, and nothing stored."""
    client, key = keyed
    missing = await post(client, "/batch", {"batch": [chat("m")]})
    body = refused(missing, 401, "invalid_api_key", "authentication_error")
    assert body == {
        "type": "authentication_error",
        "code": "invalid_api_key",
        "detail": body["detail"],
    }
    assert body["detail"].startswith("a write key is required")
    assert missing.headers["www-authenticate"] == 'Basic realm="ingestion"'
    wrong = [
        await post(client, "/batch", {"api_key": "phc_wrong", "batch": [chat("w1")]}),
        await post(client, "/e", [ph(uuid="w2", properties={"token": "phc_wrong"})]),
        await post(client, "/e", [ph(uuid="w3")], {"Authorization": "Bearer phc_wrong"}),
        await post(client, "/e", [ph(uuid="w4", token=key)], {"Authorization": "Bearer phc_wrong"}),
    ]
    for response in wrong:
        body = refused(response, 401, "invalid_api_key", "authentication_error")
        assert body == {
            "type": "authentication_error",
            "code": "invalid_api_key",
            "detail": "invalid write key",
        }
    assert stored_events(database_url) == []


async def test_admin_key_is_403(keyed: tuple[httpx.AsyncClient, str], database_url: str) -> None:
    """An admin key reads; it does not write, in the body or in a header."""
    client, _ = keyed
    for response in (
        await post(client, "/batch", {"api_key": ADMIN_KEY, "batch": [chat("a1")]}),
        await post(client, "/capture", chat("a2"), ADMIN),
    ):
        assert refused(response, 403, "invalid_api_key", "authentication_error") == {
            "type": "authentication_error",
            "code": "invalid_api_key",
            "detail": "this is an admin key; ingestion takes a write key",
        }
    assert stored_events(database_url) == []


# --- limits ----------------------------------------------------------------------------------


def event_of_size(size: int, uuid: str = "big") -> dict[str, Any]:
    """A custom event whose compact JSON is exactly `size` bytes."""
    event = ph("big", uuid=uuid, properties={"blob": ""})
    event["properties"]["blob"] = "x" * (size - len(dumps(event)))
    assert len(dumps(event)) == size
    return event


async def test_event_over_1_mib_is_413(client: httpx.AsyncClient, database_url: str) -> None:
    """An event of exactly 1 MiB is stored; one byte more is 413, and nothing of its batch is
    stored."""
    too_big = await post(client, "/batch", {"batch": [ph(uuid="small"), event_of_size(MIB + 1)]})
    assert refused(too_big, 413, "payload_too_large", "validation_error") == {
        "type": "validation_error",
        "code": "payload_too_large",
        "detail": f"event 1 is {MIB + 1} bytes; the limit is {MIB} (1 MiB)",
    }
    assert stored_events(database_url) == []
    accepted(await post(client, "/capture", event_of_size(MIB)))
    [stored] = stored_events(database_url)
    assert stored["event_id"] == "big"
    assert stored["properties"] == event_of_size(MIB)["properties"]


async def test_bodies_over_the_native_limit_are_posthogs_to_take(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """PostHog's SDKs send batches of several MiB: a 3 MiB batch of 1 MiB events is stored
    (our own routes stop at 1 MiB)."""
    batch = [event_of_size(MIB - 100, f"e{n}") for n in range(3)]
    body = dumps({"api_key": "k", "batch": batch})
    assert len(body) > 3 * MIB - 300
    accepted(await post(client, "/batch", body))
    assert [stored["event_id"] for stored in stored_events(database_url)] == ["e0", "e1", "e2"]


async def test_raw_body_over_20_mib_is_413(client: httpx.AsyncClient, database_url: str) -> None:
    body = dumps([ph(uuid="x")]) + b" " * MAX_BODY
    response = await post(client, "/e", body)
    assert refused(response, 413, "payload_too_large", "validation_error")["detail"] == (
        f"body is {len(body)} bytes; the limit is {MAX_BODY} bytes"
    )
    assert stored_events(database_url) == []


async def test_inflated_body_of_20_mib_is_read_and_one_byte_more_is_413(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """The 20 MiB limit holds after inflating too: exactly 20 MiB is read, one byte more
    refused."""
    text = dumps([ph(uuid="padded")])
    padded = text + b" " * (MAX_BODY - len(text))
    over = await post(
        client, "/e", gzip.compress(padded + b" ", 1), params={"compression": "gzip-js"}
    )
    assert refused(over, 413, "payload_too_large", "validation_error")["detail"] == (
        f"the body inflates to more than the limit of {MAX_BODY} bytes"
    )
    assert stored_events(database_url) == []
    accepted(await post(client, "/e", gzip.compress(padded, 1), params={"compression": "gzip-js"}))
    assert rows(database_url) == [row("padded")]


@cache
def gzip_bomb(inflated: int) -> bytes:
    """One gzip member of `inflated` zero bytes in about a thousandth of that: after a full
    flush each MiB of zeros compresses to the same bytes, so they are repeated. It has no end:
    a server inflating it whole would find it cut short (400), not too large (413)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(MIB)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + repeated * (inflated // MIB - 1)


BOMBS = {
    "one-member-2-gib": lambda: gzip_bomb(2048 * MIB),
    "1024-members": lambda: gzip.compress(bytes(MIB), 9) * 1024,
}


@pytest.mark.parametrize("make", BOMBS.values(), ids=BOMBS.keys())
@pytest.mark.parametrize("how", ["content-encoding", "gzip-js", "magic-number"])
async def test_gzip_bomb_is_413_at_once(
    client: httpx.AsyncClient, database_url: str, make: Any, how: str
) -> None:
    """A small body inflating to gigabytes is refused once past 20 MiB, not inflated whole."""
    body = make()
    assert len(body) < 5 * MIB
    headers = {"Content-Encoding": "gzip"} if how == "content-encoding" else {}
    params = {"compression": "gzip-js"} if how == "gzip-js" else None
    started = time.perf_counter()
    response = await post(client, "/e", body, headers, params)
    elapsed = time.perf_counter() - started
    assert refused(response, 413, "payload_too_large", "validation_error")["detail"] == (
        f"the body inflates to more than the limit of {MAX_BODY} bytes"
    )
    assert elapsed < 1.0, elapsed
    assert stored_events(database_url) == []


async def test_10001_events_is_400(client: httpx.AsyncClient, database_url: str) -> None:
    """At most 10,000 events a request: 10,001 is refused whole, 10,000 stored."""
    events = [{"event": "e", "distinct_id": "u", "uuid": f"e{n}"} for n in range(10_001)]
    body = invalid(await post(client, "/batch", {"api_key": "k", "batch": events}))
    assert body["errors"] == [field_error([], "holds 10001 events; the limit is 10000")]
    assert body["detail"] == "holds 10001 events; the limit is 10000"
    assert stored_events(database_url) == []
    accepted(await post(client, "/e", events[:10_000]))
    assert [stored["event_id"] for stored in stored_events(database_url)] == [
        f"e{n}" for n in range(10_000)
    ]


async def test_corrupt_or_cut_gzip_is_400(client: httpx.AsyncClient, database_url: str) -> None:
    whole = gzip.compress(dumps([ph(uuid="x")]))
    gzip_js = {"compression": "gzip-js"}
    cases = [
        (whole[:-4], {"Content-Encoding": "gzip"}, None, "the gzip body is cut short"),
        (whole[: len(whole) // 2], {}, gzip_js, "the gzip body is cut short"),
        (whole[:-8] + b"\0\0\0\0\0\0\0\0", {}, None, "the body is not valid gzip data"),
        (b"\x1f\x8b not gzip at all", {}, None, "the body is not valid gzip data"),
        (dumps([ph(uuid="x")]), {}, gzip_js, "the body is not valid gzip data"),
        (whole + b"trailing", {}, gzip_js, "the body is not valid gzip data"),
    ]
    for body, headers, params, detail in cases:
        refusal = invalid(await post(client, "/e", body, headers, params))
        assert refusal["detail"].startswith(detail), (body[-10:], refusal)
        assert "errors" not in refusal
    assert stored_events(database_url) == []


async def test_malformed_base64_form_is_400(client: httpx.AsyncClient, database_url: str) -> None:
    good = base64.b64encode(dumps([ph(uuid="x")])).decode()
    b64 = {"compression": "base64"}
    bad_forms = [
        b"data=%%%",
        b"data=" + good[:-3].encode(),  # bad padding
        b"data=" + good.encode() + b"!!",
        b"data=" + quote("€" + good).encode(),
        b"data=" + bytes([0xFF]) + good.encode(),
        b"other=" + quote(good, safe="").encode(),
        b"data",
    ]
    for body in bad_forms:
        assert invalid(await post(client, "/e", body, FORM, b64)) == {
            "type": "validation_error",
            "code": "invalid_payload",
            "detail": "a form body must be data=<base64 of the JSON>",
        }, body
    not_json = b"data=" + base64.b64encode(b"not json")
    assert invalid(await post(client, "/e", not_json, FORM, b64))["detail"].startswith(
        "request body is not valid JSON"
    )
    assert stored_events(database_url) == []


# --- validation ------------------------------------------------------------------------------


async def test_missing_distinct_id_is_400_naming_it(
    client: httpx.AsyncClient, database_url: str
) -> None:
    for body, loc in [
        ({"event": "$pageview"}, ["distinct_id"]),
        (ph(distinct_id=""), ["distinct_id"]),
        (ph(distinct_id=None, properties={"distinct_id": ""}), ["distinct_id"]),
        ([ph(), {"event": "x", "properties": {}}], [1, "distinct_id"]),
        ({"api_key": "k", "batch": [ph(), ph(), {"event": "x"}]}, ["batch", 2, "distinct_id"]),
    ]:
        response = await post(client, "/capture", body)
        assert invalid(response) == {
            "type": "validation_error",
            "code": "invalid_payload",
            "detail": f"{'.'.join(str(part) for part in loc)}: is required",
            "errors": [field_error(loc, "is required")],
        }
    assert stored_events(database_url) == []


async def test_missing_event_is_400(client: httpx.AsyncClient, database_url: str) -> None:
    for body, loc in [
        ({"distinct_id": "u"}, ["event"]),
        (ph(""), ["event"]),
        ({"batch": [ph(), {"distinct_id": "u", "event": None}]}, ["batch", 1, "event"]),
    ]:
        assert invalid(await post(client, "/batch", body))["errors"] == [
            field_error(loc, "is required")
        ]
    assert stored_events(database_url) == []


async def test_chat_event_without_its_fields_is_400(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A message needs its text and a session; a CTA click needs a session: each refusal names
    the property as the SDK sends it."""
    cases = [
        (
            ph("message", properties={"$session_id": "s-1"}),
            [field_error(["properties", "message"], "is required for 'message'")],
        ),
        (
            ph("message", properties={"message": "Hi"}),
            [field_error(["properties", "$session_id"], "is required for 'message'")],
        ),
        (
            ph("message", properties={"message": "Hi", "$session_id": ""}),
            [field_error(["properties", "$session_id"], "is required for 'message'")],
        ),
        (
            ph("message", properties={"message": "Hi", "session_id": ""}),
            [field_error(["properties", "session_id"], "is required for 'message'")],
        ),
        (
            ph("message"),
            [
                field_error(["properties", "$session_id"], "is required for 'message'"),
                field_error(["properties", "message"], "is required for 'message'"),
            ],
        ),
        (
            ph("cta_click", properties={"cta_id": "buy"}),
            [field_error(["properties", "$session_id"], "is required for 'cta_click'")],
        ),
        (
            chat("m", "   "),
            [
                field_error(
                    ["properties", "message"],
                    "must not be empty for event_type 'message'",
                )
            ],
        ),
    ]
    for event, errors in cases:
        assert invalid(await post(client, "/capture", event))["errors"] == errors, event
    role = invalid(await post(client, "/capture", chat("m", role="bot")))
    assert [error["loc"] for error in role["errors"]] == [["properties", "role"]]
    assert stored_events(database_url) == []


async def test_bad_values_are_400_naming_the_sdk_field(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """NUL characters, ids that are too long or not text, properties that are not an object:
    each refused, naming the field where the SDK put it."""
    nul = "must not contain NUL (\\u0000) characters"
    long_id = "x" * 257
    too_long = "String should have at most 256 characters"
    cases = [
        (ph(properties={"k": "a\x00b"}), ["properties"], nul),
        (ph(properties={"k\x00": 1}), ["properties"], nul),
        (ph(properties={"a": [{"b": "\x00"}]}), ["properties"], nul),
        (chat("m", "hi\x00"), ["properties", "message"], nul),
        (
            chat("m", "x" * 32_769),
            ["properties", "message"],
            "is 32769 bytes; the limit is 32768 bytes (32 KiB)",
        ),
        (ph(distinct_id="   "), ["distinct_id"], "String should match pattern '\\S'"),
        (ph(distinct_id="ana\x00"), ["distinct_id"], nul),
        (ph(distinct_id=long_id), ["distinct_id"], too_long),
        (
            {"event": "x", "properties": {"distinct_id": long_id}},
            ["properties", "distinct_id"],
            too_long,
        ),
        (ph("e" * 257), ["event"], too_long),
        (ph(uuid=long_id), ["uuid"], too_long),
        (
            ph(properties={"$session_id": long_id}),
            ["properties", "$session_id"],
            "String should have at most 256 characters",
        ),
        (ph(distinct_id=1.5), ["distinct_id"], "Input should be a valid string"),
        (ph(distinct_id={"id": 1}), ["distinct_id"], "Input should be a valid string"),
        (ph(properties=["a"]), ["properties"], "must be a JSON object"),
        (ph(properties="a=1"), ["properties"], "must be a JSON object"),
    ]
    for event, loc, msg in cases:
        errors = invalid(await post(client, "/capture", {"batch": [ph(), event]}))["errors"]
        named = [(error["loc"], error["msg"]) for error in errors]
        assert named == [(["batch", 1, *loc], msg)], event
    assert stored_events(database_url) == []


async def test_bodies_that_are_not_events_are_400(
    client: httpx.AsyncClient, database_url: str
) -> None:
    not_json = [b"", b"  \n", b"nope", b"{", dumps([ph()])[:-1], b"[1,]", b'{"event":NaN}']
    for body in not_json:
        refusal = invalid(await post(client, "/e", body))
        assert refusal["detail"].startswith(
            ("request body is not valid JSON", "request body is empty")
        ), body
        assert "errors" not in refusal
    shape = "the body must be an event, a list of events or {batch: [...]}"
    cases = [
        (b"42", [field_error([], shape)]),
        (b"null", [field_error([], shape)]),
        (b'"event"', [field_error([], shape)]),
        (b"[]", [field_error([], "the body holds no events")]),
        (b'{"batch":[]}', [field_error([], "the body holds no events")]),
        (b'{"batch":{}}', [field_error(["batch"], "must be a list of events")]),
        (b'{"batch":null}', [field_error(["batch"], "must be a list of events")]),
        (
            dumps([ph(), 7, [ph()]]),
            [
                field_error([1], "must be a JSON object (an event)"),
                field_error([2], "must be a JSON object (an event)"),
            ],
        ),
    ]
    for body, errors in cases:
        assert invalid(await post(client, "/e", body))["errors"] == errors, body
    assert stored_events(database_url) == []


async def test_one_bad_event_refuses_the_whole_batch(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Every bad event is named (batch.N for a batch, N for a list) and nothing is stored."""
    batch = [chat("a"), ph(uuid="b"), ph("message", uuid="c"), ph(uuid="d"), {"event": "e"}]
    refusal = invalid(await post(client, "/batch", {"api_key": "k", "batch": batch}))
    assert refusal["errors"] == [
        field_error(["batch", 2, "properties", "$session_id"], "is required for 'message'"),
        field_error(["batch", 2, "properties", "message"], "is required for 'message'"),
        field_error(["batch", 4, "distinct_id"], "is required"),
    ]
    assert refusal["detail"] == (
        "batch.2.properties.$session_id: is required for 'message'; "
        "batch.2.properties.message: is required for 'message'; "
        "batch.4.distinct_id: is required"
    )
    listed = invalid(await post(client, "/e", [ph(uuid="ok"), ph(uuid="bad", distinct_id="")]))
    assert listed["detail"] == "1.distinct_id: is required"
    assert stored_events(database_url) == []
    accepted(await post(client, "/batch", {"batch": batch[:2]}))
    assert [stored["event_id"] for stored in stored_events(database_url)] == ["a", "b"]


async def test_retention_days_refuses_older_events(settings: Settings, database_url: str) -> None:
    """With RETENTION_DAYS=30, an event from 31 days ago is refused (it would be deleted at
    the next run), naming its timestamp, and its batch is not stored; 29 days ago is kept."""
    now = datetime.now(UTC)
    async with client_for(settings.model_copy(update={"retention_days": 30})) as client:
        batch = [
            ph(uuid="recent", timestamp=iso(now - timedelta(days=29))),
            ph(uuid="old", timestamp=iso(now - timedelta(days=31))),
        ]
        refusal = invalid(await post(client, "/batch", {"batch": batch}))
        assert refusal["errors"] == [
            field_error(
                ["batch", 1, "timestamp"],
                "is older than RETENTION_DAYS (30 days), so it would not be kept",
            )
        ]
        offset = invalid(await post(client, "/e", [ph(uuid="o", offset=31 * 86_400_000)]))
        assert offset["errors"] == [
            field_error(
                [0, "offset"], "is older than RETENTION_DAYS (30 days), so it would not be kept"
            )
        ]
        assert stored_events(database_url) == []
        accepted(await post(client, "/batch", {"batch": batch[:1]}))
    assert rows(database_url) == [row("recent")]


# --- a real posthog-js request ---------------------------------------------------------------


async def test_posthog_js_request(client: httpx.AsyncClient, database_url: str) -> None:
    """What posthog-js sends for a chat: gzip-js, `_`, the token in the properties, $set on
    identify; stored as our chat events with the time corrected and the traits folded."""
    sent = CLIENT_TIME + timedelta(seconds=4)
    common = {"token": "phc_project", "$session_id": "0190b5c2-s", "$lib": "web"}
    events = [
        ph(
            "$identify",
            uuid="js-identify",
            timestamp=iso(CLIENT_TIME),
            properties={
                **common,
                "$set": {"email": "ana@example.com"},
                "$anon_distinct_id": "anon",
            },
        ),
        ph(
            "message",
            uuid="js-message",
            timestamp=iso(CLIENT_TIME + timedelta(seconds=1)),
            properties={**common, "message": "Do you ship to Norway?", "role": "user"},
        ),
        ph(
            "cta_click",
            uuid="js-click",
            timestamp=iso(CLIENT_TIME + timedelta(seconds=3)),
            properties={**common, "cta_id": "shipping"},
        ),
    ]
    params = {"ip": "0", "_": str(ms(sent)), "ver": "1.200.0", "compression": "gzip-js"}
    accepted(
        await post(
            client, "/e/", gzip.compress(dumps(events)), {"Content-Type": "text/plain"}, params
        )
    )
    kept = {"$lib": "web"}
    assert rows(database_url) == [
        row(
            "js-identify",
            "$identify",
            session_id="0190b5c2-s",
            properties={**kept, "$set": {"email": "ana@example.com"}, "$anon_distinct_id": "anon"},
        ),
        row(
            "js-message",
            "message",
            session_id="0190b5c2-s",
            message="Do you ship to Norway?",
            properties=kept,
        ),
        row("js-click", "cta_click", session_id="0190b5c2-s", cta_id="shipping", properties=kept),
    ]
    assert [received - occurred for occurred, received in stored_times(database_url)] == [
        timedelta(seconds=4),
        timedelta(seconds=3),
        timedelta(seconds=1),
    ]
    found = await history(client)
    assert found["traits"] == {"email": "ana@example.com"}
    assert [s["session_id"] for s in found["sessions"]] == ["0190b5c2-s"]
    assert [e["event_id"] for e in found["sessions"][0]["events"]] == [
        "js-identify",
        "js-message",
        "js-click",
    ]
