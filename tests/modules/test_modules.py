"""Analytics modules as they are really installed: throwaway distributions on sys.path, found
through their entry points like the shipped `feedback` module. A module that fails to load, or
fails later (its summary, its report section), is listed with its error and costs only its own
part, on SQLite and PostgreSQL; a good module's routes, metrics, section and event type work."""

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugin_analytics.config import Settings
from tests.conftest import ADMIN, client_for
from tests.helpers import event, stored_events
from tests.modules.conftest import Site

pytestmark = pytest.mark.anyio

DAY = "2026-11-10"
ONE_DAY = {"start_date": DAY, "end_date": DAY}
FEEDBACK_ENTRY_POINT = "plugin_analytics_feedback:FeedbackModule"

# --- the throwaway modules -----------------------------------------------------------------

BROKEN_IMPORT = """
import frobnicate_not_installed  # a dependency that is not installed
"""

NOT_A_MODULE = """
class Helper:
    name = "not_a_module"
"""

MISNAMED = """
from plugin_analytics.modules import Module

class Misnamed(Module):
    name = "other_name"
"""

BAD_NAME = """
from plugin_analytics.modules import Module

class BadName(Module):
    name = "Bad-Name"
"""

# Another package claiming the shipped module's name, with a route of its own. Of two modules
# of one name the first by entry point value loads: shadow_feedback sorts after
# plugin_analytics_feedback (a copy sorting before it would displace the shipped module).
SHADOW_FEEDBACK = """
from fastapi import APIRouter
from plugin_analytics.modules import Module

router = APIRouter()

@router.get("/shadow")
def shadow() -> dict:
    return {"shadow": True}

class Shadow(Module):
    name = "feedback"

    def router(self):
        return router
"""

CHAT_CLASH = """
from plugin_analytics.modules import Module

class ChatClash(Module):
    name = "chat_clash"
    event_types = {"message": dict}
"""

ROUTER_RAISES = """
from plugin_analytics.modules import Module

class RouterRaises(Module):
    name = "router_raises"

    def router(self):
        raise RuntimeError("the routes could not be built")
"""

SUMMARY_RAISES = """
from plugin_analytics.modules import Module

class SummaryRaises(Module):
    name = "summary_raises"

    def summary(self, connection, span):
        raise RuntimeError("the metrics are down")
"""

# Named to run before feedback: its failed statement must not abort what follows (PostgreSQL).
BAD_SQL = """
from sqlalchemy import text
from plugin_analytics.modules import Module

class BadSql(Module):
    name = "badsql"

    def summary(self, connection, span):
        connection.execute(text("SELECT no_such_column FROM event"))
        return {"never": 1}
"""

BROKEN_SECTION = """
from sqlalchemy import text
from plugin_analytics.modules import Module

class BrokenSection(Module):
    name = "broken_section"

    def report_section(self, connection, week):
        connection.execute(text("SELECT * FROM no_such_table"))
"""

# A good module: an event type, a route, a metric and a report section.
HELLO = """
from typing import Literal

from fastapi import APIRouter
from sqlalchemy import func, select
from typing_extensions import TypedDict

from plugin_analytics.modules import (
    Module, RangeDep, ReportSection, SessionDep, event_table, from_epoch_us, range_echo, snapshot,
)


class Signup(TypedDict):
    plan: Literal["free", "pro"]


def signups(connection, span):
    query = select(func.count()).select_from(event_table).where(
        event_table.c.event_type == "signup",
        event_table.c.occurred_at >= from_epoch_us(span.start_us),
        event_table.c.occurred_at < from_epoch_us(span.end_us),
    )
    return connection.execute(query).scalar_one()


router = APIRouter()


@router.get("/signups")
def signup_count(session: SessionDep, span: RangeDep) -> dict:
    return {**range_echo(span), "signups": signups(snapshot(session), span)}


class Hello(Module):
    name = "hello"
    description = "Counts signups."
    event_types = {"signup": Signup}

    def router(self):
        return router

    def summary(self, connection, span):
        return {"signups": signups(connection, span)}

    def report_section(self, connection, week):
        count = signups(connection, week)
        paragraph = f"{count} signups this week & more."
        return ReportSection("Signups <new>", [paragraph], [("plan <pro>", "1")])
"""

