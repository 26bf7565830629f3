"""Benchmarks: ingestion, storage round trips, triggers, abandoned carts and tracker size.

`python -m bench` runs them all and writes bench/RESULTS.md; `python -m bench --smoke`
runs a tiny version of each (small counts, nothing judged) for the test suite.
"""
