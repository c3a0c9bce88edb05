"""What a module's report_section may return: a ReportSection, or anything with a title (an
object or a mapping of title, paragraphs, rows, as the email's template has always read them);
anything else is that module's failure, said in its place."""

from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, Engine

from plugin_analytics.analytics.ranges import DateRange
from plugin_analytics.db.models import DEFAULT_SITE_NUM
from plugin_analytics.modules import Module, ReportSection
from plugin_analytics.modules.registry import LoadedModule, Modules

WEEK = DateRange(date(2026, 3, 2), date(2026, 3, 8), ZoneInfo("UTC"), DEFAULT_SITE_NUM)


@dataclass
class OwnSection:
    title: str
    paragraphs: tuple[str, ...] = ()


def sections_of(engine: Engine, made: Any) -> list[ReportSection]:
    class Returns(Module):
        name = "returns"

        def report_section(self, connection: Connection, week: DateRange) -> Any:
            return made

    found = LoadedModule("returns", "returns:Returns", None, None, module=Returns())
    with engine.connect() as connection:
        return Modules([found]).report_sections(connection, WEEK)


@pytest.mark.parametrize(
    "made",
    [
        ReportSection("Signups", ["3 this week."], [("pro", "1")]),
        OwnSection("Signups", ("3 this week.",)),
        {"title": "Signups", "paragraphs": ["3 this week."], "rows": [("pro", "1")]},
    ],
    ids=["report-section", "own-object", "mapping"],
)
def test_anything_with_a_title_is_drawn(engine: Engine, made: Any) -> None:
    [section] = sections_of(engine, made)
    assert section.title == "Signups"
    assert list(section.paragraphs) == ["3 this week."]


def test_no_section_is_none(engine: Engine) -> None:
    assert sections_of(engine, None) == []


@pytest.mark.parametrize("made", ["Signups", 42, {"paragraphs": ["no title"]}])
def test_anything_else_is_the_modules_failure(engine: Engine, made: Any) -> None:
    [section] = sections_of(engine, made)
    assert section.title == "returns"
    [paragraph] = section.paragraphs
    assert paragraph.startswith("This section could not be built (TypeError: ")
