"""Pieces every layer shares: settings, the clock, database connections, logging."""
