"""Rank-zero progress bars (tqdm). Quiet in CI and when stderr is not a terminal, unless asked."""
from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

from core.training.distributed import is_main_process

__all__ = ["progress", "progress_enabled"]


def progress_enabled() -> bool:
    """On for rank 0 on a terminal; SPARSELAB_PROGRESS=1 forces it on, =0 off; CI=true turns it off."""
    flag = os.environ.get("SPARSELAB_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "False", "") and is_main_process()
    if os.environ.get("CI"):
        return False
    return is_main_process() and sys.stderr.isatty()


def progress(iterable=None, *, total: int | None = None, desc: str = "", enabled: bool | None = None, **kw):
    """``for x in progress(loader, desc="epoch 3"): ...`` -- a tqdm bar on rank 0, silent elsewhere."""
    on = progress_enabled() if enabled is None else (enabled and is_main_process())
    return tqdm(iterable, total=total, desc=desc, disable=not on, dynamic_ncols=True, leave=False, **kw)
