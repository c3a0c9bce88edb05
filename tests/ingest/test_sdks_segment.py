"""segment-analytics-python, unmodified, against the real server: it must just work."""

from collections import Counter
from datetime import datetime, timedelta

import pytest
from segment.analytics.request import APIError as SegmentAPIError

from tests.ingest.real_sdk_helpers import (
    MODES,
    ONE_USER_MESSAGE,
    REFUSED_KEYS,
    SEGMENT_CONTEXT,
    SEGMENT_WIRE,
    assert_day_and_rows,
    assert_history,
    assert_nothing_stored,
    assert_resent,
    assert_sent_as,
    assert_transcript_is_the_chat,
    basic_auth,
    clock,
    day_summary,
    error_log,
    finish,
    group,
    names,
    segment_client,
    sent_messages,
    user_rows,
)
from tests.ingest.sdk_helpers import stored_row
from tests.ingest.sdk_proxy import RecordingProxy
from tests.servers import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_thread_left")]

# --- Segment (segment-analytics-python) ---


@pytest.mark.parametrize("mode", MODES)
def test_segment_chat_events_traits_and_pages_are_stored(
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

    with segment_client(
        write_key, proxy.url, sync_mode=sync, gzip=gzipped, on_error=on_error
    ) as client:
        calls = [
            client.track(
                user,
                "message",
                {"session_id": session, "message": "Do you ship to Norway?", "role": "user"},
                timestamp=at(0),
            ),
            client.track(
                user,
                "message",
                {"session_id": session, "message": "Yes, in 3 to 5 days.", "role": "assistant"},
                timestamp=at(1),
            ),
            client.track(
                user, "cta_click", {"session_id": session, "cta_id": "shop-now"}, timestamp=at(2)
            ),
            client.track(user, "pricing_viewed", {"plan": "pro"}, timestamp=at(3)),
            client.page(
                user, "Docs", "Shipping", {"url": "https://shop.example/ship"}, timestamp=at(4)
            ),
            client.identify(user, {"email": "ana@example.com", "plan": "pro"}, timestamp=at(6)),
            # Sent last but happened earlier: it must not overwrite the newer plan.
            client.identify(user, {"plan": "free", "company": "Acme"}, timestamp=at(5)),
            # Another user's custom event, in a session of its own: not chat, never counted.
            client.track(other, "pricing_viewed", {"session_id": other_session}, timestamp=at(7)),
        ]
        finish(client, mode)
        assert [queued for queued, _ in calls] == [True] * len(calls)
        ids = [message["messageId"] for _, message in calls]

        sent = assert_sent_as(
            SEGMENT_WIRE, proxy.seen(), write_key, ids, sync=sync, gzipped=gzipped
        )

        shown = assert_history(
            server,
            user,
            {"email": "ana@example.com", "plan": "pro", "company": "Acme"},
            [
                group(
                    session,
                    stored_row(
                        ids[0],
                        user,
                        "message",
                        SEGMENT_CONTEXT,
                        session_id=session,
                        message="Do you ship to Norway?",
                    ),
                    stored_row(
                        ids[1],
                        user,
                        "message",
                        SEGMENT_CONTEXT,
                        session_id=session,
                        role="assistant",
                        message="Yes, in 3 to 5 days.",
                    ),
                    stored_row(
                        ids[2],
                        user,
                        "cta_click",
                        SEGMENT_CONTEXT,
                        session_id=session,
                        cta_id="shop-now",
                    ),
                ),
                group(
                    "",
                    stored_row(ids[3], user, "pricing_viewed", {"plan": "pro", **SEGMENT_CONTEXT}),
                    stored_row(
                        ids[4],
                        user,
                        "page",
                        {
                            "url": "https://shop.example/ship",
                            "$name": "Shipping",
                            "$category": "Docs",
                            **SEGMENT_CONTEXT,
                        },
                    ),
                    stored_row(
                        ids[6],
                        user,
                        "identify",
                        {"$set": {"plan": "free", "company": "Acme"}, **SEGMENT_CONTEXT},
                    ),
                    stored_row(
                        ids[5],
                        user,
                        "identify",
                        {
                            "$set": {"email": "ana@example.com", "plan": "pro"},
                            **SEGMENT_CONTEXT,
                        },
                    ),
                ),
            ],
            sent,
        )
        assert_transcript_is_the_chat(server, session, shown)

        assert_history(
            server,
            other,
            None,
            [
                group(
                    other_session,
                    stored_row(
                        ids[7],
                        other,
                        "pricing_viewed",
                        SEGMENT_CONTEXT,
                        session_id=other_session,
                    ),
                ),
            ],
            sent,
        )

        rows = [(user, ids[:7]), (other, ids[7:])]
        assert_day_and_rows(server, sdk_database, write_key, day, rows)
    assert errors == []


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "background"])
@pytest.mark.parametrize("refused", list(REFUSED_KEYS))
def test_segment_with_a_key_that_is_no_write_key_stores_nothing(
    server: ServerProcess, proxy: RecordingProxy, sdk_database: str, sync: bool, refused: str
) -> None:
    key, status, code, words = REFUSED_KEYS[refused]
    user, _, session, _ = names()
    errors, on_error = error_log()
    properties = {"session_id": session, "message": "Hello?", "role": "user"}
    with segment_client(key, proxy.url, sync_mode=sync, on_error=on_error) as client:
        if sync:
            with pytest.raises(SegmentAPIError) as raised:
                client.track(user, "message", properties)
            error: Exception = raised.value
        else:
            _, message = client.track(user, "message", properties)
            client.flush()
            [(error, batch)] = errors
            assert [sent["messageId"] for sent in batch] == [message["messageId"]]
    assert isinstance(error, SegmentAPIError)
    assert (error.status, error.code, error.message) == (status, code, words)
    # Refused, not retried: one request, and the SDK heard the refusal.
    [exchange] = proxy.seen()
    assert (exchange.status, exchange.relayed) == (status, True)
    assert exchange.headers["authorization"] == basic_auth(key)
    assert_nothing_stored(server, sdk_database, user)


def test_segment_retry_of_a_batch_whose_answer_was_lost_is_stored_once(
    server: ServerProcess, sdk_database: str, write_key: str, day: datetime
) -> None:
    user, _, session, _ = names()
    errors, on_error = error_log()
    with (
        RecordingProxy(server.port, lose_answers=1) as proxy,
        segment_client(
            write_key, proxy.url, max_retries=3, upload_size=2, on_error=on_error
        ) as client,
    ):
        _, message = client.track(
            user,
            "message",
            {"session_id": session, "message": "Is this stored once?", "role": "user"},
            timestamp=day,
        )
        _, identify = client.identify(user, {"plan": "pro"}, timestamp=day + timedelta(seconds=1))
        client.flush()
        exchanges = proxy.seen()
    ids = [message["messageId"], identify["messageId"]]

    first, second = assert_resent(SEGMENT_WIRE, exchanges, ids)
    assert "x-retry-count" not in first.headers
    assert second.headers["x-retry-count"] == "1"
    assert errors == []

    assert user_rows(sdk_database, user) == Counter(ids)
    # What is stored is the first request's: its receipt time, corrected with its sentAt.
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
                    SEGMENT_CONTEXT,
                    session_id=session,
                    message="Is this stored once?",
                ),
            ),
            group(
                "",
                stored_row(ids[1], user, "identify", {"$set": {"plan": "pro"}, **SEGMENT_CONTEXT}),
            ),
        ],
        sent_messages([first], SEGMENT_WIRE),
    )
    assert day_summary(server, day) == ONE_USER_MESSAGE
