"""The one shape of the weekly email's sections. Every section is a `ReportSection` (a title,
paragraphs and (label, value) rows, all plain text), as an analytics module returns it. A
built-in section that shows more is one of the kinds below: a `ReportSection` with the fields
it needs besides, drawn by the template part its `part` names (a macro of that name in
templates/sections.html and templates/sections.txt). A module's section is drawn by the part
"plain"."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypedDict

from plugin_analytics.config import Settings
from plugin_analytics.modules.interface import ReportSection


@dataclass(frozen=True, kw_only=True)
class Section(ReportSection):
    """A built-in kind of section; `part` names the template part that draws it."""

    part: ClassVar[str] = "plain"


class Tile(TypedDict):
    label: str
    value: str
    change: str  # since the week before: "+12%", "-1.5 pts", "new"
    color: str  # of the change: up, down or flat


@dataclass(frozen=True, kw_only=True)
class Tiles(Section):
    """Numbers side by side, each with its change; the title is not shown (the heading of the
    email says what they are compared with)."""

    part: ClassVar[str] = "tiles"
    tiles: Sequence[Tile]


@dataclass(frozen=True, kw_only=True)
class Chart(Section):
    """The report's chart (render.py draws it from the report's days), `highlights` under it
    as "label: value." (or, with none, the paragraphs). The plain text has no chart: it lists
    the rows instead, under the title and `legend` (what each row's value shows)."""

    part: ClassVar[str] = "chart"
    alt: str  # the chart's text alternative
    legend: str
    highlights: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, kw_only=True)
class Table(Section):
    """A table under `columns` in the HTML; the plain text shows `rows` ("label: value") in its
    place. `empty` is said instead when there are no rows."""

    part: ClassVar[str] = "table"
    columns: Sequence[str]
    cells: Sequence[Sequence[str]]  # a row of the table: a value for each column
    empty: str


@dataclass(frozen=True, kw_only=True)
class Ranking(Section):
    """The rows as a numbered list, "label (value)", most first; `empty` when there are none."""

    part: ClassVar[str] = "ranking"
    empty: str


@dataclass(frozen=True, kw_only=True)
class Noted(Section):
    """Paragraphs and, in small print under them, `note`: where they come from."""

    part: ClassVar[str] = "noted"
    note: str


def part_of(section: ReportSection) -> str:
    """The template part that draws `section`."""
    return section.part if isinstance(section, Section) else "plain"


@dataclass(frozen=True)
class Pending:
    """A section whose slow part (an AI backend's answer) must not hold the report's
    connection: `write` makes it once the snapshot is closed (None: no section)."""

    write: Callable[[Settings], ReportSection | None]
