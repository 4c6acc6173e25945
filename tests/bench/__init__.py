"""`make bench` (`python -m tests.bench`): bounded benchmarks of the whole stack, each paired with its ceiling.

Not part of `make test` (no file here is named test_*.py). See docs/BENCHMARKS.md for the figures it writes.
"""
