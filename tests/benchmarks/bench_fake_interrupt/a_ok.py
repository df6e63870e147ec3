"""Runs first and records a met target."""
NAME = "a_ok"
DESCRIPTION = "one met target"


def run(ctx) -> None:
    ctx.record(NAME, "v", "value", 2.0, "", target=">= 1")
