"""Request parameters shared by several routes."""

from typing import Annotated

from fastapi import Path

# Routes declare ids as {name:path}, so that an id holding "/" (stored fine) can be read back.
IdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00]+$",
        description="As sent at ingestion, URL-encoded.",
    ),
]
