"""The core_pruning benchmark module's pieces on tiny sizes: every policy (easy_to_hard included) against the
permutation floor, and a DataLoader epoch (set_epoch + iterating every index) against RandomSampler."""
import pytest

from benchmarks.context import BenchContext
from benchmarks.suites import core_pruning
from core.training.results import ResultsWriter


@pytest.fixture
def ctx(tmp_path):
    return BenchContext(suite="smoke", device="cpu", seed=0, out_dir=tmp_path, writer=ResultsWriter(tmp_path / "r.jsonl"),
                        verbose=False, app=core_pruning.NAME)


def test_every_policy_against_the_floor_including_easy_to_hard(ctx):
    out = core_pruning._vs_floor(ctx, 20_000, rounds=2)
    assert set(out) == {"dynamic_random", "easy_to_hard", "infobatch", "ucb"}
    for policy, r in out.items():
        assert r["verdict"] == "not judged" and "cannot stand" in r["not_judged_reason"]     # 20k items, not 10M
        assert r["ratio"] > 0
        if policy == "infobatch":      # soft pruning: drops a share of the below-mean items only
            assert 10_000 < r["kept"] < 20_000
        else:
            assert r["kept"] == 14_000


def test_dataloader_epoch_iterates_every_kept_index(ctx):
    rec = core_pruning._vs_dataloader(ctx, 10_000, rounds=2)
    assert rec["metric"] == "epoch_iteration_time" and rec["kept"] == 7_000 and rec["peer"].startswith("torch RandomSampler")
    assert rec["value"] > 0 and rec["baseline"] > 0
    sampler, _ = core_pruning._make("dynamic_random", 1_000, 0)
    sampler.set_epoch(3)
    assert core_pruning._drain(iter(sampler)) == len(sampler) == 700
