"""Exports: streamed CSV and NDJSON of events, and the timeseries as CSV."""
