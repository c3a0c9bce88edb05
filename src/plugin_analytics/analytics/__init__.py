"""Analytics: the summary, timeseries and CTA reports, read from the rollups."""
