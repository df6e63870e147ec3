"""sparselab: core/regularizers."""
