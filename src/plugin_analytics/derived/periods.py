"""Rollup periods: UTC quarter hours, hours and days, in microseconds since the epoch."""

QUARTER_US = 15 * 60 * 1_000_000
HOUR_US = 4 * QUARTER_US
DAY_US = 24 * HOUR_US
GRAINS = {"quarter": QUARTER_US, "hour": HOUR_US, "day": DAY_US}


def period_start(at_us: int, grain_us: int) -> int:
    """The start of the period of `grain_us` that holds `at_us` (its floor to a multiple)."""
    return at_us - at_us % grain_us
