"""What ingestion derives from events in the transaction that stores them: the rollups, the
user and session numbering they count with, and user profiles (traits)."""
