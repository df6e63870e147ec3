"""sparselab: core/configs."""
