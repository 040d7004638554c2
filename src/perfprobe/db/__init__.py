"""Instrument Django database connections: fingerprints, call sites, lazy loads."""
