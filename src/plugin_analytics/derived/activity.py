"""What a rollup period holds, and what one event adds to it."""

from dataclasses import dataclass, field
from typing import Any

from pyroaring import BitMap

COUNTS = ("user_messages", "assistant_messages", "cta_clicks")
BITMAPS = ("users", "sessions", "converted_sessions")


@dataclass
class Activity:
    """Counts and sets of one period (or of the sum of several)."""

    user_messages: int = 0
    assistant_messages: int = 0
    cta_clicks: int = 0
    users: BitMap = field(default_factory=BitMap)
    sessions: BitMap = field(default_factory=BitMap)
    converted_sessions: BitMap = field(default_factory=BitMap)

    def add(self, other: "Activity") -> None:
        self.user_messages += other.user_messages
        self.assistant_messages += other.assistant_messages
        self.cta_clicks += other.cta_clicks
        self.users |= other.users
        self.sessions |= other.sessions
        self.converted_sessions |= other.converted_sessions

    @classmethod
    def from_row(cls, row: Any) -> "Activity":
        """From a rollup row's COUNTS and BITMAPS columns, in that order."""
        counts, blobs = row[: len(COUNTS)], row[len(COUNTS) :]
        return cls(*counts, *(BitMap.deserialize(blob) for blob in blobs))

    def counts(self) -> tuple[int, int, int]:
        return self.user_messages, self.assistant_messages, self.cta_clicks

    def to_row(self) -> tuple[Any, ...]:
        """COUNTS and BITMAPS (serialized), in that order."""
        return (*self.counts(), *(getattr(self, name).serialize() for name in BITMAPS))

    def sizes(self) -> tuple[int, int, int]:
        return len(self.users), len(self.sessions), len(self.converted_sessions)

    def grown_since(self, sizes: tuple[int, int, int]) -> tuple[str, ...]:
        """The bitmaps that gained members since `sizes` (adding only ever grows them)."""
        grown = zip(BITMAPS, self.sizes(), sizes, strict=True)
        return tuple(name for name, size, before in grown if size != before)


def tally(period: Activity, event_type: str, role: str, user: int, session: int) -> None:
    """Count one active event into `period`."""
    count(period, event_type, role)
    if event_type == "cta_click":
        period.converted_sessions.add(session)
    period.users.add(user)
    period.sessions.add(session)


def count(period: Activity, event_type: str, role: str) -> None:
    """Add one active event to `period`'s counts."""
    if event_type == "cta_click":
        period.cta_clicks += 1
    elif role == "assistant":
        period.assistant_messages += 1
    else:
        period.user_messages += 1