THROWAWAYS: dict[str, tuple[str, dict[str, str]]] = {
    "broken_import": (BROKEN_IMPORT, {"broken_import": "broken_import:Module"}),
    "not_a_module": (NOT_A_MODULE, {"not_a_module": "not_a_module:Helper"}),
    "misnamed": (MISNAMED, {"misnamed": "misnamed:Misnamed"}),
    "bad_name": (BAD_NAME, {"Bad-Name": "bad_name:BadName"}),
    "shadow_feedback": (SHADOW_FEEDBACK, {"feedback": "shadow_feedback:Shadow"}),
    "chat_clash": (CHAT_CLASH, {"chat_clash": "chat_clash:ChatClash"}),
    "router_raises": (ROUTER_RAISES, {"router_raises": "router_raises:RouterRaises"}),
    "summary_raises": (SUMMARY_RAISES, {"summary_raises": "summary_raises:SummaryRaises"}),
    "badsql": (BAD_SQL, {"badsql": "badsql:BadSql"}),
    "broken_section": (BROKEN_SECTION, {"broken_section": "broken_section:BrokenSection"}),
    "hello": (HELLO, {"hello": "hello:Hello"}),
}

# (name, entry point): status, and what its error says.
EXPECTED: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("Bad-Name", "bad_name:BadName"): ("failed", ["lowercase letters", "starting with a letter"]),
    ("badsql", "badsql:BadSql"): ("loaded", []),
    ("broken_import", "broken_import:Module"): (
        "failed",
        ["ModuleNotFoundError", "frobnicate_not_installed"],
    ),
    ("broken_section", "broken_section:BrokenSection"): ("loaded", []),
    ("chat_clash", "chat_clash:ChatClash"): ("failed", ["event types ['message']"]),
    ("feedback", FEEDBACK_ENTRY_POINT): ("loaded", []),
    ("feedback", "shadow_feedback:Shadow"): (
        "failed",
        ["another installed module is named 'feedback'"],
    ),
    ("hello", "hello:Hello"): ("loaded", []),
    ("misnamed", "misnamed:Misnamed"): ("failed", ["'misnamed'", "'other_name'"]),
    ("not_a_module", "not_a_module:Helper"): (
        "failed",
        ["TypeError", "Helper", "is not a plugin_analytics.modules.Module"],
    ),
    ("router_raises", "router_raises:RouterRaises"): (
        "failed",
        ["RuntimeError: the routes could not be built"],
    ),
    ("summary_raises", "summary_raises:SummaryRaises"): ("loaded", []),
}


def install_throwaways(site: Site) -> None:
    for package, (source, entry_points) in THROWAWAYS.items():
        site.install(package, source, entry_points)


