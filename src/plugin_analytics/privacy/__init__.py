"""Privacy: erasure of a user, RETENTION_DAYS, and the audit log that records both."""
