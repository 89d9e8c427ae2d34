"""Benchmarks run against real PostgreSQL and Redis; see bench/README.md."""
