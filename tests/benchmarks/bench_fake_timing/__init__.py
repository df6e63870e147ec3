"""A fake 'engine' benchmark for the compare-gate tests (never part of the real suite)."""
