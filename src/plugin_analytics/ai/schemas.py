"""Answers of GET /analytics/ai and GET /analytics/insights."""

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, PlainSerializer

from plugin_analytics.analytics.schemas import RangeEcho

# Exact in the computation; a JSON number (not a string, pydantic's default for Decimal).
Dollars = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class Price(BaseModel):
    input: Dollars = Field(description="US dollars per million input tokens.")
    output: Dollars = Field(description="US dollars per million output tokens.")


class ModelReport(BaseModel):
    model: str | None = Field(description="null: replies sent without a model.")
    messages: int = Field(description="Assistant messages written by this model.")
    input_tokens: int
    output_tokens: int
    total_tokens: int
    timed_messages: int = Field(description="Messages that carried latency_ms.")
    latency_p50_ms: float | None = Field(description="Median latency; null if none was timed.")
    latency_p95_ms: float | None = Field(description="95th percentile latency (interpolated).")
    price: Price | None = Field(description="From AI_PRICES; null when it has no price for it.")
    cost_usd: Dollars | None = Field(description="Tokens times price; null without a price.")


class AiUsage(RangeEcho):
    assistant_messages: int
    input_tokens: int
    output_tokens: int
    cost_usd: Dollars = Field(description="Cost of the models that have a price.")
    unpriced_models: list[str] = Field(
        description="Models with tokens but no price in AI_PRICES: their cost is not counted."
    )
    models: list[ModelReport] = Field(description="Most messages first; null model last.")


class Count(BaseModel):
    text: str
    messages: int


class Insights(RangeEcho):
    source: Literal["ai", "built_in"] = Field(
        description="`ai`: written by the configured model; `built_in`: the deterministic "
        "summary, used without a backend or when it failed."
    )
    model: str | None = Field(description="The model that wrote the paragraph, if one did.")
    fallback_reason: str | None = Field(
        description="Why the built-in summary was used although a backend is configured."
    )
    paragraph: str
    questions: int = Field(description="User messages in the range.")
    unanswered: int = Field(description="User messages the assistant never replied to.")
    topics: list[Count] = Field(description="Most frequent words, by messages holding them.")
    phrases: list[Count] = Field(description="Most frequent phrases of two or three words.")
    top_unanswered: list[Count] = Field(description="Most frequent unanswered messages.")
