"""What one running app holds, typed: read through `services_of(app)` or the dependencies in
dependencies.py (`ServicesDep`, `SettingsDep`, `EngineDep`, ...), never from `app.state` by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from starlette.applications import Starlette

if TYPE_CHECKING:  # only types: this module imports nothing of ours, so anything may import it
    from sqlalchemy import Engine

    from plugin_analytics.access.ratelimit import RateLimit
    from plugin_analytics.access.ring import KeyRing
    from plugin_analytics.config import Settings
    from plugin_analytics.ingest.writer import EventWriter
    from plugin_analytics.modules.registry import Modules


@dataclass(frozen=True, slots=True)
class Services:
    """Made at startup (the app's lifespan) and closed at shutdown."""

    settings: Settings
    modules: Modules
    engine: Engine  # reads and admin writes
    writer: EventWriter  # ingestion, on an engine of its own
    keys: KeyRing
    rate_limit: RateLimit | None  # INGEST_RATE_LIMIT; None when off


def services_of(app: Starlette) -> Services:
    """The running app's services (AttributeError before startup)."""
    return cast("Services", app.state.services)
