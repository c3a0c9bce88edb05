"""Statements over many values run in slices, to stay under the databases' parameter limits."""

from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")


def chunked(items: list[T], size: int) -> Iterator[list[T]]:
    """`items` in consecutive slices of at most `size` (itertools.batched, from Python 3.12)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
