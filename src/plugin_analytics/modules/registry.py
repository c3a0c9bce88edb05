"""Finding, loading and running the installed modules: each failure costs only its own part."""

import logging
import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Connection

from plugin_analytics.analytics.ranges import DateRange
from plugin_analytics.db.models import CHAT_EVENT_TYPES
from plugin_analytics.dependencies import ServicesDep
from plugin_analytics.errors import Loc
from plugin_analytics.ingest.schemas import EventCreate
from plugin_analytics.modules.interface import Metric, Module, ReportSection

logger = logging.getLogger(__name__)

GROUP = "plugin_analytics.modules"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass
class LoadedModule:
    """An installed module as it was found: loaded, or failed with why."""

    name: str
    entry_point: str
    distribution: str | None
    version: str | None
    module: Module | None = None
    error: str | None = None
    router: APIRouter | None = None
    properties: dict[str, TypeAdapter[Any]] = field(default_factory=dict)

    @property
    def loaded(self) -> bool:
        return self.module is not None

    def provides(self) -> list[str]:
        if self.module is None:
            return []
        kind = type(self.module)
        return [
            what
            for what, overridden in (
                ("routes", self.router is not None),
                ("summary", kind.summary is not Module.summary),
                ("report_section", kind.report_section is not Module.report_section),
                ("event_types", bool(self.properties)),
            )
            if overridden
        ]


class Modules:
    """The modules of this process, and what the service asks of them."""

    def __init__(self, found: list[LoadedModule]) -> None:
        self.found = found
        self.loaded = [entry for entry in found if entry.module is not None]
        self._properties = {
            event_type: adapter for entry in self.loaded for event_type, adapter in
            entry.properties.items()
        }  # fmt: skip
        self.validation_context = {"event_types": frozenset(self._properties)}

    def check_events(
        self, events: Sequence[EventCreate], properties_loc: Callable[[int], Loc]
    ) -> list[dict[str, Any]]:
        """The errors of events of the modules' types whose properties do not validate."""
        errors: list[dict[str, Any]] = []
        if not self._properties:
            return errors
        for n, event in enumerate(events):
            adapter = self._properties.get(event["event_type"])
            if adapter is None:
                continue
            try:
                adapter.validate_python(event.get("properties") or {})
            except ValidationError as exc:
                for error in exc.errors(include_url=False, include_input=False):
                    errors.append(
                        {
                            "loc": [*properties_loc(n), *error["loc"]],
                            "msg": error["msg"],
                            "type": error["type"],
                        }
                    )
        return errors

    def summaries(
        self, connection: Connection, span: DateRange
    ) -> tuple[dict[str, dict[str, Metric]], dict[str, str]]:
        """Each module's summary metrics, and the error of each module that failed."""
        metrics: dict[str, dict[str, Metric]] = {}
        errors: dict[str, str] = {}
        for entry in self.loaded:
            assert entry.module is not None
            if "summary" not in entry.provides():
                continue
            with _isolated(connection, entry, errors):
                metrics[entry.name] = _numbers(entry.module.summary(connection, span))
        return metrics, errors

    def report_sections(self, connection: Connection, week: DateRange) -> list[ReportSection]:
        """The modules' report sections; one that fails says so in its place."""
        sections: list[ReportSection] = []
        for entry in self.loaded:
            assert entry.module is not None
            errors: dict[str, str] = {}
            with _isolated(connection, entry, errors):
                section = entry.module.report_section(connection, week)
                if section is not None:
                    sections.append(_as_section(section))
            if errors:
                sections.append(
                    ReportSection(
                        title=entry.name,
                        paragraphs=[f"This section could not be built ({errors[entry.name]})."],
                    )
                )
        return sections


def _as_section(made: Any) -> ReportSection:
    """A module's section as the report draws it. Anything with a title (an object or a
    mapping with title, paragraphs, rows) is taken, as the email's template always read them;
    without one it is that module's failure."""
    if isinstance(made, ReportSection):
        return made

    def part(name: str, default: Any) -> Any:
        return (
            made.get(name, default) if isinstance(made, Mapping) else getattr(made, name, default)
        )

    title = part("title", None)
    if not isinstance(title, str):
        raise TypeError(f"report_section returned {made!r}: a ReportSection has a title")
    return ReportSection(title=title, paragraphs=part("paragraphs", ()), rows=part("rows", ()))


