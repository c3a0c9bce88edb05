"""Request parameters shared by several routes."""

from typing import Annotated

from fastapi import Path, Query
from starlette.convertors import PathConvertor, register_url_convertor


class IdConvertor(PathConvertor):
    """Any text, line feeds included (Starlette's `path` is `.*`, which stops at one)."""

    regex = r"[\s\S]*"


# Routes declare ids as {name:id}, so that any id stored (with "/" or a line feed in it) can be
# read back and erased.
register_url_convertor("id", IdConvertor())
IdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00]+$",
        description="As sent at ingestion, URL-encoded.",
    ),
]

# A page of a list kept newest first (GET /reports, GET /audit).
PageLimit = Annotated[int, Query(ge=1, le=500, description="Entries per page.")]
PageOffset = Annotated[int, Query(ge=0, le=1_000_000, description="Entries to skip.")]
