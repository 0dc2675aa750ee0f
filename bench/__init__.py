"""Benchmarks that print figures; `make bench` runs them all, docs/performance.md keeps them."""
