import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.distributed
def test_torchrun_two_process_gloo_msrs_s(grid_corpus, tmp_path):
    """Two gloo ranks through the MSRS-S switch (DDP re-wrapped after it); rank 0 writes the results."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "apps.msrs.train",
           "preset=quick", "mode=asr", "experiment=msrs_s", "trainer.device=cpu", "trainer.max_steps=4",
           f"data.root={grid_corpus.parent}", f"run_dir={tmp_path}", "test_snrs=[clean]", "trainer.progress=off",
           "msrs.mask_lr=1.0", "msrs.window=3", "msrs.tol=1.0", "msrs.lam=0.05"]
    subprocess.run(cmd, check=True, env=env, cwd=Path(__file__).resolve().parents[3], timeout=600)
    res = json.loads((tmp_path / "summary.json").read_text())
    assert res["steps"] == 4 and res["switch_step"] is not None and res["density"] < 1.0
