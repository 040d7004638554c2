"""Django apps of the perfprobe demo project."""
