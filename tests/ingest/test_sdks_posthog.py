"""posthog-python, unmodified, against the real server: it must just work."""

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from posthog import identify_context, new_context, set_context_session
from posthog.request import APIError as PostHogAPIError
from posthog.version import VERSION as POSTHOG_VERSION

from tests.ingest.real_sdk_helpers import (
    MODES,
    ONE_USER_MESSAGE,
    POSTHOG_WIRE,
    REFUSED_KEYS,
    Sent,
    assert_day_and_rows,
    assert_history,
    assert_nothing_stored,
    assert_resent,
    assert_sent_as,
    assert_transcript_is_the_chat,
    clock,
    day_summary,
    error_log,
    finish,
    group,
    names,
    posthog_client,
    sent_messages,
    user_rows,
)
from tests.ingest.sdk_helpers import stored_row
from tests.ingest.sdk_proxy import RecordingProxy
from tests.servers import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_thread_left")]

# Chat fields PostHog sends as properties, which become the event's own fields.
POSTHOG_TAKEN = ("$session_id", "message", "role", "cta_id")


# --- PostHog (posthog-python) ---


def posthog_kept(sent: Sent, *moved: str) -> dict[str, Any]:
    """The properties the server keeps of a PostHog event: all it sent but the chat fields
    (now the event's own), with `moved` (`$set`, `$set_once` sent beside the properties)."""
    properties = {k: v for k, v in sent.message["properties"].items() if k not in POSTHOG_TAKEN}
    return {**properties, **{name: sent.message[name] for name in moved}}


