"""Load benchmark of the POS API (see docs/benchmarks.md)."""
