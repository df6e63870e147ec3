"""Fake benchmark modules for the interruption / skip tests (never part of the real suite)."""
