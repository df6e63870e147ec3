"""Data files shipped with core.speech (see fsdd/README.md for the recordings and their licence)."""
