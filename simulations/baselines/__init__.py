"""Baseline apps the HTTP benchmark measures next to the platform (see bench_http)."""