@pytest.fixture
async def crowded(site: Site, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app started with every throwaway module installed beside feedback."""
    install_throwaways(site)
    async with client_for(settings) as http:
        yield http


async def listed(client: httpx.AsyncClient) -> dict[tuple[str, str], dict[str, Any]]:
    response = await client.get("/plugins", headers=ADMIN)
    assert response.status_code == 200, response.text
    return {(item["name"], item["entry_point"]): item for item in response.json()["plugins"]}


def at(minute: int) -> str:
    return f"{DAY}T10:{minute:02d}:00Z"


# --- loading -------------------------------------------------------------------------------


async def test_plugins_lists_every_failure_with_why(crowded: httpx.AsyncClient) -> None:
    plugins = await listed(crowded)
    assert set(plugins) == set(EXPECTED)
    for key, (status, fragments) in EXPECTED.items():
        item = plugins[key]
        assert item["status"] == status, item
        if status == "loaded":
            assert item["error"] is None, item
        for fragment in fragments:
            assert fragment in item["error"], item
        if status == "failed":  # nothing of a failed module is offered
            assert (item["provides"], item["routes"], item["event_types"]) == ([], [], []), item
    feedback = plugins["feedback", FEEDBACK_ENTRY_POINT]
    assert feedback["distribution"] == "plugin-analytics-feedback"
    assert feedback["version"] == "0.1.0"
    assert feedback["provides"] == ["routes", "summary", "report_section", "event_types"]
    assert feedback["routes"] == ["/plugins/feedback/summary", "/plugins/feedback/worst"]
    assert feedback["event_types"] == ["feedback"]
    hello = plugins["hello", "hello:Hello"]
    assert (hello["distribution"], hello["version"]) == ("hello", "1.0")
    assert hello["description"] == "Counts signups."
    assert hello["provides"] == ["routes", "summary", "report_section", "event_types"]
    assert hello["routes"] == ["/plugins/hello/signups"]
    assert hello["event_types"] == ["signup"]
    assert plugins["summary_raises", "summary_raises:SummaryRaises"]["provides"] == ["summary"]
    assert plugins["broken_section", "broken_section:BrokenSection"]["provides"] == [
        "report_section"
    ]


async def test_plugins_needs_the_admin_key(crowded: httpx.AsyncClient) -> None:
    assert (await crowded.get("/plugins")).status_code == 401
    wrong = {"Authorization": "Bearer not-the-admin-key-at-all"}
    assert (await crowded.get("/plugins", headers=wrong)).status_code == 401


async def test_failures_cost_only_their_own_part(
    crowded: httpx.AsyncClient, database_url: str
) -> None:
    """Ingestion, the summary (after a module's failed SQL statement, which would abort a
    PostgreSQL transaction) and the feedback module all work as without the failures."""
    events = [
        event(event_id="q1", timestamp=at(0), message="Do you ship to Norway?"),
        event(event_id="a1", timestamp=at(1), message="Yes.", role="assistant"),
        event(
            event_type="feedback",
            timestamp=at(2),
            properties={"rating": "up", "message_id": "a1"},
        ),
        event(event_type="signup", timestamp=at(3), properties={"plan": "pro"}),
    ]
    response = await crowded.post("/client/batch", json={"events": events})
    assert response.status_code == 200, response.text
    assert [row["event_type"] for row in stored_events(database_url)] == [
        "message",
        "message",
        "feedback",
        "signup",
    ]

    response = await crowded.get("/analytics/summary", params=ONE_DAY, headers=ADMIN)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["total_messages"], summary["sessions"], summary["unique_users"]) == (2, 1, 1)
    assert summary["plugins"] == {
        "feedback": {"ratings": 1, "thumbs_up": 1, "thumbs_down": 0, "satisfaction_rate": 1.0},
        "hello": {"signups": 1},
    }
    errors = summary["plugin_errors"]
    assert set(errors) == {"badsql", "summary_raises"}
    assert errors["summary_raises"] == "RuntimeError: the metrics are down"
    assert "no_such_column" in errors["badsql"]

    # Only loaded modules' routes are served: the shadow's /shadow is not feedback's.
    assert (await crowded.get("/plugins/feedback/shadow", headers=ADMIN)).status_code == 404
    feedback = await crowded.get("/plugins/feedback/summary", params=ONE_DAY, headers=ADMIN)
    assert feedback.status_code == 200, feedback.text
    assert feedback.json()["ratings"] == 1
    assert (await crowded.get("/healthz")).status_code == 200


async def test_a_failed_section_says_so_and_the_rest_is_built(
    crowded: httpx.AsyncClient,
) -> None:
    response = await crowded.get("/reports/weekly/preview", headers=ADMIN)
    assert response.status_code == 200, response.text
    html = response.text
    assert "could not be built" in html
    start = html.index(">broken_section</h2>")
    failed = html[start : html.index("</td></tr>", start)]
    assert "This section could not be built (" in failed
    assert "no_such_table" in failed
    # The sections after it, on the same transaction, are built.
    assert ">User feedback</h2>" in html
    assert "No answers were rated this week." in html
    assert ">Signups &lt;new&gt;</h2>" in html
    assert "0 signups this week &amp; more." in html
    assert "plan &lt;pro&gt;" in html
    assert html.index(">broken_section</h2>") < html.index(">User feedback</h2>")


async def test_a_good_module_serves_its_routes_behind_the_admin_key(
    crowded: httpx.AsyncClient, database_url: str
) -> None:
    signup = event(event_type="signup", timestamp=at(5), properties={"plan": "free"})
    assert (await crowded.post("/client/update", json=signup)).status_code == 200

    assert (await crowded.get("/plugins/hello/signups", params=ONE_DAY)).status_code == 401
    wrong = {"Authorization": "Bearer wrong-key-wrong-key-wrong"}
    refused = await crowded.get("/plugins/hello/signups", params=ONE_DAY, headers=wrong)
    assert refused.status_code == 401
    response = await crowded.get("/plugins/hello/signups", params=ONE_DAY, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "start_date": DAY,
        "end_date": DAY,
        "tz": "UTC",
        "signups": 1,
    }
    # Its range is checked like the analytics endpoints'.
    backwards = {"start_date": DAY, "end_date": "2026-11-01"}
    assert (
        await crowded.get("/plugins/hello/signups", params=backwards, headers=ADMIN)
    ).status_code == 400

    # Its event type's properties are validated; nothing of a refused request is stored.
    bad = event(event_type="signup", timestamp=at(6), properties={"plan": "gold"})
    response = await crowded.post("/client/batch", json={"events": [signup, bad]})
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [
        ["body", "events", 1, "properties", "plan"]
    ]
    assert len(stored_events(database_url)) == 1

    summary = await crowded.get("/analytics/summary", params=ONE_DAY, headers=ADMIN)
    assert summary.json()["plugins"]["hello"] == {"signups": 1}
    assert summary.json()["total_messages"] == 0  # a module's events are not chat
    openapi = (await crowded.get("/openapi.json")).json()
    assert "/plugins/hello/signups" in openapi["paths"]
    assert "/plugins/feedback/worst" in openapi["paths"]


async def test_event_type_of_a_failed_module_is_refused(crowded: httpx.AsyncClient) -> None:
    """chat_clash did not load: the event types ingestion names are feedback and signup."""
    response = await crowded.post("/client/update", json=event(event_type="survey"))
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "event_type"]
    assert error["msg"] == (
        "Input should be 'message' or 'cta_click', or an installed module's: 'feedback', 'signup'"
    )


# --- the CLI -------------------------------------------------------------------------------


def test_cli_lists_the_modules_and_why_some_failed(site: Site, tmp_path: Path) -> None:
    install_throwaways(site)
    command = Path(sys.executable).with_name("plugin-analytics")
    result = subprocess.run(
        [str(command), "plugins"],
        env={**os.environ, "PYTHONPATH": str(site.path), "COLUMNS": "400"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    rows = {
        (cells[0], cells[1]): cells
        for line in lines
        if len(cells := [cell.strip() for cell in line.split("│")[1:-1]]) == 5
    }
    statuses = {
        "Bad-Name": ["failed"],
        "badsql": ["loaded"],
        "broken_import": ["failed"],
        "broken_section": ["loaded"],
        "chat_clash": ["failed"],
        "feedback": ["loaded", "failed"],
        "hello": ["loaded"],
        "misnamed": ["failed"],
        "not_a_module": ["failed"],
        "router_raises": ["failed"],
        "summary_raises": ["loaded"],
    }
    assert sorted(rows) == sorted(
        (name, status) for name, kinds in statuses.items() for status in kinds
    )
    hello = rows["hello", "loaded"]
    assert hello[2:] == [
        "1.0",
        "routes, summary, report_section, event_types",
        "hello (hello:Hello)",
    ]
    assert rows["feedback", "loaded"][4] == f"plugin-analytics-feedback ({FEEDBACK_ENTRY_POINT})"
    assert rows["feedback", "failed"][4] == "shadow-feedback (shadow_feedback:Shadow)"
    errors = [line for line in lines if ": " in line and "│" not in line]
    for (name, _), (status, fragments) in EXPECTED.items():
        if status == "failed":
            [line] = [
                line for line in errors if line.startswith(f"{name}: ") and fragments[0] in line
            ]
            assert all(fragment in line for fragment in fragments), line
    assert "router_raises: RuntimeError: the routes could not be built" in lines


# --- failures the loader must catch as well --------------------------------------------------

SURVEY = """
from typing import Any
from plugin_analytics.modules import Module

class Survey(Module):
    name = "survey"
    event_types = {"feedback": dict[str, Any]}
"""

TEXTUAL = """
from plugin_analytics.modules import Module

class Textual(Module):
    name = "textual"

    def summary(self, connection, span):
        return {"status": "green"}
"""

ODD_ROUTER = """
from plugin_analytics.modules import Module

class OddRouter(Module):
    name = "odd_router"

    def router(self):
        return "/odd"
"""

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
async def test_an_event_type_another_module_declares_is_a_clash(
    site: Site, settings: Settings, database_url: str
) -> None:
    site.install("survey", SURVEY, {"survey": "survey:Survey"})
    async with client_for(settings) as http:
        bad = event(event_type="feedback", properties={"rating": "meh", "message_id": "a1"})
        response = await http.post("/client/update", json=bad)
        assert response.status_code == 422, response.text
        assert stored_events(database_url) == []
        plugins = await listed(http)
        assert plugins["feedback", FEEDBACK_ENTRY_POINT]["status"] == "loaded"
        survey = plugins["survey", "survey:Survey"]
        assert survey["status"] == "failed"
        assert "feedback" in survey["error"]


@SQLITE_ONLY
async def test_metrics_that_are_not_numbers_are_that_modules_failure(
    site: Site, settings: Settings
) -> None:
    site.install("textual", TEXTUAL, {"textual": "textual:Textual"})
    async with client_for(settings) as http:
        response = await http.get("/analytics/summary", params=ONE_DAY, headers=ADMIN)
        assert response.status_code == 200, response.text
        summary = response.json()
        assert set(summary["plugins"]) == {"feedback"}
        assert set(summary["plugin_errors"]) == {"textual"}


@SQLITE_ONLY
async def test_a_router_that_is_not_a_router_fails_that_module(
    site: Site, settings: Settings
) -> None:
    site.install("odd_router", ODD_ROUTER, {"odd_router": "odd_router:OddRouter"})
    async with client_for(settings) as http:
        plugins = await listed(http)
        odd = plugins["odd_router", "odd_router:OddRouter"]
        assert odd["status"] == "failed"
        assert odd["error"]
        assert plugins["feedback", FEEDBACK_ENTRY_POINT]["status"] == "loaded"
