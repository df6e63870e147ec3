"""sparselab: core/data_pruning."""
