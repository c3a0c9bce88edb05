"""GET /analytics/ai against a brute force, its percentiles against PostgreSQL's percentile_cont."""

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from tests.ai.usage_helpers import (
    MAX_LATENCY_MS,
    MAX_TOKENS,
    ONLY_POSTGRES,
    ONLY_SQLITE,
    PRICES,
    USAGE,
    ai_usage,
    post_events,
    priced_settings,  # noqa: F401 (the settings fixture, with PRICES)
    reply,
)
from tests.helpers import empty, event

pytestmark = pytest.mark.anyio

# --- the brute force -------------------------------------------------------------------------


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont as its source computes it, in float8 throughout: the values
    at the floor and the ceiling of rank fraction * (n - 1), and linear between them."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low, high = ordered[math.floor(rank)], ordered[math.ceil(rank)]
    return low + (high - low) * (rank - math.floor(rank))


def price_for(model: str | None, prices: dict[str, dict[str, float]]) -> dict[str, float] | None:
    """The model's own price, else that of `prefix*` for its longest prefix that has one."""
    if model is None:
        return None
    if model in prices:
        return prices[model]
    for length in range(len(model), -1, -1):
        if f"{model[:length]}*" in prices:
            return prices[f"{model[:length]}*"]
    return None


def dollars(input_tokens: int, output_tokens: int, price: dict[str, float]) -> Decimal:
    per_million = input_tokens * Decimal(str(price["input"]))
    per_million += output_tokens * Decimal(str(price["output"]))
    return per_million / 1_000_000


@dataclass(frozen=True)
class Reply:
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: float | None
    at: datetime  # aware

    def body(self, n: int) -> dict[str, Any]:
        timestamp = self.at.isoformat().replace("+00:00", "Z")
        usage = {name: getattr(self, name) for name in USAGE}  # None is sent as null
        return reply(f"r-{n}", timestamp, **usage)


def model_report(model: str | None, replies: list[Reply], prices: Any) -> dict[str, Any]:
    inputs = sum(r.input_tokens or 0 for r in replies)
    outputs = sum(r.output_tokens or 0 for r in replies)
    latencies = [r.latency_ms for r in replies if r.latency_ms is not None]
    price = price_for(model, prices)
    return {
        "model": model,
        "messages": len(replies),
        "input_tokens": inputs,
        "output_tokens": outputs,
        "total_tokens": inputs + outputs,
        "timed_messages": len(latencies),
        "latency_p50_ms": percentile_cont(latencies, 0.5),
        "latency_p95_ms": percentile_cont(latencies, 0.95),
        "price": None if price is None else {k: float(v) for k, v in price.items()},
        "cost_usd": None if price is None else dollars(inputs, outputs, price),
    }


def expected_usage(
    replies: list[Reply], prices: Any, start: date, end: date, tz: str
) -> dict[str, Any]:
    """GET /analytics/ai's answer: the replies whose local date in `tz` is in [start, end]."""
    by_model: defaultdict[str | None, list[Reply]] = defaultdict(list)
    for r in replies:
        if start <= r.at.astimezone(ZoneInfo(tz)).date() <= end:
            by_model[r.model].append(r)
    models = [model_report(model, group, prices) for model, group in by_model.items()]
    models.sort(key=lambda m: (m["model"] is None, -m["messages"], m["model"] or ""))
    costs = [m["cost_usd"] for m in models if m["cost_usd"] is not None]
    for m in models:
        m["cost_usd"] = None if m["cost_usd"] is None else float(m["cost_usd"])
    return {
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "tz": tz,
        "assistant_messages": sum(m["messages"] for m in models),
        "input_tokens": sum(m["input_tokens"] for m in models),
        "output_tokens": sum(m["output_tokens"] for m in models),
        "cost_usd": float(sum(costs, Decimal(0))),
        "unpriced_models": [
            m["model"] for m in models if m["model"] and m["price"] is None and m["total_tokens"]
        ],
        "models": models,
    }


def assert_same_usage(got: dict[str, Any], want: dict[str, Any]) -> None:
    """`got` is `want`, every percentile to the last bit."""
    assert got == want


# --- GET /analytics/ai against the brute force -------------------------------------------------