@pytest.mark.parametrize("mode", MODES)
def test_posthog_chat_events_and_traits_are_stored(
    server: ServerProcess,
    proxy: RecordingProxy,
    sdk_database: str,
    write_key: str,
    day: datetime,
    mode: str,
) -> None:
    user, other, session, other_session = names()
    sync, gzipped = mode.startswith("sync"), mode.endswith("gzip")
    errors, on_error = error_log()
    at = clock(day)

    with posthog_client(
        write_key, proxy.url, sync_mode=sync, gzip=gzipped, on_error=on_error
    ) as client:
        ids = [
            client.capture(
                "message",
                distinct_id=user,
                properties={"$session_id": session, "message": "Do you ship?", "role": "user"},
                timestamp=at(0),
            )
        ]
        # posthog-python's own way to say who and which session, for all a request captures.
        with new_context(fresh=True, client=client):
            identify_context(user)
            set_context_session(session)
            ids.append(
                client.capture(
                    "message",
                    properties={"message": "Yes, worldwide.", "role": "assistant"},
                    timestamp=at(1),
                )
            )
        ids += [
            client.capture(
                "cta_click",
                distinct_id=user,
                properties={"$session_id": session, "cta_id": "shop-now"},
                timestamp=at(2),
            ),
            client.capture(
                "pricing_viewed", distinct_id=user, properties={"plan": "pro"}, timestamp=at(3)
            ),
            client.capture(
                "$pageview",
                distinct_id=user,
                properties={"$current_url": "https://shop.example/ship"},
                timestamp=at(4),
            ),
            client.set(
                distinct_id=user,
                properties={"email": "ana@example.com", "plan": "pro"},
                timestamp=at(6),
            ),
            client.capture(
                "$identify",
                distinct_id=user,
                properties={"$set": {"name": "Ana"}, "$set_once": {"first_seen": "2025-03-01"}},
                timestamp=at(7),
            ),
            client.set_once(
                distinct_id=user, properties={"plan": "free", "signup": "web"}, timestamp=at(8)
            ),
            # Sent after the others but happened before them: it must not overwrite the plan.
            client.set(
                distinct_id=user, properties={"plan": "trial", "company": "Acme"}, timestamp=at(5)
            ),
            client.capture(
                "pricing_viewed",
                distinct_id=other,
                properties={"$session_id": other_session},
                timestamp=at(9),
            ),
        ]
        finish(client, mode)
        assert all(isinstance(uuid, str) for uuid in ids), ids

        # The key is in the body, not in an Authorization header.
        sent = assert_sent_as(
            POSTHOG_WIRE, proxy.seen(), write_key, ids, sync=sync, gzipped=gzipped
        )
        wire = [sent[uuid] for uuid in ids]
        # What posthog-python sends: its own properties, $set/$set_once of set() and
        # set_once() beside the properties, the context's session as $session_id.
        assert wire[0].message["properties"]["$lib"] == "posthog-python"
        assert wire[0].message["properties"]["$lib_version"] == POSTHOG_VERSION
        assert wire[1].message["properties"]["$session_id"] == session
        assert (wire[5].message["event"], wire[5].message["$set"]) == (
            "$set",
            {"email": "ana@example.com", "plan": "pro"},
        )
        assert "$set" not in wire[5].message["properties"]
        assert wire[7].message["event"] == "$set_once"

        shown = assert_history(
            server,
            user,
            {
                "plan": "pro",
                "company": "Acme",
                "email": "ana@example.com",
                "name": "Ana",
                "first_seen": "2025-03-01",
                "signup": "web",
            },
            [
                group(
                    session,
                    stored_row(
                        ids[0],
                        user,
                        "message",
                        posthog_kept(wire[0]),
                        session_id=session,
                        message="Do you ship?",
                    ),
                    stored_row(
                        ids[1],
                        user,
                        "message",
                        posthog_kept(wire[1]),
                        session_id=session,
                        role="assistant",
                        message="Yes, worldwide.",
                    ),
                    stored_row(
                        ids[2],
                        user,
                        "cta_click",
                        posthog_kept(wire[2]),
                        session_id=session,
                        cta_id="shop-now",
                    ),
                ),
                group(
                    "",
                    stored_row(ids[3], user, "pricing_viewed", posthog_kept(wire[3])),
                    stored_row(ids[4], user, "$pageview", posthog_kept(wire[4])),
                    stored_row(ids[8], user, "$set", posthog_kept(wire[8], "$set")),
                    stored_row(ids[5], user, "$set", posthog_kept(wire[5], "$set")),
                    stored_row(ids[6], user, "$identify", posthog_kept(wire[6])),
                    stored_row(ids[7], user, "$set_once", posthog_kept(wire[7], "$set_once")),
                ),
            ],
            sent,
        )
        assert wire[3].message["properties"]["plan"] == "pro"
        assert wire[6].message["properties"]["$set"] == {"name": "Ana"}
        assert_transcript_is_the_chat(server, session, shown)

        assert_history(
            server,
            other,
            None,
            [
                group(
                    other_session,
                    stored_row(
                        ids[9],
                        other,
                        "pricing_viewed",
                        posthog_kept(wire[9]),
                        session_id=other_session,
                    ),
                ),
            ],
            sent,
        )

        rows = [(user, ids[:9]), (other, ids[9:])]
        assert_day_and_rows(server, sdk_database, write_key, day, rows)
    assert errors == []


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "background"])
@pytest.mark.parametrize("refused", list(REFUSED_KEYS))
def test_posthog_with_a_key_that_is_no_write_key_stores_nothing(
    server: ServerProcess,
    proxy: RecordingProxy,
    sdk_database: str,
    sync: bool,
    refused: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key, status, _, words = REFUSED_KEYS[refused]
    user, _, session, _ = names()
    errors, on_error = error_log()
    properties = {"$session_id": session, "message": "Hello?", "role": "user"}
    with (
        caplog.at_level(logging.ERROR, logger="posthog"),
        posthog_client(key, proxy.url, sync_mode=sync, on_error=on_error) as client,
    ):
        uuid = client.capture("message", distinct_id=user, properties=properties)
        if sync:
            # capture() does not raise (without debug): it logs the error and returns None.
            assert uuid is None
            [logged] = [record for record in caplog.records if record.exc_info]
            assert logged.exc_info is not None
            error = logged.exc_info[1]
        else:
            assert isinstance(uuid, str)
            client.flush()
            [(error, batch)] = errors
            assert [sent["uuid"] for sent in batch] == [uuid]
    assert isinstance(error, PostHogAPIError)
    assert (error.status, error.message) == (status, words)
    # Refused, not retried: one request, and the SDK heard the refusal.
    [exchange] = proxy.seen()
    assert (exchange.path, exchange.status, exchange.relayed) == ("/batch/", status, True)
    assert exchange.json()["api_key"] == key
    assert_nothing_stored(server, sdk_database, user)


def test_posthog_retry_of_a_batch_whose_answer_was_lost_is_stored_once(
    server: ServerProcess, sdk_database: str, write_key: str, day: datetime
) -> None:
    user, _, session, _ = names()
    errors, on_error = error_log()
    with (
        RecordingProxy(server.port, lose_answers=1) as proxy,
        posthog_client(write_key, proxy.url, max_retries=3, on_error=on_error) as client,
    ):
        ids = [
            client.capture(
                "message",
                distinct_id=user,
                properties={"$session_id": session, "message": "Stored once?", "role": "user"},
                timestamp=day,
            ),
            client.set(
                distinct_id=user, properties={"plan": "pro"}, timestamp=day + timedelta(seconds=1)
            ),
        ]
        client.flush()
        exchanges = proxy.seen()

    # posthog-python waits 1 s before its first retry; that wait cannot be shortened.
    first, _ = assert_resent(POSTHOG_WIRE, exchanges, ids)
    assert errors == []

    assert user_rows(sdk_database, user) == Counter(ids)
    sent = sent_messages([first], POSTHOG_WIRE)
    wire = [sent[uuid] for uuid in ids]
    # What is stored is the first request's: its receipt time, corrected with its sent_at.
    assert_history(
        server,
        user,
        {"plan": "pro"},
        [
            group(
                session,
                stored_row(
                    ids[0],
                    user,
                    "message",
                    posthog_kept(wire[0]),
                    session_id=session,
                    message="Stored once?",
                ),
            ),
            group("", stored_row(ids[1], user, "$set", posthog_kept(wire[1], "$set"))),
        ],
        sent,
    )
    assert day_summary(server, day) == ONE_USER_MESSAGE
