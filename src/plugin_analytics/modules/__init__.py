"""Analytics modules: installed packages that add API routes, metrics to the summary, a
section to the weekly report, and event types ingestion accepts (docs/modules.md).

A module is a `Module` subclass registered under the entry point group
`plugin_analytics.modules`. Each is loaded once per process; one that fails to load (an
import error, a bad name, a clash with another module) is listed with its error at
GET /plugins and by `plugin-analytics plugins`, and the service runs without it. A module that
fails later, answering the summary or building its report section, costs only its own part.

This package's top level is what modules import: names imported from here stay.
"""

from plugin_analytics.analytics.ranges import DateRange
from plugin_analytics.analytics.schemas import RangeEcho
from plugin_analytics.analytics.text import question_key, shorten
from plugin_analytics.db.batches import chunked
from plugin_analytics.db.models import event_table
from plugin_analytics.db.session import snapshot
from plugin_analytics.db.types import from_epoch_us
from plugin_analytics.dependencies import SessionDep
from plugin_analytics.ingest.schemas import Identifier
from plugin_analytics.modules.interface import Metric, Module, ReportSection, week_before
from plugin_analytics.reading import RANGE_REFUSALS, RangeDep, range_echo

__all__ = [
    "RANGE_REFUSALS",
    "DateRange",
    "Identifier",
    "Metric",
    "Module",
    "RangeDep",
    "RangeEcho",
    "ReportSection",
    "SessionDep",
    "chunked",
    "event_table",
    "from_epoch_us",
    "question_key",
    "range_echo",
    "shorten",
    "snapshot",
    "week_before",
]
