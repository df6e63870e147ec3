import json

import pytest
import torch

from core.testing import run_distributed
from core.training import ResultsWriter, read_results
from core.training.distributed import all_gather_cat, broadcast_, get_rank, get_world_size, init_distributed
from core.training.results import RESULT_FIELDS


def test_results_writer_schema(tmp_path):
    w = ResultsWriter(tmp_path / "r" / "results.jsonl")
    rec = w.write("core", "rigl", "overhead", torch.tensor(1.5), "ratio", suite="quick", baseline=1.0, target="<= 1.02", seed=0, wall_s=2.0, extra_key=3)
    w.write("core", "set", "overhead", float("nan"))
    rows = read_results(tmp_path / "r" / "results.jsonl")
    assert len(rows) == 2 and rows[0] == json.loads(json.dumps(rec))
    assert set(RESULT_FIELDS) <= set(rows[0]) and rows[0]["value"] == 1.5 and rows[0]["extra_key"] == 3
    assert rows[1]["value"] is None  # NaN is not valid JSON: written as null
    (tmp_path / "broken.jsonl").write_text('{"a": 1}\n{oops\n')
    with pytest.raises(ValueError, match="broken.jsonl:2"):
        read_results(tmp_path / "broken.jsonl")


def test_single_process_fallback():
    info = init_distributed(device="cpu")
    assert (info.rank, info.world_size) == (0, 1) and get_rank() == 0 and get_world_size() == 1
    t = torch.arange(3)
    assert torch.equal(all_gather_cat(t), t)
    with pytest.raises(ValueError, match="valid choices: cpu, cuda"):
        init_distributed(device="tpu")


def _gather_worker(rank, world_size):
    x = torch.arange(rank + 2) + 10 * rank  # ranks hold different lengths
    g = all_gather_cat(x)
    b = torch.full((2,), float(rank))
    broadcast_(b, src=1)
    return g, b


@pytest.mark.distributed
def test_gather_and_broadcast_two_ranks():
    outs = run_distributed(_gather_worker, 2)
    expected = torch.tensor([0, 1, 10, 11, 12])
    for g, b in outs:
        assert torch.equal(g, expected)
        assert torch.equal(b, torch.ones(2))
