"""Benchmarks of the operator against the local stand-ins (see docs/benchmarks.md)."""
