"""sparselab: core/sparse."""
