"""A module that records one figure and then raises: the runner must report it and go on."""
NAME = "beta"
DESCRIPTION = "records one figure, then fails"


def run(ctx) -> None:
    ctx.record(NAME, "before_failure", "value", 1.0, "", target=">= 1")
    raise RuntimeError("beta is broken on purpose")
