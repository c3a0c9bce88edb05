"""GET /keys, POST /keys and DELETE /keys/{key_id}: the keys made with the CLI or here, for an
admin key. A key is shown once, when it is made; only its digest is kept. Every change is in the
audit log, and in force on the worker that answered at once (on the others within seconds)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from plugin_analytics.access.keys import (
    MAX_ID,
    KeyRefused,
    Kind,
    create_key,
    key_site,
    list_keys,
    revoke_key_by_id,
)
from plugin_analytics.db.session import write_transaction
from plugin_analytics.dependencies import EngineDep, KeysDep, SessionDep
from plugin_analytics.errors import NotFound, refusals
from plugin_analytics.security import ADMIN_REFUSALS, AdminDep
from plugin_analytics.sites.registry import SLUG_PATTERN

router = APIRouter(tags=["keys"], dependencies=[AdminDep], responses=ADMIN_REFUSALS)

SiteId = Annotated[str, StringConstraints(pattern=f"^{SLUG_PATTERN}$")]
KeyName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$"
    ),
]
KeyId = Annotated[int, Path(ge=1, le=MAX_ID, description="The key's id, as GET /keys lists it.")]


class KeyPublic(BaseModel):
    id: int
    kind: Kind = Field(description="write: sends its site's events; viewer: reads its site; "
                       "admin: reads every site and administers.")  # fmt: skip
    site: str | None = Field(description="The site of a write or viewer key; null: every site.")
    name: str
    prefix: str = Field(description="The key's first characters, to tell it apart.")
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The key itself, shown only this once: only its digest is kept.")


class KeyList(BaseModel):
    keys: list[KeyPublic] = Field(
        description="Oldest first, revoked ones too; WRITE_KEYS and ADMIN_API_KEY are not listed."
    )


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    site: SiteId | None = Field(
        default=None,
        validate_default=True,
        description="The site's id: a write key's defaults to `default`, a viewer key needs one, "
        "an admin key (every site) takes none.",
    )
    name: KeyName = Field(description="A label, e.g. who the key is for.")

    @field_validator("site")
    @classmethod
    def site_fits_kind(cls, site: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")  # absent when the kind was itself refused
        return site if kind is None else key_site(kind, site)


@router.get("/keys", response_model=KeyList)
def keys(session: SessionDep) -> KeyList:
    """Every key made with the CLI or the API, without the keys themselves."""
    return KeyList(keys=[KeyPublic(**row) for row in list_keys(session.connection())])


@router.post(
    "/keys",
    status_code=201,
    response_model=KeyCreated,
    responses=refusals({400: "A body that could not be read (not UTF-8)"}),
)
def create(body: KeyCreate, engine: EngineDep, ring: KeysDep) -> KeyCreated:
    """Make a key and answer it, this once. 422 also for a site that does not exist."""
    try:
        with write_transaction(engine) as connection:
            new = create_key(connection, body.kind, body.name, site=body.site)
    except KeyRefused as exc:
        error = {"type": "value_error", "loc": ("body", exc.field), "msg": str(exc)}
        raise RequestValidationError([{**error, "input": body.site}]) from None
    ring.reload_now()
    return KeyCreated(
        id=new.id,
        kind=new.kind,
        site=new.site,
        name=new.name,
        prefix=new.prefix,
        created_at=new.created_at,
        revoked_at=None,
        key=new.key,
    )


@router.delete(
    "/keys/{key_id}", response_model=KeyPublic, responses=refusals({404: "No key has this id"})
)
def revoke(key_id: KeyId, engine: EngineDep, ring: KeysDep) -> KeyPublic:
    """Revoke a key: refused from now on. Revoking it again changes nothing."""
    with write_transaction(engine) as connection:
        revoked = revoke_key_by_id(connection, key_id)
    if revoked is None:
        raise NotFound(f"no key has the id {key_id}")
    ring.reload_now()
    return KeyPublic(**revoked)
