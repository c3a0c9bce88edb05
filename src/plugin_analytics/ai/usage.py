"""GET /analytics/ai: what the assistant's models did, per model, from the model usage that
assistant messages carry (`model`, `input_tokens`, `output_tokens`, `latency_ms`)."""

import math
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, Connection, func, literal_column, select

from plugin_analytics.config import ModelPrice
from plugin_analytics.db.models import event_table
from plugin_analytics.db.types import from_epoch_us

PER_TOKENS = Decimal(1_000_000)  # prices are per million tokens
PERCENTILES = (50, 95)


@dataclass(frozen=True)
class ModelUsage:
    model: str | None  # None: replies that did not say which model wrote them
    messages: int
    input_tokens: int
    output_tokens: int
    timed: int  # messages that carried latency_ms
    latency_ms: dict[int, float]  # percentile (50, 95) to milliseconds, when any was timed


def _replies(site_num: int, start_us: int, end_us: int) -> list[ColumnElement[bool]]:
    event = event_table
    return [
        event.c.site_num == site_num,
        event.c.occurred_at >= from_epoch_us(start_us),
        event.c.occurred_at < from_epoch_us(end_us),
        event.c.event_type == literal_column("'message'"),
        event.c.role == literal_column("'assistant'"),
    ]


def model_usage(
    connection: Connection, site_num: int, start_us: int, end_us: int
) -> list[ModelUsage]:
    """Per model, the site's assistant messages in [start_us, end_us): how many, their tokens, and
    the exact 50th and 95th percentile of their latency. Most messages first."""
    event = event_table
    totals = connection.execute(
        select(
            event.c.model,
            func.count(),
            func.coalesce(func.sum(event.c.input_tokens), 0),
            func.coalesce(func.sum(event.c.output_tokens), 0),
            func.count(event.c.latency_ms),
        )
        .where(*_replies(site_num, start_us, end_us))
        .group_by(event.c.model)
    ).all()
    latencies = _percentiles(connection, site_num, start_us, end_us)
    usage = [
        ModelUsage(model, messages, int(inputs), int(outputs), timed, latencies.get(model, {}))
        for model, messages, inputs, outputs, timed in totals
    ]
    return sorted(usage, key=lambda u: (u.model is None, -u.messages, u.model or ""))


def _percentiles(
    connection: Connection, site_num: int, start_us: int, end_us: int
) -> dict[str | None, dict[int, float]]:
    """Percentiles as PostgreSQL's percentile_cont computes them (linear between the two
    values around rank (n - 1) * p), on both databases: the database ranks each model's
    latencies and returns only the few values those ranks need."""
    event = event_table
    ranked = (
        select(
            event.c.model,
            event.c.latency_ms,
            (
                func.row_number().over(partition_by=event.c.model, order_by=event.c.latency_ms) - 1
            ).label("rank"),
            func.count().over(partition_by=event.c.model).label("n"),
        )
        .where(*_replies(site_num, start_us, end_us), event.c.latency_ms.is_not(None))
        .subquery()
    )
    last = ranked.c.n - 1
    # The floor and ceiling of (n - 1) * p, and one beyond each: PostgreSQL computes the rank in
    # floating point, which can land just below or above the exact one.
    needed = [
        rank
        for p in PERCENTILES
        for rank in (
            last * p // 100 - 1,
            last * p // 100,
            (last * p + 99) // 100,
            (last * p + 99) // 100 + 1,
        )
    ]
    rows = connection.execute(
        select(ranked.c.model, ranked.c.rank, ranked.c.n, ranked.c.latency_ms).where(
            ranked.c.rank.in_(needed)
        )
    ).all()
    values: dict[str | None, dict[int, float]] = {}
    counts: dict[str | None, int] = {}
    for model, rank, n, latency in rows:
        values.setdefault(model, {})[rank] = latency
        counts[model] = n
    return {
        model: {p: _interpolate(values[model], counts[model], p) for p in PERCENTILES}
        for model in values
    }


def _interpolate(by_rank: dict[int, float], n: int, percent: int) -> float:
    """percentile_cont's arithmetic, step by step in float8, so the result is PostgreSQL's to
    the last bit."""
    position = percent / 100 * (n - 1)
    first, second = math.floor(position), math.ceil(position)
    if first == second:
        return by_rank[first]
    low, high = by_rank[first], by_rank[second]
    return low + (high - low) * (position - first)


def price_of(model: str | None, prices: dict[str, ModelPrice]) -> ModelPrice | None:
    """The model's own price, else the longest `prefix*` that matches it."""
    if model is None:
        return None
    if model in prices:
        return prices[model]
    matches = [key for key in prices if key.endswith("*") and model.startswith(key[:-1])]
    return prices[max(matches, key=len)] if matches else None


def cost(usage: ModelUsage, price: ModelPrice) -> Decimal:
    """Exact, in US dollars."""
    return (usage.input_tokens * price.input + usage.output_tokens * price.output) / PER_TOKENS
