"""The perfprobe demo: scenarios run against the sample shop."""
