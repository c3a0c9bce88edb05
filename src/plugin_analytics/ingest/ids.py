"""Server-side event ids."""

import os
import time


def new_event_ids(count: int) -> list[str]:
    """`count` UUIDv7s (RFC 9562): time-ordered, so new ids append to the unique index's right
    edge; 74 random bits from the OS each, so workers and restarts cannot repeat one."""
    millis = f"{time.time_ns() // 1_000_000:012x}"
    prefix = f"{millis[:8]}-{millis[8:]}-7"
    entropy = os.urandom(10 * count).hex()  # 20 hex digits an id; 74 of their 80 bits are used
    ids = []
    for start in range(0, 20 * count, 20):
        r = entropy[start : start + 20]
        variant = "89ab"[int(r[3], 16) & 3]  # the RFC variant bits 10, then two random bits
        ids.append(f"{prefix}{r[:3]}-{variant}{r[4:7]}-{r[8:20]}")
    return ids
