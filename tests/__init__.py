"""Tests of perfprobe and of the demo project."""
