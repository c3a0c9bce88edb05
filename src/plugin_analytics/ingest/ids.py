"""Server-side event ids."""

import os
import time

VERSION_7 = 0x7 << 76
RFC_VARIANT = 0x2 << 62
RANDOM_BITS = (1 << 62) - 1 | ((1 << 12) - 1) << 64  # rand_b (62 bits) and rand_a (12 bits)


def new_event_ids(count: int) -> list[str]:
    """`count` UUIDv7s (RFC 9562): time-ordered, so new ids append to the unique index's right
    edge; 74 random bits from the OS each, so workers and restarts cannot repeat one."""
    millis = (time.time_ns() // 1_000_000) << 80
    entropy = os.urandom(10 * count)
    ids = []
    for start in range(0, 10 * count, 10):
        random = int.from_bytes(entropy[start : start + 10]) & RANDOM_BITS
        value = f"{millis | VERSION_7 | RFC_VARIANT | random:032x}"
        ids.append(f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}")
    return ids
