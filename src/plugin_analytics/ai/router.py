"""GET /analytics/ai (model usage and cost) and GET /analytics/insights."""

from fastapi import APIRouter

from plugin_analytics.ai.backend import backend_of
from plugin_analytics.ai.insights import gather, write
from plugin_analytics.ai.schemas import AiUsage, Count, Insights, ModelReport, Price
from plugin_analytics.ai.usage import cost, model_usage, price_of
from plugin_analytics.db.session import snapshot
from plugin_analytics.dependencies import SessionDep, SettingsDep
from plugin_analytics.reading import RANGE_REFUSALS, RangeDep, range_echo
from plugin_analytics.security import READER_REFUSALS, ReaderGuard

router = APIRouter(tags=["ai"], dependencies=[ReaderGuard], responses=READER_REFUSALS)


@router.get("/analytics/ai", response_model=AiUsage, responses=RANGE_REFUSALS)
def ai_usage(session: SessionDep, span: RangeDep, settings: SettingsDep) -> AiUsage:
    """Per model: the assistant's messages, tokens, latency (p50, p95) and cost from
    AI_PRICES, over whole days in `tz`. Messages sent without a model are the `null` model."""
    prices = settings.ai_prices
    usage = model_usage(snapshot(session), span.site_num, span.start_us, span.end_us)
    reports = []
    for entry in usage:
        price = price_of(entry.model, prices)
        reports.append(
            ModelReport(
                model=entry.model,
                messages=entry.messages,
                input_tokens=entry.input_tokens,
                output_tokens=entry.output_tokens,
                total_tokens=entry.input_tokens + entry.output_tokens,
                timed_messages=entry.timed,
                latency_p50_ms=entry.latency_ms.get(50),
                latency_p95_ms=entry.latency_ms.get(95),
                price=Price(input=price.input, output=price.output) if price else None,
                cost_usd=cost(entry, price) if price else None,
            )
        )
    return AiUsage(
        **range_echo(span),
        assistant_messages=sum(entry.messages for entry in usage),
        input_tokens=sum(entry.input_tokens for entry in usage),
        output_tokens=sum(entry.output_tokens for entry in usage),
        cost_usd=sum((r.cost_usd for r in reports if r.cost_usd is not None), start=0),
        unpriced_models=[
            r.model for r in reports if r.model is not None and r.price is None and r.total_tokens
        ],
        models=reports,
    )


@router.get("/analytics/insights", response_model=Insights, responses=RANGE_REFUSALS)
def insights(session: SessionDep, span: RangeDep, settings: SettingsDep) -> Insights:
    """A short paragraph on what users asked about and what went unanswered, written by the
    configured AI backend; without one, or when it fails or times out, the built-in summary
    of the most frequent topics, phrases and unanswered messages."""
    data = gather(snapshot(session), span)
    session.close()  # the model may take a while: hold no connection meanwhile
    insight = write(data, backend_of(settings), settings)
    return Insights(
        **range_echo(span),
        source=insight.source,
        model=insight.model,
        fallback_reason=insight.fallback_reason,
        paragraph=insight.paragraph,
        questions=len(data.questions),
        unanswered=len(data.unanswered),
        topics=[Count(text=text, messages=n) for text, n in data.topics],
        phrases=[Count(text=text, messages=n) for text, n in data.phrases],
        top_unanswered=[Count(text=text, messages=n) for text, n in data.top_unanswered],
    )
