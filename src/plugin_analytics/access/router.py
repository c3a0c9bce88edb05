"""GET /audit: what was erased, deleted by retention, or changed in access, and when."""

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from plugin_analytics.access.audit import entries
from plugin_analytics.db.session import SessionDep
from plugin_analytics.params import PageLimit, PageOffset
from plugin_analytics.security import ADMIN_REFUSALS, AdminDep

router = APIRouter(tags=["privacy"], dependencies=[AdminDep], responses=ADMIN_REFUSALS)


class AuditEntry(BaseModel):
    at: datetime
    action: str = Field(description="user_erased, retention, key_created or key_revoked.")
    rows: int = Field(description="Rows the action removed or changed.")
    detail: dict[str, Any] = Field(
        description="Counts by kind and the action's parameters; never the erased data."
    )


class AuditLog(BaseModel):
    entries: list[AuditEntry] = Field(description="Newest first.")


@router.get("/audit", response_model=AuditLog)
def audit_log(
    session: SessionDep,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> AuditLog:
    """Erasures, retention runs and key changes, newest first."""
    page = entries(session.connection(), limit, offset)
    return AuditLog(entries=[AuditEntry(**row) for row in page])
