"""Benchmarks: one command (``python -m bench``), ratios against a bare baseline; never part of the tests."""
