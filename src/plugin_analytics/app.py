"""The application factory."""

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from starlette.types import Lifespan
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from plugin_analytics import __version__
from plugin_analytics.access.ratelimit import RateLimit
from plugin_analytics.access.ring import KeyRing
from plugin_analytics.access.router import router as keys_router
from plugin_analytics.ai.router import router as ai_router
from plugin_analytics.analytics.router import router as analytics_router
from plugin_analytics.config import Settings, get_settings
from plugin_analytics.db.engine import build_engine
from plugin_analytics.errors import APIError, install_error_handlers
from plugin_analytics.exports.router import router as exports_router
from plugin_analytics.headers import SecurityHeaders
from plugin_analytics.health import router as health_router
from plugin_analytics.history.router import router as history_router
from plugin_analytics.ingest.posthog import docs as posthog_docs
from plugin_analytics.ingest.router import docs as ingest_docs
from plugin_analytics.ingest.router import routes as ingest_routes
from plugin_analytics.ingest.segment import docs as segment_docs
from plugin_analytics.ingest.writer import EventWriter
from plugin_analytics.modules.registry import Modules, load_modules
from plugin_analytics.modules.router import mount
from plugin_analytics.openapi import install_openapi
from plugin_analytics.privacy.retention import RetentionSchedule
from plugin_analytics.privacy.router import router as privacy_router
from plugin_analytics.reports.router import router as reports_router
from plugin_analytics.reports.schedule import ReportSchedule
from plugin_analytics.reports.service import sender_of
from plugin_analytics.services import Services
from plugin_analytics.sites.router import router as sites_router

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Analytics for AI chat plugins. The plugin posts chat messages and CTA clicks to the public
ingestion routes; site owners read transcripts and analytics with
`Authorization: Bearer <ADMIN_API_KEY>`.
"""


def lifespan(settings: Settings, modules: Modules) -> Lifespan[FastAPI]:
    """Startup and shutdown of an app for `settings`: the `Services` it holds while it runs."""

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[None]:
        # Each step is undone in reverse order, every one of them even if another fails.
        async with AsyncExitStack() as stack:
            engine = build_engine(settings.sqlalchemy_url)
            stack.callback(engine.dispose)
            # The writer has its own engine, so that a burst of reads never holds up ingestion.
            writer_engine = build_engine(settings.sqlalchemy_url)
            stack.callback(writer_engine.dispose)
            writer = EventWriter(writer_engine)
            await writer.start()
            stack.push_async_callback(writer.stop)
            keys = KeyRing(engine, settings)
            await keys.start()
            stack.push_async_callback(keys.stop)
            limit = settings.ingest_rate_limit
            services = Services(
                settings=settings,
                modules=modules,
                engine=engine,
                writer=writer,
                keys=keys,
                rate_limit=RateLimit(limit) if limit else None,
            )
            _start_background_jobs(services, stack)
            app.state.services = services
            yield

    return running


def _start_background_jobs(services: Services, stack: AsyncExitStack) -> None:
    """The weekly report and RETENTION_DAYS schedules, where configured, stopped by `stack`."""
    settings = services.settings
    schedule = _report_schedule(services)
    if schedule:
        stack.callback(schedule.stop)
    if settings.scheduler_enabled:  # RETENTION_DAYS, or a site's own retention_days
        retention = RetentionSchedule(services.engine, settings.retention_days)
        retention.start()
        stack.callback(retention.stop)


def _report_schedule(services: Services) -> ReportSchedule | None:
    settings = services.settings
    if not settings.scheduler_enabled:
        return None
    if not settings.email_host:
        logger.info("weekly reports are off: set EMAIL_HOST (and each site's recipients)")
        return None
    try:
        sender_of(settings)
    except APIError as exc:
        logger.warning("weekly reports are off: %s", exc.detail)
        return None
    schedule = ReportSchedule(services.engine, settings, services.modules)
    schedule.start()
    return schedule


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for `settings` (default: the environment and `.env`)."""
    settings = settings or get_settings()
    modules = load_modules()
    app = FastAPI(
        title="plugin-analytics",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan(settings, modules),
    )
    install_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    if settings.trusted_proxies:  # the client address from X-Forwarded-For
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.router.routes.extend(ingest_routes(settings.cors_origins))
    routers = (
        analytics_router,
        ai_router,
        exports_router,
        history_router,
        reports_router,
        privacy_router,
        sites_router,
        keys_router,
        health_router,
    )
    for router in routers:
        app.include_router(router)
    mount(app, modules)
    install_openapi(app, [*ingest_docs.routes, *segment_docs.routes, *posthog_docs.routes])
    return app
