"""Sample shop domain that the perfprobe demo exercises."""
