"""sparselab: core."""
