"""The spa_graph benchmark's grid cells: parallel workers give the rows one process gives, and a finished cell
is reused only when its plan is unchanged (an interrupted standard run continues)."""
import pytest

from benchmarks.suites import spa_graph as suite

PLAN = dict(grid=[("gcn", "sbm", [6, 8])], methods=["spa_official", "random"], seeds=2, epochs=5)


class _Ctx:
    seed = 0

    def __init__(self, out):
        self.out_dir = self.runs_dir = out

    def progress(self, iterable=None, total=None, desc=""):
        from core.training.progress import progress
        return progress(iterable, total=total, desc=desc, enabled=False)


def _strip(cells):
    return {k: [{m: v for m, v in r.items() if m not in ("query_s", "train_s")} for r in c["rows"]] for k, c in cells.items()}


def test_cells_are_saved_and_reused_only_for_the_same_plan(tmp_path, monkeypatch):
    first = suite._cells(_Ctx(tmp_path), PLAN, workers=1)
    assert set(first) == {("gcn", "sbm", 6), ("gcn", "sbm", 8)}
    assert {(r["method"], r["budget"], r["seed"]) for r in first[("gcn", "sbm", 8)]["rows"]} == \
        {(m, 8, s) for m in ("spa_official", "random") for s in (0, 1)}
    assert len(first[("gcn", "sbm", 8)]["rows"][0]["selected"]) == 8
    assert sorted(p.name for p in (tmp_path / "spa_graph_cells").iterdir()) == ["gcn_sbm_b6.json", "gcn_sbm_b8.json"]

    def boom(*a, **k):
        raise AssertionError("a finished cell was run again")

    monkeypatch.setattr(suite, "_run_cell", boom)
    again = suite._cells(_Ctx(tmp_path), PLAN, workers=1)
    assert again == first
    with pytest.raises(AssertionError, match="run again"):           # another plan: the saved cell does not count
        suite._cells(_Ctx(tmp_path), {**PLAN, "epochs": 6}, workers=1)
    (tmp_path / "spa_graph_cells" / "gcn_sbm_b6.json").write_text("{not json")   # a torn file is recomputed
    with pytest.raises(AssertionError, match="run again"):
        suite._cells(_Ctx(tmp_path), PLAN, workers=1)


@pytest.mark.slow
def test_parallel_cells_equal_one_process(tmp_path):
    one = suite._cells(_Ctx(tmp_path / "a"), PLAN, workers=1)
    two = suite._cells(_Ctx(tmp_path / "b"), PLAN, workers=2)
    assert _strip(one) == _strip(two)
