"""GET /healthz: public liveness that includes the database."""

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from plugin_analytics.db.models import event_table
from plugin_analytics.dependencies import EngineDep, WriterDep
from plugin_analytics.errors import StorageUnavailable, refusals

router = APIRouter(tags=["health"])


def _ping(engine: Engine) -> None:
    """Read the event table: the database answers and is migrated."""
    with engine.connect() as connection:
        connection.execute(select(event_table.c.id).limit(1))


@router.get(
    "/healthz",
    summary="200 when the database answers and ingestion runs, else 503",
    responses=refusals({503: "The database or the event writer is not working"}),
)
async def healthz(engine: EngineDep, writer: WriterDep) -> dict[str, str]:
    try:
        await run_in_threadpool(_ping, engine)
    except SQLAlchemyError as exc:
        raise StorageUnavailable("the database is not answering, or is not migrated") from exc
    if not writer.running:
        raise StorageUnavailable("the event writer is not running")
    return {"status": "ok", "database": engine.dialect.name}