MODELS = (None, "gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-mini", "claude-3-haiku", "llama-3.1-8b")
ZONES = ("UTC", "Asia/Kathmandu", "America/Santiago", "Europe/London")
FIRST_DAY = date(2026, 3, 27)  # London moves its clocks on the 29th
DAYS = 4
# Every local midnight of the window in every zone, and the microsecond before it.
MIDNIGHTS = sorted(
    datetime.combine(FIRST_DAY + timedelta(days=n), datetime.min.time(), ZoneInfo(zone)).astimezone(
        UTC
    )
    - timedelta(microseconds=before)
    for zone in ZONES
    for n in range(DAYS + 1)
    for before in (0, 1)
)
PROPERTY = hypothesis_settings(
    max_examples=100,
    deadline=None,
    # The database is emptied at the start of every example, so sharing the fixtures is safe.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

moments = st.one_of(
    st.sampled_from(MIDNIGHTS),
    st.integers(0, DAYS * 86_400_000_000 - 1).map(
        lambda us: (
            datetime.combine(FIRST_DAY, datetime.min.time(), UTC) + timedelta(microseconds=us)
        )
    ),
)
tokens = st.none() | st.integers(0, 50) | st.integers(0, MAX_TOKENS)
latencies = st.one_of(
    st.none(),
    st.sampled_from([0, 250, 250.0, 1000.5]),  # ties
    st.integers(0, MAX_LATENCY_MS),
    st.floats(0, MAX_LATENCY_MS),
)


@st.composite
def replies(draw: st.DrawFn) -> list[Reply]:
    """Replies from a few models, so that each has several."""
    models = draw(st.lists(st.sampled_from(MODELS), min_size=1, max_size=3, unique=True))
    reply = st.builds(Reply, st.sampled_from(models), tokens, tokens, latencies, moments)
    return draw(st.lists(reply, max_size=60))


async def post_replies(client: httpx.AsyncClient, replies: list[Reply]) -> None:
    """The replies, and a question and a click beside each, which must not count."""
    bodies = [r.body(n) for n, r in enumerate(replies)]
    noise = [
        event(event_id=f"{kind}-{n}", event_type=kind, cta_id="buy", timestamp=body["timestamp"])
        for n, body in enumerate(bodies)
        for kind in ("message", "cta_click")
    ]
    await post_events(client, *bodies, *noise)


@ONLY_SQLITE
@PROPERTY
@given(
    sent=replies(),
    zone=st.sampled_from(ZONES),
    first=st.integers(-1, DAYS),
    days=st.integers(1, 3),
)
async def test_usage_matches_brute_force(
    client: httpx.AsyncClient, engine: Engine, sent: list[Reply], zone: str, first: int, days: int
) -> None:
    empty(engine)
    if sent:
        await post_replies(client, sent)
    start = FIRST_DAY + timedelta(days=first)
    end = start + timedelta(days=days - 1)
    got = await ai_usage(client, start.isoformat(), end.isoformat(), zone)
    assert_same_usage(got, expected_usage(sent, PRICES, start, end, zone))


STORED_USAGE = """
SELECT event_id, model, input_tokens, output_tokens, latency_ms FROM event WHERE role = 'assistant'
"""
SERVER_PERCENTILES = """
SELECT model,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
FROM event
WHERE event_type = 'message' AND role = 'assistant' AND latency_ms IS NOT NULL
GROUP BY model
"""


@ONLY_POSTGRES
async def test_percentiles_are_postgresqls_percentile_cont(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    draw = random.Random(2026)
    noon = datetime(2026, 5, 4, 12, tzinfo=UTC)
    odd = [0.1, 1e-7, 5e-324, MAX_LATENCY_MS, 123_456.789]
    sent = [
        Reply(
            model=draw.choice(MODELS),
            input_tokens=draw.choice([None, draw.randint(0, MAX_TOKENS)]),
            output_tokens=draw.choice([None, draw.randint(0, 5000)]),
            latency_ms=draw.choice([None, draw.uniform(0, 5000), draw.randint(0, 20), *odd]),
            at=noon + timedelta(seconds=n),
        )
        for n in range(300)
    ]
    await post_replies(client, sent)
    with engine.connect() as connection:
        stored = connection.execute(text(STORED_USAGE)).all()
        server = {
            model: (p50, p95) for model, p50, p95 in connection.execute(text(SERVER_PERCENTILES))
        }
    assert {event_id: usage for event_id, *usage in stored} == {
        f"r-{n}": [r.model, r.input_tokens, r.output_tokens, r.latency_ms]
        for n, r in enumerate(sent)
    }
    timed: defaultdict[str | None, list[float]] = defaultdict(list)
    for r in sent:
        if r.latency_ms is not None:
            timed[r.model].append(r.latency_ms)
    # The brute force is PostgreSQL's own, to the last bit.
    assert server == {
        model: (percentile_cont(values, 0.5), percentile_cont(values, 0.95))
        for model, values in timed.items()
    }
    got = await ai_usage(client)
    assert_same_usage(got, expected_usage(sent, PRICES, noon.date(), noon.date(), "UTC"))
    assert {m["model"]: m["latency_p50_ms"] for m in got["models"]} == {
        model: p50 for model, (p50, _) in server.items()
    }


async def test_p95_is_exactly_postgresqls(client: httpx.AsyncClient) -> None:
    latencies = [5.0, 0.0, 1000.0, 1.0, 2.0, 0.0, 3.0, 4.0]
    await post_events(client, *(reply(f"r-{n}", latency_ms=ms) for n, ms in enumerate(latencies)))
    [timed] = (await ai_usage(client))["models"]
    assert timed["latency_p50_ms"] == 2.5
    # PostgreSQL: SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY v) -> 651.7499999999994
    assert timed["latency_p95_ms"] == percentile_cont(latencies, 0.95) == 651.7499999999994
