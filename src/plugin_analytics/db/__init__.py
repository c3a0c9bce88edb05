"""Database: engine, sessions and table models."""
