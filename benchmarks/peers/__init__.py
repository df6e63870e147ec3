"""Small faithful references of peer implementations that are not installable as a library call (benchmarks only)."""
