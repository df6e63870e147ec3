"""Tiny benchmark modules for testing the framework (never part of the real suite)."""
