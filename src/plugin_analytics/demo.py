"""Demo data: realistic chat conversations, stored through ingestion's own storage path.

Users open sessions, more on weekdays and in business hours (UTC) and a little more as the
weeks go by; each session is a conversation alternating user and assistant messages a few
seconds to minutes apart, and a few percent of sessions click a CTA right after an assistant
message. `generate` yields the events in time order; `load` stores them in chunks, each in one
transaction exactly as the ingestion writer stores a group (the insert, then the rollups), so a
chunk touches few rollup periods. The same plan (seed and end time) gives the same events, ids
included, so loading a plan twice stores it once.
"""

import bisect
import itertools
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Literal

from sqlalchemy import Engine

from plugin_analytics.db.models import DEFAULT_SITE_NUM
from plugin_analytics.db.session import write_transaction
from plugin_analytics.db.types import EPOCH, from_epoch_us, to_epoch_us
from plugin_analytics.demo_text import (
    ASSISTANT_FOLLOW_UPS,
    COUNTRIES,
    CTA_LABELS,
    FOLLOW_UPS,
    OPENERS,
    PLANS,
    PRICES,
    TOOLS,
    TOPICS,
    Topic,
)
from plugin_analytics.derived.rollups import add_to_rollups
from plugin_analytics.ingest.schemas import EventCreate
from plugin_analytics.ingest.store import facts, prepare, store_for

SECOND_US = 1_000_000
HOUR_US = 3600 * SECOND_US
DAY_US = 24 * HOUR_US
CHUNK_EVENTS = 20_000  # events per transaction, as in one large ingestion group
EVENTS_PER_USER = 200
EVENTS_PER_SESSION = 50
CONVERTING_SESSIONS = 0.04
REGULAR_VISITS = 0.3  # the share of sessions opened by the most loyal tenth of users
MAX_GAP_US = 180 * SECOND_US  # between two events of a session
RELEASE_AT = 50_000  # generated events held back before those that are final are released
# Relative traffic by UTC hour of day, and by weekday (Monday first).
HOURLY = (
    0.15, 0.10, 0.08, 0.07, 0.08, 0.12, 0.25, 0.45, 0.75, 0.95, 1.00, 1.00,
    0.90, 0.95, 1.00, 0.95, 0.85, 0.70, 0.55, 0.50, 0.45, 0.40, 0.30, 0.20,
)  # fmt: skip
WEEKDAYS = (1.00, 1.05, 1.05, 1.00, 0.90, 0.55, 0.45)

Kind = Literal["user", "assistant", "click"]
# One event before it becomes an EventCreate: time (µs), user, session, type, role, text, CTA.
Row = tuple[
    int, str, str, Literal["message", "cta_click"], Literal["user", "assistant"], str, str | None
]


@dataclass(frozen=True)
class DemoPlan:
    """`events` events by about `users` users in `sessions` sessions, in the `days` days
    before `end_us` (µs since the epoch)."""

    events: int
    days: int
    users: int
    sessions: int
    seed: int
    end_us: int

    @property
    def start_us(self) -> int:
        return self.end_us - self.days * DAY_US


@dataclass(frozen=True)
class LoadResult:
    generated: int
    stored: int  # fewer than generated when some event_ids were already stored
    seconds: float


@dataclass(frozen=True)
class _Session:
    start_us: int
    length: int
    session_id: str
    user_id: str
    converts: bool
    seed: int  # of the conversation's own random numbers, so its timeline can be replayed


