"""Benchmarks for issue #4 (burst-proof exchanges), kept apart from the test suite: ``python -m bench``."""
