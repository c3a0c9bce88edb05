"""The feedback module: the worst answers, plugins.feedback of the summary, erasure, admin key."""

from typing import Any

import httpx
import pytest

from tests.access.helpers import make_key
from tests.conftest import ADMIN, client_for
from tests.helpers import event
from tests.modules.feedback_helpers import (
    NO_RATINGS,
    ONE_DAY,
    answer,
    at,
    feedback_summary,
    plugin_metrics,
    post,
    rating,
    worst,
)
from tests.reports.conftest import settings_for

pytestmark = pytest.mark.anyio

# --- the worst answers ---------------------------------------------------------------------


async def worst_answers_day(client: httpx.AsyncClient) -> None:
    """Answers in several spellings and models, rated (in time order) by u1..u6."""
    await post(
        client,
        [
            answer("n1", "We ship to Norway.", model="gpt-4o"),
            answer("n2", "we ship to   NORWAY", model="llama-3", user="u2"),
            answer("n3", "We ship to Norway!", model="gpt-4o", user="u3"),
            answer("c1", "Call us.", model="llama-3"),
            answer("f1", "Free over 50 EUR.", model="gpt-4o"),
            answer("m1", "Maybe."),
            answer("s1", "Sure."),
            answer("g1", "Glad to help!", model="gpt-4o"),
            event(event_id="q1", message="Hi", timestamp=at(0)),  # a user's message
        ],
    )
    minute = iter(range(60))
    ratings = [
        *(rating(f"u{n}", f"ghost-{n}", "down", at(next(minute))) for n in range(1, 6)),
        rating("u6", "q1", "down", at(next(minute))),
        rating("u1", "n1", "down", at(next(minute)), "Wrong, you do not"),
        rating("u2", "n2", "down", at(next(minute)), "No!"),
        rating("u3", "n3", "down", at(next(minute)), "Not true"),
        rating("u4", "n1", "up", at(next(minute))),
        rating("u5", "n2", "down", at(next(minute)), "Outdated"),
        rating("u6", "n2", "down", at(next(minute)), "  "),
        *(rating(f"u{n}", "c1", "down", at(next(minute))) for n in (1, 2)),
        *(rating(f"u{n}", "c1", "up", at(next(minute))) for n in (3, 4, 5)),
        rating("u1", "m1", "down", at(next(minute))),
        rating("u1", "f1", "down", at(next(minute))),
        rating("u1", "s1", "down", at(next(minute))),
        rating("u2", "s1", "up", at(next(minute))),
        *(rating(f"u{n}", "g1", "up", at(next(minute))) for n in (1, 2)),
    ]
    await post(client, ratings)


def worst_entry(
    answer: str | None, down: int, up: int, ids: list[str], **fields: Any
) -> dict[str, Any]:
    return {
        "answer": answer,
        "models": fields.get("models", []),
        "thumbs_down": down,
        "thumbs_up": up,
        "satisfaction_rate": up / (up + down),
        "message_ids": ids,
        "comments": fields.get("comments", []),
    }


NORWAY = ("We ship to Norway.", "we ship to   NORWAY", "We ship to Norway!")
WORST = [
    # Rated ids that are no assistant's answer (never sent, or a user's message) are one.
    worst_entry(None, 6, 0, ["ghost-1", "ghost-2", "ghost-3", "ghost-4", "ghost-5"]),
    worst_entry(
        NORWAY[0],
        5,
        1,
        ["n1", "n2", "n3"],
        models=["gpt-4o", "llama-3"],
        comments=["Wrong, you do not", "No!", "Not true"],  # the first three
    ),
    worst_entry("Call us.", 2, 3, ["c1"], models=["llama-3"]),  # more down, though liked more
    worst_entry("Free over 50 EUR.", 1, 0, ["f1"], models=["gpt-4o"]),  # a tie: by text
    worst_entry("Maybe.", 1, 0, ["m1"]),
    worst_entry("Sure.", 1, 1, ["s1"]),  # as many down, a higher satisfaction
]


