"""Request parameters shared by several routes."""

from typing import Annotated

from fastapi import Path
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
