"""sparselab: benchmarks."""
