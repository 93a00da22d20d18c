"""Benchmarks of callback_app, kept apart from the test suite: ``python -m bench`` (see bench/README.md)."""
