"""GET /users/{user_id}/history and GET /sessions/{session_id}."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from plugin_analytics.db.models import event_table
from plugin_analytics.dependencies import IdPath, SessionDep
from plugin_analytics.derived.profiles import traits_of
from plugin_analytics.errors import NotFound, refusals
from plugin_analytics.history.queries import Page, events_page
from plugin_analytics.history.schemas import (
    EventPublic,
    SessionPage,
    SessionTranscript,
    UserHistory,
)
from plugin_analytics.reading import SiteDep
from plugin_analytics.security import READER_REFUSALS, ReaderGuard

TRANSCRIPT_REFUSALS = refusals(
    {
        400: "A cursor this API did not return",
        404: "No events for this user or session, or no such site",
    }
)
router = APIRouter(tags=["transcripts"], dependencies=[ReaderGuard], responses=READER_REFUSALS)

Limit = Annotated[int, Query(ge=1, le=1000, description="Events per page.")]
Cursor = Annotated[
    str | None, Query(max_length=64, description="`next_cursor` from the previous page.")
]


def _public(row: Any) -> EventPublic:
    return EventPublic.model_validate({**row._mapping, "timestamp": row.occurred_at})


def _found(page: Page, cursor: str | None, what: str) -> Page:
    if not page.rows and cursor is None:
        raise NotFound(f"no events for {what}")
    return page


@router.get(
    "/users/{user_id:id}/history", response_model=UserHistory, responses=TRANSCRIPT_REFUSALS
)
def user_history(
    user_id: IdPath, session: SessionDep, site: SiteDep, limit: Limit = 100, cursor: Cursor = None
) -> UserHistory:
    """A user's events (messages, CTA clicks, and any other event an SDK sent) in time order,
    grouped by session, with the user's traits. Events outside any chat session have the
    session_id ""."""
    where = (event_table.c.site_num == site.num) & (event_table.c.user_id == user_id)
    page = _found(
        events_page(session, where=where, limit=limit, cursor=cursor), cursor, f"user {user_id!r}"
    )
    sessions: dict[str, list[EventPublic]] = {}
    for row in page.rows:
        sessions.setdefault(row.session_id, []).append(_public(row))
    transcripts = [SessionTranscript(session_id=k, events=v) for k, v in sessions.items()]
    traits = traits_of(session.connection(), site.num, user_id)
    return UserHistory(
        user_id=user_id, traits=traits, sessions=transcripts, next_cursor=page.next_cursor
    )


@router.get("/sessions/{session_id:id}", response_model=SessionPage, responses=TRANSCRIPT_REFUSALS)
def session_transcript(
    session_id: IdPath,
    session: SessionDep,
    site: SiteDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> SessionPage:
    """One session's messages and CTA clicks in time order."""
    where = (event_table.c.site_num == site.num) & (event_table.c.session_id == session_id)
    page = _found(
        events_page(session, where=where, limit=limit, cursor=cursor),
        cursor,
        f"session {session_id!r}",
    )
    events = [_public(row) for row in page.rows]
    return SessionPage(session_id=session_id, events=events, next_cursor=page.next_cursor)
