"""Skips itself (an optional peer that is not installed)."""
NAME = "c_skips"
DESCRIPTION = "skips: optional peer missing"


def run(ctx) -> None:
    ctx.skip("optional peer 'nothing' is not installed")
