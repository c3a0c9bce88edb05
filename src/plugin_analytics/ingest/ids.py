"""Server-side event ids."""

import os
import time
import uuid


def new_event_id() -> str:
    """A UUIDv7 (RFC 9562): time-ordered, so new ids append to the unique index's right edge."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10)) & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))
