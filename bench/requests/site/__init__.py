"""Serve the request benchmark's three views from a tiny Django project."""
