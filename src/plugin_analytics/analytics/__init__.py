"""Analytics: rollups kept exact at ingestion, and the summary, timeseries and CTA reports."""
