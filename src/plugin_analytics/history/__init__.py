"""Transcripts: a user's history and a single session, in time order."""
