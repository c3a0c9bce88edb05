"""The sections' one shape without a database: which template part draws a section, every kind
having its part in both formats, pending sections written in their place after the snapshot,
and a section of any kind drawn in an email (user text escaped in the HTML)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from plugin_analytics.config import load_settings
from plugin_analytics.db.models import DEFAULT_SITE_NUM
from plugin_analytics.modules.interface import ReportSection
from plugin_analytics.reports.build import WeeklyReport, last_complete_week
from plugin_analytics.reports.render import render, templates
from plugin_analytics.reports.sections import (
    Chart,
    Noted,
    Pending,
    Ranking,
    Section,
    Table,
    Tiles,
    part_of,
)

WEEK = last_complete_week(
    datetime(2026, 11, 25, 12, tzinfo=UTC), ZoneInfo("Europe/Paris"), DEFAULT_SITE_NUM
)


def kinds_of(kind: type[Section]) -> list[type[Section]]:
    """`kind` and every subclass of it, however deep."""
    return [kind, *(sub for child in kind.__subclasses__() for sub in kinds_of(child))]


KINDS = kinds_of(Section)


def test_a_modules_section_is_drawn_plain_and_each_kind_by_its_part() -> None:
    assert part_of(ReportSection("A module's")) == "plain"
    assert {kind.__name__: kind.part for kind in KINDS} == {
        "Section": "plain",
        "Tiles": "tiles",
        "Chart": "chart",
        "Table": "table",
        "Ranking": "ranking",
        "Noted": "noted",
    }
    assert part_of(Ranking(title="Top", empty="None")) == "ranking"


@pytest.mark.parametrize("template", ["sections.html", "sections.txt"])
def test_every_part_is_a_macro_of_both_templates(template: str) -> None:
    parts = templates.get_template(template).module
    for kind in KINDS:
        assert callable(getattr(parts, kind.part, None)), (template, kind.part)


def test_pending_sections_are_written_in_their_place_and_none_dropped() -> None:
    settings = load_settings(_env_file=None)
    asked: list[object] = []

    def write(given: object) -> ReportSection:
        asked.append(given)
        return ReportSection("Written")

    report = WeeklyReport(
        "Acme",
        WEEK,
        [],
        [ReportSection("First"), Pending(write), Pending(lambda _: None), ReportSection("Last")],
    )
    written = report.written(settings)
    assert all(isinstance(section, ReportSection) for section in written.sections)
    titles = [section.title for section in written.sections if isinstance(section, ReportSection)]
    assert titles == ["First", "Written", "Last"]
    assert asked == [settings]
    assert len(report.sections) == 4  # the report itself is left as it was


def test_sections_of_every_kind_are_drawn_in_both_formats() -> None:
    sections: list[ReportSection | Pending] = [
        Tiles(title="Numbers", tiles=[{"label": "Hits", "value": "3", "change": "new",
                                       "color": "#047857"}]),
        Chart(title="Daily", alt="Hits per day", legend="hits", rows=[("Mon", "3")],
              highlights=[("Best", "Monday <1>")]),
        Table(title="Pages", columns=("Page", "Hits"), cells=[("/a<b>", "3")],
              rows=[("/a<b>", "3 hits")], empty="No pages."),
        Table(title="Nothing", columns=("Page",), cells=[], empty="No pages <this> week."),
        Ranking(title="Asked", rows=[("Why <not>?", "2")], empty="None."),
        Noted(title="Summary", paragraphs=["All <good>."], note="Written by hand."),
        ReportSection("Plain <title>", ["A paragraph."], [("label", "value")]),
        Pending(lambda _: ReportSection("Never written")),
    ]  # fmt: skip
    email = render(WeeklyReport("Acme", WEEK, [], sections), "")
    lines = [line.strip() for line in email.text.splitlines()]
    for line in [
        "Hits                        3   new",
        "Daily (hits):",
        "Mon  3",
        "Best: Monday <1>.",
        "/a<b>: 3 hits",
        "No pages <this> week.",
        "1. Why <not>? (2)",
        "All <good>.",
        "(Written by hand.)",
        "Plain <title>:",
        "label: value",
    ]:
        assert line in lines, (line, email.text)
    for part in [
        ">Hits</div>",
        'alt="Hits per day"',
        "Best: <b>Monday &lt;1&gt;</b>.",
        '<td style="padding:4px 0;">/a&lt;b&gt;</td><td align="right">3</td>',
        "No pages &lt;this&gt; week.</p>",
        "Why &lt;not&gt;? <span",
        ">All &lt;good&gt;.</p>",
        ">Written by hand.</p>",
        ">Plain &lt;title&gt;</h2>",
    ]:
        assert part in email.html, (part, email.html)
    assert "Never written" not in email.text + email.html
    assert "<b>Monday" not in email.text
