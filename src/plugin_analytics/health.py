"""GET /healthz: public liveness that includes the database."""

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from plugin_analytics.db.session import EngineDep
from plugin_analytics.errors import StorageUnavailable

router = APIRouter(tags=["health"])


def _ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


@router.get("/healthz", summary="200 when the database answers, 503 otherwise")
async def healthz(engine: EngineDep) -> dict[str, str]:
    try:
        await run_in_threadpool(_ping, engine)
    except SQLAlchemyError as exc:
        raise StorageUnavailable("database is not answering") from exc
    return {"status": "ok", "database": engine.dialect.name}
