"""AI insights: a short paragraph on what users asked about and what went unanswered.

The database is read first (`gather`, inside the caller's snapshot); the model is asked
afterwards (`write`), so no transaction waits on it. Without a backend, or when it fails, times
out or answers nothing usable, the paragraph is the built-in summary: the most frequent topics,
phrases and unanswered questions, computed here and the same for the same data.

What a prompt holds: message texts only (never a user or session id), at most AI_MAX_MESSAGES
of them, each shortened to PROMPT_MESSAGE_CHARS.
"""

import concurrent.futures
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Literal

from sqlalchemy import Connection, and_, case, func, literal_column, select

from plugin_analytics.ai.backend import BackendFailed, TextBackend, longest_wait_s
from plugin_analytics.analytics.ranges import DateRange
from plugin_analytics.analytics.text import most_frequent, phrases, shorten, topics
from plugin_analytics.config import Settings
from plugin_analytics.db.models import event_table
from plugin_analytics.db.types import from_epoch_us

logger = logging.getLogger(__name__)

TOP_TOPICS, TOP_PHRASES, TOP_UNANSWERED = 8, 5, 3
PROMPT_MESSAGE_CHARS = 300
MAX_PARAGRAPH_CHARS = 2000
# A question asked just before the range ends may be answered just after it.
REPLY_GRACE = timedelta(hours=1)

SYSTEM_PROMPT = """\
You summarise the conversations of a website's chat assistant for the site's owner. Write one \
short paragraph of plain text (no lists, no markdown, at most 120 words): what users asked \
about most, and what went unanswered or the assistant could not help with. Use only what the \
data shows; never guess who a user is."""


@dataclass(frozen=True)
class InsightData:
    """What the insights are written from: message texts and counts, no ids."""

    span: DateRange
    questions: list[str]  # every user message of the range, in time order
    unanswered: list[str]  # the user messages no assistant message followed in their session

    @cached_property  # each reads every message: once per request, not per use
    def topics(self) -> list[tuple[str, int]]:
        return topics(self.questions, TOP_TOPICS)

    @cached_property
    def phrases(self) -> list[tuple[str, int]]:
        return phrases(self.questions, TOP_PHRASES)

    @cached_property
    def top_unanswered(self) -> list[tuple[str, int]]:
        return most_frequent(self.unanswered, TOP_UNANSWERED)


@dataclass(frozen=True)
class Insight:
    data: InsightData
    paragraph: str
    source: Literal["ai", "built_in"]
    model: str | None = None
    fallback_reason: str | None = None
    prompt_messages: int = field(default=0, compare=False)


def gather(connection: Connection, span: DateRange) -> InsightData:
    """The range's user messages, and which of them no assistant message ever followed (in
    the range, or within REPLY_GRACE after it)."""
    event = event_table
    replies_after = func.count(case((event.c.role == "assistant", 1))).over(
        partition_by=event.c.session_id,
        order_by=(event.c.occurred_at.desc(), event.c.id.desc()),
        rows=(None, -1),  # every later message of the session
    )
    end = from_epoch_us(span.end_us)
    messages = (
        select(
            event.c.message,
            event.c.role,
            event.c.occurred_at,
            event.c.id,
            replies_after.label("replies_after"),
        )
        .where(
            event.c.site_num == span.site_num,
            event.c.event_type == literal_column("'message'"),
            event.c.occurred_at >= from_epoch_us(span.start_us),
            event.c.occurred_at < end + REPLY_GRACE,
        )
        .subquery()
    )
    rows = connection.execute(
        select(messages.c.message, messages.c.replies_after)
        .where(and_(messages.c.role == "user", messages.c.occurred_at < end))
        .order_by(messages.c.occurred_at, messages.c.id)
    ).all()
    return InsightData(
        span=span,
        questions=[message for message, _ in rows],
        unanswered=[message for message, replies in rows if not replies],
    )


