"""Tests of the demo project and its sample shop."""
