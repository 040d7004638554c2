"""Management commands that perfprobe gives every project that installs it."""