def write(
    data: InsightData,
    backend: TextBackend | None,
    settings: Settings,
    period: str = "in this period",
) -> Insight:
    """The paragraph: the backend's, or the built-in one when there is no backend, no
    question to ask about, or no usable answer in time."""
    if backend is None or not data.questions:
        return Insight(data, built_in_paragraph(data, period), "built_in")
    prompt, included = build_prompt(data, settings.ai_max_messages)
    try:
        text = _ask(backend, prompt, longest_wait_s(settings))
    except BackendFailed as exc:
        reason = f"the AI backend ({backend.model}) failed: {exc}"
        logger.warning("AI insights fell back to the built-in summary: %s", reason)
        built_in = built_in_paragraph(data, period)
        return Insight(data, built_in, "built_in", None, reason, included)
    return Insight(data, shorten(text, MAX_PARAGRAPH_CHARS), "ai", backend.model, None, included)


def _ask(backend: TextBackend, prompt: str, deadline_s: float) -> str:
    """The backend's answer within `deadline_s` at the most, however slowly a server trickles
    its bytes (the SDK's timeout is per read)."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ai")
    try:
        return pool.submit(backend.complete, SYSTEM_PROMPT, prompt).result(timeout=deadline_s)
    except concurrent.futures.TimeoutError:
        raise BackendFailed(f"no answer within {deadline_s:g} s") from None
    except BackendFailed:
        raise
    except Exception as exc:  # a backend's bug must not stop the report
        raise BackendFailed(f"it raised {type(exc).__name__}") from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def build_prompt(data: InsightData, max_messages: int) -> tuple[str, int]:
    """The prompt, and how many messages it quotes (at most `max_messages`): the most frequent
    questions and the most frequent unanswered ones, half the room each (a half one side does
    not use goes to the other)."""
    unanswered = most_frequent(data.unanswered, max_messages)
    asked = most_frequent(data.questions, max_messages)
    room_unanswered = max(max_messages // 2, max_messages - len(asked))
    unanswered = unanswered[:room_unanswered]
    asked = asked[: max_messages - len(unanswered)]
    span = data.span
    lines = [
        f"Period: {span.start_date} to {span.end_date}.",
        f"User messages: {len(data.questions)}; unanswered (no reply from the assistant): "
        f"{len(data.unanswered)}.",
        "",
        "Most frequent user messages (count: text):",
        *(f"- {count}: {_quoted(text)}" for text, count in asked),
        "",
        "Unanswered user messages (count: text):",
        *(f"- {count}: {_quoted(text)}" for text, count in unanswered),
    ]
    if not unanswered:
        lines.append("- none")
    return "\n".join(lines), len(asked) + len(unanswered)


def _quoted(text: str) -> str:
    return shorten(" ".join(text.split()), PROMPT_MESSAGE_CHARS)


def built_in_paragraph(data: InsightData, period: str = "in this period") -> str:
    """The deterministic summary: counts, the most frequent topics and phrases, and the
    unanswered questions."""
    asked = len(data.questions)
    if not asked:
        return f"Users asked nothing {period}."
    parts = [f"Users sent {asked:,} {_plural(asked, 'message')} {period}."]
    if data.topics:
        parts.append(f"Most frequent topics: {_listed(data.topics)}.")
    if data.phrases:
        quoted = [(f"\u201c{phrase}\u201d", n) for phrase, n in data.phrases]
        parts.append(f"Frequent phrases: {_listed(quoted)}.")
    unanswered = len(data.unanswered)
    if unanswered:
        top = ", ".join(
            f"\u201c{text}\u201d" + (f" ({count}\u00d7)" if count > 1 else "")
            for text, count in data.top_unanswered
        )
        parts.append(
            f"{unanswered:,} {_plural(unanswered, 'message')} got no reply from the assistant"
            f", most often {top}."
        )
    else:
        parts.append("The assistant replied to every message.")
    return " ".join(parts)


def _listed(counts: list[tuple[str, int]]) -> str:
    return ", ".join(f"{text} ({count:,})" for text, count in counts)


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else noun + "s"