def _numbers(metrics: Mapping[str, Metric]) -> dict[str, Metric]:
    """The metrics, if they are what the summary can show: names to numbers or None."""
    for name, value in metrics.items():
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not isinstance(name, str) or not (number or value is None):
            raise TypeError(f"metric {name!r} is {value!r}: metrics are numbers or None")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"metric {name!r} is {value!r}: JSON has no such number")
    return dict(metrics)


@contextmanager
def _isolated(
    connection: Connection, entry: LoadedModule, errors: dict[str, str]
) -> Iterator[None]:
    """Run a module's code in a savepoint: its failure (even a failed SQL statement, which
    would abort a PostgreSQL transaction) is rolled back and recorded, not raised."""
    savepoint = connection.begin_nested()
    try:
        yield
    except Exception as exc:
        savepoint.rollback()
        errors[entry.name] = f"{type(exc).__name__}: {exc}"[:300]
        logger.exception("analytics module %r failed", entry.name)
    else:
        savepoint.commit()


def get_modules(services: ServicesDep) -> Modules:
    return services.modules


ModulesDep = Annotated[Modules, Depends(get_modules)]


def load_modules() -> Modules:
    """Every module installed (entry point group `plugin_analytics.modules`), loaded once per
    process and search path."""
    return _load(tuple(sys.path))


@cache
def _load(_path: tuple[str, ...]) -> Modules:
    found: list[LoadedModule] = []
    for point in sorted(entry_points(group=GROUP), key=lambda p: (p.name, p.value)):
        loaded = [e for e in found if e.loaded]
        entry = _load_one(
            point, {e.name for e in loaded}, {t for e in loaded for t in e.properties}
        )
        if entry.error:
            logger.warning("analytics module %r not loaded: %s", entry.name, entry.error)
        found.append(entry)
    return Modules(found)


def _load_one(point: EntryPoint, taken: set[str], taken_types: set[str]) -> LoadedModule:
    dist = point.dist
    entry = LoadedModule(
        name=point.name,
        entry_point=point.value,
        distribution=dist.name if dist else None,
        version=dist.version if dist else None,
    )
    try:
        module = _instance(point.load())
        problem = _misnamed(point.name, module, taken)
        if problem:
            entry.error = problem
            return entry
        entry.properties = {
            event_type: TypeAdapter(kind) for event_type, kind in module.event_types.items()
        }
        clash = [t for t in entry.properties if t in CHAT_EVENT_TYPES or not NAME.match(t)]
        if clash:
            entry.error = f"event types {clash} are ours or not lowercase names"
            return entry
        shared = sorted(taken_types.intersection(entry.properties))
        if shared:
            entry.error = f"event types {shared} belong to a module loaded before it"
            return entry
        router = module.router()
        if router is not None and not isinstance(router, APIRouter):
            raise TypeError(f"router() returned {type(router).__name__}, not an APIRouter")
        entry.router = router
    except Exception as exc:  # whatever a module's import or set-up raises, it is reported
        entry.error = f"{type(exc).__name__}: {exc}"[:500]
        return entry
    entry.module = module
    return entry


def _instance(loaded: Any) -> Module:
    if isinstance(loaded, type) and issubclass(loaded, Module):
        return loaded()
    if isinstance(loaded, Module):
        return loaded
    raise TypeError(f"{loaded!r} is not a plugin_analytics.modules.Module (or subclass)")


def _misnamed(point_name: str, module: Module, taken: set[str]) -> str | None:
    if module.name != point_name:
        return f"its entry point is named {point_name!r} but the module {module.name!r}"
    if not NAME.match(module.name):
        return "a name is 1 to 40 lowercase letters, digits or _, starting with a letter"
    if module.name in taken:
        return f"another installed module is named {module.name!r}"
    return None
