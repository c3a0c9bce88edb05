"""Ingestion: validation, the durable group-commit writer and the public routes."""
