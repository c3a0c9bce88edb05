"""The application factory."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from plugin_analytics import __version__
from plugin_analytics.analytics.router import router as analytics_router
from plugin_analytics.config import Settings, get_settings
from plugin_analytics.db.engine import build_engine
from plugin_analytics.errors import APIError, install_error_handlers
from plugin_analytics.exports.router import router as exports_router
from plugin_analytics.headers import SecurityHeaders
from plugin_analytics.health import router as health_router
from plugin_analytics.history.router import router as history_router
from plugin_analytics.ingest.router import docs as ingest_docs
from plugin_analytics.ingest.router import routes as ingest_routes
from plugin_analytics.ingest.writer import EventWriter
from plugin_analytics.openapi import install_openapi
from plugin_analytics.reports.router import router as reports_router
from plugin_analytics.reports.schedule import ReportSchedule
from plugin_analytics.reports.service import sender_of

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Analytics for AI chat plugins. The plugin posts chat messages and CTA clicks to the public
ingestion routes; site owners read transcripts and analytics with
`Authorization: Bearer <ADMIN_API_KEY>`.
"""


NOT_YET_ENFORCED = ("write_keys", "ingest_rate_limit")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    for name in NOT_YET_ENFORCED:
        if getattr(settings, name):
            logger.warning("%s is set, but this release does not enforce it yet", name.upper())
    engine = build_engine(settings.sqlalchemy_url)
    # The writer has its own engine, so that a burst of reads can never hold up ingestion.
    writer_engine = build_engine(settings.sqlalchemy_url)
    writer = EventWriter(writer_engine)
    await writer.start()
    app.state.engine, app.state.writer = engine, writer
    schedule = _report_schedule(engine, settings)
    try:
        yield
    finally:
        if schedule:
            schedule.stop()
        await writer.stop()
        writer_engine.dispose()
        engine.dispose()


def _report_schedule(engine: Engine, settings: Settings) -> ReportSchedule | None:
    if not settings.scheduler_enabled:
        return None
    if not settings.email_configured:
        logger.info("weekly reports are off: set EMAIL_HOST and REPORT_RECIPIENTS to send them")
        return None
    try:
        sender_of(settings)
    except APIError as exc:
        logger.warning("weekly reports are off: %s", exc.detail)
        return None
    schedule = ReportSchedule(engine, settings)
    schedule.start()
    return schedule


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for `settings` (default: the environment and `.env`)."""
    app = FastAPI(
        title="plugin-analytics", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    app.state.settings = settings or get_settings()
    install_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    app.router.routes.extend(ingest_routes(app.state.settings.cors_origins))
    routers = (analytics_router, exports_router, history_router, reports_router, health_router)
    for router in routers:
        app.include_router(router)
    install_openapi(app, ingest_docs.routes)
    return app
