"""Hydra configs of this app (a package so console scripts find them)."""
