"""DELETE /users/{user_id} (right to erasure) and GET /audit: what was erased, deleted by
retention, or changed in access, and when."""

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from plugin_analytics.dependencies import EngineDep, IdPath, PageLimit, PageOffset, SessionDep
from plugin_analytics.privacy import erasure
from plugin_analytics.privacy.audit import entries
from plugin_analytics.reading import SITE_REFUSALS, SiteDep
from plugin_analytics.security import ADMIN_REFUSALS, AdminDep

router = APIRouter(dependencies=[AdminDep], responses=ADMIN_REFUSALS)


class Erasure(BaseModel):
    user_id: str
    deleted_events: int = Field(description="Events erased now (0 when already erased).")


class AuditEntry(BaseModel):
    at: datetime
    action: str = Field(description="user_erased, retention, key_created or key_revoked.")
    rows: int = Field(description="Rows the action removed or changed.")
    detail: dict[str, Any] = Field(
        description="Counts by kind and the action's parameters; never the erased data."
    )


class AuditLog(BaseModel):
    entries: list[AuditEntry] = Field(description="Newest first.")


@router.get("/audit", response_model=AuditLog, tags=["privacy"])
def audit_log(
    session: SessionDep,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> AuditLog:
    """Erasures, retention runs and key changes, newest first."""
    page = entries(session.connection(), limit, offset)
    return AuditLog(entries=[AuditEntry(**row) for row in page])


# Tagged analytics too, as it was when it lived beside the analytics routes.
@router.delete(
    "/users/{user_id:id}",
    response_model=Erasure,
    tags=["analytics", "privacy"],
    responses=SITE_REFUSALS,
)
def erase(user_id: IdPath, engine: EngineDep, site: SiteDep) -> Erasure:
    """Erase every event of the site's user (right to erasure); analytics stay exact. The same
    user_id on another site is another user and is left as it is. Repeating it is harmless."""
    deleted = erasure.erase(engine, site.num, user_id)
    return Erasure(user_id=user_id, deleted_events=deleted)
