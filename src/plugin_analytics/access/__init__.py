"""Who may write and read: keys, the key ring every worker keeps, and rate limits."""
