"""Interrupted while it runs: SIGINT to itself (SPARSELAB_FAKE_SELF_SIGINT=1), or waits for one from outside
after writing the marker file SPARSELAB_FAKE_MARKER; returns at once when neither is set."""
import os
import signal
import time
from pathlib import Path

NAME = "b_stop"
DESCRIPTION = "records one figure, then is interrupted"


def run(ctx) -> None:
    ctx.record(NAME, "before", "value", 1.0, "", target=">= 1")
    if os.environ.get("SPARSELAB_FAKE_SELF_SIGINT") == "1":
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the KeyboardInterrupt arrives during the sleep
    elif os.environ.get("SPARSELAB_FAKE_MARKER"):
        Path(os.environ["SPARSELAB_FAKE_MARKER"]).write_text("running")
        time.sleep(60)
