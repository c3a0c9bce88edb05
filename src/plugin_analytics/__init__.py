"""plugin-analytics: analytics backend for AI chat plugins."""

__version__ = "0.1.0"
