"""perfprobe's management commands, one per module."""
