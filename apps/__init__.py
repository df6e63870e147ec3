"""sparselab: apps."""
