"""The weekly report's "What users asked about": sent through the real app (SQLite and
PostgreSQL) to the report tests' real SMTP server, the paragraph written by a model behind a
real OpenAI-compatible server on loopback, or the built-in summary when that server fails; and
the AI settings that choose the backend."""

import html
import re
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from plugin_analytics.ai.backend import OPENAI_URL, OpenAIBackend, backend_of, longest_wait_s
from plugin_analytics.config import Settings, SettingsError, load_settings
from tests.ai import openai_server as answers
from tests.ai.conftest import MODEL, TIMEOUT_S, ai_values, served_by
from tests.ai.openai_server import OpenAIServer
from tests.conftest import client_for
from tests.helpers import event
from tests.reports.conftest import settings_for
from tests.reports.mail import at, check_delivery, message_parts, report_monday, send
from tests.reports.smtp import SmtpServer

pytestmark = pytest.mark.anyio

API_KEY = "sk-test-report-0123456789abcdef"
SECTION = "What users asked about"


def msg(monday: date, day: int, hour: int, user: str, text: str, role: str = "user") -> Any:
    """A message in session `user`, `day` days after `monday` at `hour`:00 (Paris)."""
    when = at(monday, day, hour, 0 if role == "user" else 1)
    session = f"session-{user}"
    return event(user_id=user, session_id=session, timestamp=when, message=text, role=role)


def week_events(monday: date) -> list[dict[str, Any]]:
    """Four user messages; both about cancelling got no reply."""
    return [
        msg(monday, 0, 10, "u1", "Do you ship to Norway?"),
        msg(monday, 0, 10, "u1", "Yes, in 3 days.", "assistant"),
        msg(monday, 1, 14, "u2", "Can I cancel my subscription?"),
        msg(monday, 2, 9, "u3", "Can I cancel my subscription?"),
        msg(monday, 3, 20, "u4", "Do you ship to Norway?"),
        msg(monday, 3, 20, "u4", "We do.", "assistant"),
    ]


WEEK_BUILT_IN = (
    "Users sent 4 messages this week. Most frequent topics: cancel (2), norway (2), ship (2), "
    "subscription (2). Frequent phrases: \u201ccancel my subscription\u201d (2), \u201cship to "
    "norway\u201d (2). 2 messages got no reply from the assistant, most often \u201cCan I "
    "cancel my subscription?\u201d (2\u00d7)."
)
FALLBACK_NOTE = f"Built-in summary, because the AI backend ({MODEL}) failed: "


async def send_week(database_url: str, smtp: SmtpServer, **ai: Any) -> EmailMessage:
    """Ingest the last complete week, send its report, and the message SMTP received."""
    settings = settings_for(database_url, **smtp.settings(), **ai_values(**ai))
    async with client_for(settings) as client:
        await ingest(client, week_events(report_monday()))
        response = await send(client)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "report_sent"
    return check_delivery(smtp)


async def ingest(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    response = await client.post("/client/batch", json={"events": events})
    assert response.status_code == 200, response.text


def insight_of(message: EmailMessage) -> tuple[str, str]:
    """The section's paragraph and note, from the text part (unwrapped), checked against the
    HTML part (unescaped)."""
    parts = message_parts(message)
    text, page = parts["text"].get_content(), parts["html"].get_content()
    lines = text.splitlines()
    section = lines[lines.index(f"{SECTION}:") + 1 : lines.index("What users opened with:")]
    *wrapped, note_line = [line for line in section if line.strip()]
    assert note_line.startswith("("), section
    assert note_line.endswith(")"), section
    paragraph, note = " ".join(" ".join(wrapped).split()), note_line[1:-1]
    shown = re.search(rf"{SECTION}</h2>\s*<p[^>]*>(.*?)</p>\s*<p[^>]*>(.*?)</p>", page, re.DOTALL)
    assert shown, page
    assert (html.unescape(shown[1]), html.unescape(shown[2])) == (paragraph, note)
    return paragraph, note


# --- the paragraph in the email ------------------------------------------------------------------


async def test_report_holds_the_models_paragraph(
    database_url: str, smtp: SmtpServer, openai_server: OpenAIServer
) -> None:
    # A model's text is untrusted (it may repeat what users wrote): the HTML escapes it.
    written = "Shipping to Norway & cancelling came up; <b>two</b> went unanswered."
    openai_server.answer(answers.text(written))
    message = await send_week(
        database_url, smtp, **served_by(openai_server, openai_api_key=API_KEY)
    )

    assert insight_of(message) == (written, f"Written by {MODEL} from this week's messages.")
    page = message_parts(message)["html"].get_content()
    assert "&lt;b&gt;two&lt;/b&gt;" in page
    assert "<b>two</b>" not in page
    monday = report_monday()
    [request] = openai_server.requests
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    prompt = request.body["messages"][1]["content"]
    assert prompt.startswith(f"Period: {monday} to {monday + timedelta(days=6)}.\n")
    assert "- 2: Can I cancel my subscription?" in prompt.splitlines()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (answers.SERVER_ERROR, "it answered HTTP 500: The server had an error"),
        (answers.slow(30), f"no answer within {TIMEOUT_S:g} s"),
        (answers.raw(b"<html>Bad gateway</html>"), "its answer was malformed"),
    ],
    ids=["500", "timeout", "not-json"],
)
async def test_report_is_sent_with_the_built_in_summary_when_the_backend_fails(
    database_url: str,
    smtp: SmtpServer,
    openai_server: OpenAIServer,
    answer: answers.Answer,
    reason: str,
) -> None:
    openai_server.answer(answer)
    message = await send_week(database_url, smtp, **served_by(openai_server))

    paragraph, note = insight_of(message)
    assert paragraph == WEEK_BUILT_IN
    assert note.startswith(FALLBACK_NOTE + reason), note
    assert openai_server.requests  # it was asked


