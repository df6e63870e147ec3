"""Would run last; never reached when the run is interrupted."""
NAME = "d_after"
DESCRIPTION = "runs last"


def run(ctx) -> None:
    ctx.record(NAME, "v", "value", 3.0, "", target=">= 1")