def make_plan(
    *, events: int, days: int, users: int | None = None, seed: int = 0, end: datetime | None = None
) -> DemoPlan:
    """A plan with the default numbers of users (events/200) and sessions (events/50)."""
    if events < 1 or days < 1 or (users is not None and users < 1):
        raise ValueError("events, days and users must be at least 1")
    end_us = to_epoch_us(end or datetime.now(UTC))
    users = users or max(1, events // EVENTS_PER_USER)
    return DemoPlan(events, days, users, max(1, events // EVENTS_PER_SESSION), seed, end_us)


def generate(plan: DemoPlan) -> Iterator[EventCreate]:
    """The plan's events as ingestion validates them, in time order."""
    ids = random.Random(f"{plan.seed}-event-ids")
    pending: list[Row] = []
    for session in _sessions(random.Random(plan.seed), plan):
        # Later sessions start no earlier than this one, so what precedes it is final.
        if len(pending) >= RELEASE_AT:
            yield from _release(pending, session.start_us, ids)
        pending.extend(_conversation(session, plan))
    yield from _release(pending, plan.end_us + 1, ids)


def load(
    engine: Engine,
    events: Iterable[EventCreate],
    *,
    site_num: int = DEFAULT_SITE_NUM,
    chunk_events: int = CHUNK_EVENTS,
    on_chunk: Callable[[int], None] | None = None,
) -> LoadResult:
    """Store `events` as the ingestion writer does: insert, then rollups, a transaction a chunk."""
    store = store_for(engine.dialect.name)
    generated = stored = 0
    began = time.perf_counter()
    remaining = iter(events)
    while chunk := list(itertools.islice(remaining, chunk_events)):
        with write_transaction(engine) as connection:
            rows = store.insert(connection, prepare(chunk, datetime.now(UTC), site_num))
            if rows:
                add_to_rollups(connection, facts(rows))
        generated, stored = generated + len(chunk), stored + len(rows)
        if on_chunk is not None:
            on_chunk(len(chunk))
    return LoadResult(generated, stored, time.perf_counter() - began)


def _sessions(rng: random.Random, plan: DemoPlan) -> list[_Session]:
    """Every session of the plan, in start order, each wholly inside the plan's window."""
    user_ids = [_random_id(rng, "user") for _ in range(plan.users)]
    lengths = _session_lengths(rng, plan.events, plan.sessions)
    starts = _start_times(rng, plan)
    sessions = []
    for length, start in zip(lengths, starts, strict=True):
        user_id = user_ids[_user_index(rng, plan.users)]
        converts = length >= 3 and rng.random() < CONVERTING_SESSIONS
        session_id = _random_id(rng, "session")
        session = _Session(start, length, session_id, user_id, converts, rng.getrandbits(64))
        if start + (length - 1) * MAX_GAP_US >= plan.end_us:  # it may run past the end
            duration = _timeline(session, plan)[2][-1]
            session = replace(session, start_us=min(start, plan.end_us - 1 - duration))
        sessions.append(session)
    sessions.sort(key=attrgetter("start_us"))
    return sessions


def _random_id(rng: random.Random, prefix: str) -> str:
    return f"{prefix}_{rng.getrandbits(64):016x}"


def _user_index(rng: random.Random, users: int) -> int:
    """Mostly anyone; sometimes one of the regulars, who come back again and again."""
    if rng.random() < REGULAR_VISITS:
        return rng.randrange(max(1, users // 10))
    return rng.randrange(users)


def _session_lengths(rng: random.Random, events: int, sessions: int) -> list[int]:
    """Lengths adding up to `events`: at least two where possible, most short, a few long."""
    floor = min(2, events // sessions)
    weights = [rng.expovariate(1.0) for _ in range(sessions)]
    scale = (events - floor * sessions) / sum(weights)
    lengths = [floor + int(weight * scale) for weight in weights]
    for _ in range(events - sum(lengths)):
        lengths[rng.randrange(sessions)] += 1
    return lengths


def _start_times(rng: random.Random, plan: DemoPlan) -> list[int]:
    """Session start times, weighted by hour of day, weekday and a gentle growth."""
    slots = plan.days * 24
    weights = (_traffic(plan.start_us + slot * HOUR_US, slot / slots) for slot in range(slots))
    cumulative = list(itertools.accumulate(weights))
    starts = []
    for _ in range(plan.sessions):
        slot = min(bisect.bisect(cumulative, rng.random() * cumulative[-1]), slots - 1)
        starts.append(plan.start_us + slot * HOUR_US + rng.randrange(HOUR_US))
    return starts


def _traffic(at_us: int, progress: float) -> float:
    at = from_epoch_us(at_us)
    return HOURLY[at.hour] * WEEKDAYS[at.weekday()] * (0.8 + 0.4 * progress)


def _conversation(session: _Session, plan: DemoPlan) -> list[Row]:
    """The session's events: questions and answers on one topic, perhaps a CTA click."""
    rng, kinds, offsets = _timeline(session, plan)
    topic = TOPICS[rng.randrange(len(TOPICS))]
    slots = _slots(rng)
    rows: list[Row] = []
    for position, (kind, offset) in enumerate(zip(kinds, offsets, strict=True)):
        at = session.start_us + offset
        if kind == "click":
            label = CTA_LABELS[topic.cta_id]
            rows.append(
                (at, session.user_id, session.session_id, "cta_click", "user", label, topic.cta_id)
            )
        else:
            text = _text(rng, topic, kind, position, slots)
            rows.append((at, session.user_id, session.session_id, "message", kind, text, None))
    return rows


def _kinds(rng: random.Random, session: _Session) -> list[Kind]:
    """User and assistant in turn; a converting session clicks after an assistant message."""
    messages = session.length - session.converts
    kinds: list[Kind] = ["assistant" if i % 2 else "user" for i in range(messages)]
    if session.converts:
        kinds.insert(rng.randrange(1, messages, 2) + 1, "click")
    return kinds


def _timeline(session: _Session, plan: DemoPlan) -> tuple[random.Random, list[Kind], list[int]]:
    """Who speaks when, from the session's own random numbers (which go on to pick the texts)."""
    rng = random.Random(session.seed)
    kinds = _kinds(rng, session)
    return rng, kinds, _offsets(rng, kinds, plan.days * DAY_US - 1)


def _offsets(rng: random.Random, kinds: list[Kind], longest_us: int) -> list[int]:
    """Times (µs) after the session's start: visitors read, think and type for seconds to
    minutes, the assistant answers in seconds. Squeezed if longer than `longest_us`."""
    gaps = [0]
    for kind in kinds[1:]:
        if kind == "user":
            seconds = min(4 + rng.expovariate(1 / 25), MAX_GAP_US / SECOND_US)
        else:
            seconds = rng.uniform(1, 8) if kind == "assistant" else rng.uniform(3, 40)
        gaps.append(int(seconds * SECOND_US))
    offsets = list(itertools.accumulate(gaps))
    if offsets[-1] > longest_us:
        return [offset * longest_us // offsets[-1] for offset in offsets]
    return offsets


def _slots(rng: random.Random) -> dict[str, str]:
    plan, other = rng.sample(PLANS, 2)
    return {
        "plan": plan,
        "other": other,
        "price": rng.choice(PRICES),
        "country": rng.choice(COUNTRIES),
        "tool": rng.choice(TOOLS),
        "days": str(rng.randint(2, 7)),
        "order": str(rng.randint(10_000, 99_999)),
    }


def _text(
    rng: random.Random, topic: Topic, kind: Kind, position: int, slots: dict[str, str]
) -> str:
    if kind == "user":
        if position == 0:
            opener = rng.choice(OPENERS)
            question = rng.choice(topic.questions).format(**slots)
            return f"{opener} {question}" if opener else question
        texts = topic.questions if rng.random() < 0.5 else FOLLOW_UPS
    else:
        texts = topic.answers if position == 1 or rng.random() < 0.7 else ASSISTANT_FOLLOW_UPS
    return rng.choice(texts).format(**slots)


def _release(pending: list[Row], before_us: int, ids: random.Random) -> Iterator[EventCreate]:
    """Yield, in time order, the pending events before `before_us`, and forget them."""
    pending.sort(key=itemgetter(0))
    cut = bisect.bisect_left(pending, before_us, key=itemgetter(0))
    for row in pending[:cut]:
        yield _event(row, ids.getrandbits(74))
    del pending[:cut]


def _event(row: Row, random_bits: int) -> EventCreate:
    at, user_id, session_id, event_type, role, message, cta_id = row
    event: EventCreate = {
        "event_id": _uuid7(at // 1000, random_bits),
        "user_id": user_id,
        "session_id": session_id,
        "event_type": event_type,
        "role": role,
        "message": message,
        "timestamp": EPOCH + timedelta(microseconds=at),
    }
    if cta_id is not None:
        event["cta_id"] = cta_id
    if role == "assistant" and event_type == "message":
        _add_usage(event, message, random_bits)
    return event


# Models a site might run, and about how many milliseconds each takes a generated token.
DEMO_MODELS = (("gpt-4o-mini", 12), ("gpt-4o", 25), ("llama3.1:8b", 18))


def _add_usage(event: EventCreate, message: str, random_bits: int) -> None:
    """What the model that wrote this answer used, from the event's own random bits (so the
    texts and times stay what they were without it)."""
    model, ms_per_token = DEMO_MODELS[random_bits % len(DEMO_MODELS)]
    output = max(1, len(message) // 4)  # about four characters a token
    event["model"] = model
    event["input_tokens"] = 400 + (random_bits >> 4) % 1200  # the prompt and the chat so far
    event["output_tokens"] = output
    event["latency_ms"] = float(300 + output * ms_per_token + (random_bits >> 20) % 700)


def _uuid7(millis: int, random_bits: int) -> str:
    """A UUIDv7 (RFC 9562) for the event's time, from 74 given random bits: like ingestion's
    ids, time-ordered, but reproducible."""
    value = (millis << 80) | (0x7 << 76) | ((random_bits >> 62) << 64) | (0b10 << 62)
    digits = f"{value | (random_bits & ((1 << 62) - 1)):032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