async def test_the_failure_note_ends_with_one_full_stop(
    sqlite_url: str, smtp: SmtpServer, openai_server: OpenAIServer
) -> None:
    openai_server.answer(answers.SERVER_ERROR)
    message = await send_week(sqlite_url, smtp, **served_by(openai_server))

    _, note = insight_of(message)
    assert note == (
        FALLBACK_NOTE + "it answered HTTP 500: The server had an error while processing your "
        "request."
    )


async def test_report_without_a_backend_says_the_summary_is_built_in(
    database_url: str, smtp: SmtpServer
) -> None:
    message = await send_week(database_url, smtp)

    assert insight_of(message) == (
        WEEK_BUILT_IN,
        "Built-in summary of the most frequent topics and phrases.",
    )


# --- choosing the backend ------------------------------------------------------------------------


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No variable of the test run's environment reaches the settings."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def from_environment(environment: pytest.MonkeyPatch, **variables: str) -> Settings:
    for name, value in variables.items():
        environment.setenv(name, value)
    return load_settings(_env_file=None)


def test_openai_backend_needs_a_key_or_a_url(environment: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="AI_BACKEND=openai needs OPENAI_API_KEY"):
        from_environment(environment, AI_BACKEND="openai")


@pytest.mark.parametrize("model", [None, "", "  "], ids=["unset", "empty", "blank"])
def test_a_base_url_needs_a_model(environment: pytest.MonkeyPatch, model: str | None) -> None:
    variables = {"AI_BASE_URL": "http://127.0.0.1:11434/v1"}
    if model is not None:
        variables["AI_MODEL"] = model
    with pytest.raises(SettingsError, match="AI_BASE_URL needs AI_MODEL"):
        from_environment(environment, **variables)
    with pytest.raises(SettingsError, match="AI_BASE_URL needs AI_MODEL"):
        from_environment(environment, AI_BACKEND="openai")  # the URL still set: chosen outright


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AI_BACKEND", "llama"),
        ("AI_BASE_URL", "127.0.0.1:11434/v1"),
        ("AI_TIMEOUT_SECONDS", "0"),
        ("AI_MAX_MESSAGES", "0"),
    ],
)
def test_bad_ai_values_are_named(environment: pytest.MonkeyPatch, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"  {name}: "):
        from_environment(environment, OPENAI_API_KEY=API_KEY, AI_MODEL=MODEL, **{name: value})


def test_none_switches_the_backend_off_whatever_else_is_set(
    environment: pytest.MonkeyPatch,
) -> None:
    # A URL without a model is no error either: no backend will use it.
    settings = from_environment(
        environment,
        AI_BACKEND="none",
        OPENAI_API_KEY=API_KEY,
        AI_BASE_URL="http://127.0.0.1:11434/v1",
    )
    assert settings.ai_enabled is False
    assert backend_of(settings) is None
    assert longest_wait_s(settings) == 0
    assert API_KEY not in repr(settings)


def test_without_ai_variables_there_is_no_backend(environment: pytest.MonkeyPatch) -> None:
    settings = from_environment(environment)
    assert (settings.ai_enabled, backend_of(settings)) == (False, None)


def test_a_key_alone_means_openai(environment: pytest.MonkeyPatch) -> None:
    settings = from_environment(environment, OPENAI_API_KEY=API_KEY, AI_TIMEOUT_SECONDS="7")
    backend = backend_of(settings)
    assert isinstance(backend, OpenAIBackend)
    assert (backend.base_url, backend.api_key, backend.timeout_s) == (OPENAI_URL, API_KEY, 7.0)
    assert backend.model  # OpenAI's default model
    assert longest_wait_s(settings) >= 2 * 7.0  # a try and a retry


def test_a_base_url_means_that_server_and_its_model(environment: pytest.MonkeyPatch) -> None:
    settings = from_environment(
        environment, AI_BACKEND="openai", AI_BASE_URL="http://127.0.0.1:11434/v1", AI_MODEL=MODEL
    )
    backend = backend_of(settings)
    assert isinstance(backend, OpenAIBackend)
    assert (backend.base_url, backend.model) == ("http://127.0.0.1:11434/v1", MODEL)
