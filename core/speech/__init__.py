"""sparselab: core/speech."""
