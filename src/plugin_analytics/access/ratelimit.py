"""INGEST_RATE_LIMIT: requests per write key and client address, counted in each worker.

The count is a sliding window (the `limits` library's sliding-window counter) kept in the
worker's memory, so it costs no I/O on the hot path. It is not shared: behind a load balancer
with N workers, a client may get up to N times the limit (see README, Rate limits).
"""

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from plugin_analytics.errors import APIError


class TooManyRequests(APIError):
    status_code = 429

    def __init__(self, limit: str, retry_after: int) -> None:
        super().__init__(
            f"rate limit of {limit} requests exceeded; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


class RateLimit:
    """Counts each request against its (write key, client address) pair."""

    def __init__(self, spec: str) -> None:
        self._spec = spec.replace(" ", "")
        self._item = parse(self._spec)
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    def hit(self, key_digest: str | None, client: str) -> None:
        """Count a request; 429 with Retry-After once the pair is over the limit."""
        identity = (key_digest or "-", client)
        if self._limiter.hit(self._item, *identity):
            return
        reset_at = self._limiter.get_window_stats(self._item, *identity).reset_time
        raise TooManyRequests(self._spec, max(1, math.ceil(reset_at - time.time())))
