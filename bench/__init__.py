"""Benchmarks for perfprobe, run together by ``bench/run_all.py``."""