async def test_worst_answers_most_thumbs_down_first(client: httpx.AsyncClient) -> None:
    await worst_answers_day(client)
    response = await client.get("/plugins/feedback/worst", params=ONE_DAY, headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {name: body[name] for name in ("start_date", "end_date", "tz")} == {
        **ONE_DAY,
        "tz": "UTC",
    }
    answers = body["answers"]
    assert answers[1]["answer"] in NORWAY  # one of its spellings
    assert answers == [
        {**WORST[1], "answer": answers[1]["answer"]} if n == 1 else entry
        for n, entry in enumerate(WORST)
    ]
    assert await worst(client, limit=2) == answers[:2]
    assert await worst(client, limit=1) == answers[:1]
    assert await worst(client, limit=100) == answers
    for limit in (0, -1, 101, "many"):
        refused = await client.get(
            "/plugins/feedback/worst", params={**ONE_DAY, "limit": limit}, headers=ADMIN
        )
        assert refused.status_code == 422, (limit, refused.text)
        assert [error["loc"] for error in refused.json()["detail"]] == [["query", "limit"]]
    # Another day has none.
    assert await worst(client, start_date="2026-11-11", end_date="2026-11-11") == []


async def test_an_answer_of_punctuation_is_not_an_unknown_message(
    client: httpx.AsyncClient,
) -> None:
    await post(client, [answer("dots", "...")])
    await post(
        client,
        [rating("u1", "ghost", "down", at(1)), rating("u2", "dots", "down", at(2))],
    )
    assert await worst(client) == [
        worst_entry(None, 1, 0, ["ghost"]),
        worst_entry("...", 1, 0, ["dots"]),
    ]


async def test_summary_plugins_feedback(client: httpx.AsyncClient) -> None:
    assert await plugin_metrics(client) == NO_RATINGS
    await worst_answers_day(client)
    expected = {"ratings": 23, "thumbs_up": 7, "thumbs_down": 16, "satisfaction_rate": 7 / 23}
    assert await plugin_metrics(client) == expected
    summary = await feedback_summary(client)
    assert {name: summary[name] for name in expected} == expected
    assert summary["comments"] == 4
    assert await plugin_metrics(client, start_date="2026-11-11", end_date="2026-11-12") == (
        NO_RATINGS
    )


async def test_erasing_a_user_removes_their_ratings(client: httpx.AsyncClient) -> None:
    await worst_answers_day(client)
    response = await client.delete("/users/u1", headers=ADMIN)
    assert response.status_code == 200, response.text
    # u1's ratings (7), and the answers in u1's session (n1, c1, f1, m1, s1, g1).
    assert response.json() == {"user_id": "u1", "deleted_events": 13}
    expected = {"ratings": 16, "thumbs_up": 6, "thumbs_down": 10, "satisfaction_rate": 6 / 16}
    assert await plugin_metrics(client) == expected
    answers = await worst(client)
    assert answers[1]["answer"] in NORWAY[1:]
    assert answers == [
        # Others' ratings of the answers in u1's session are of answers no longer stored.
        worst_entry(None, 6, 6, ["ghost-2", "ghost-3", "ghost-4", "ghost-5", "q1"]),
        worst_entry(
            answers[1]["answer"],
            4,
            0,
            ["n2", "n3"],
            models=["gpt-4o", "llama-3"],
            comments=["No!", "Not true", "Outdated"],
        ),
    ]


async def test_feedback_routes_need_the_admin_key(database_url: str) -> None:
    write = make_key(database_url, "write").key
    async with client_for(settings_for(database_url)) as http:
        for path in ("/plugins/feedback/summary", "/plugins/feedback/worst"):
            missing = await http.get(path, params=ONE_DAY)
            assert missing.status_code == 401, missing.text
            assert "Bearer" in missing.headers["www-authenticate"]
            wrong = await http.get(path, params=ONE_DAY, headers={"Authorization": "Bearer no"})
            assert wrong.status_code == 401
            writer = await http.get(
                path, params=ONE_DAY, headers={"Authorization": f"Bearer {write}"}
            )
            assert writer.status_code == 403
            assert (await http.get(path, params=ONE_DAY, headers=ADMIN)).status_code == 200
            unknown_zone = await http.get(path, params={"tz": "Mars/Olympus"}, headers=ADMIN)
            assert unknown_zone.status_code == 400
