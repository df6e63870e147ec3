"""The spa_graph benchmark's grid cells: each cell is the app's own config with the cell's overrides (so SPA's
parameters and every other key reach run_grid), parallel workers give the rows one process gives, and a finished
cell is reused only when its plan is unchanged (an interrupted standard run continues)."""
import pytest

from apps.spa_graph import recipe as recipe_mod
from benchmarks.suites import spa_graph as suite

PLAN = dict(grid=[("gcn", "sbm", [6, 8], ["methods=[spa_official,random]", "fidelity=corrected"])], seeds=2, epochs=5)


class _Ctx:
    seed = 0
    suite = "smoke"

    def __init__(self, out):
        self.out_dir = self.runs_dir = out

    def progress(self, iterable=None, total=None, desc=""):
        from core.training.progress import progress
        return progress(iterable, total=total, desc=desc, enabled=False)


def _strip(cells):
    return {k: [{m: v for m, v in r.items() if m not in ("query_s", "train_s")} for r in c["rows"]] for k, c in cells.items()}


def test_cells_are_saved_and_reused_only_for_the_same_plan(tmp_path, monkeypatch):
    first = suite._cells(_Ctx(tmp_path), PLAN, workers=1)
    assert set(first) == {("gcn", "sbm", 6, "corrected"), ("gcn", "sbm", 8, "corrected")}
    assert {(r["method"], r["budget"], r["seed"]) for r in first[("gcn", "sbm", 8, "corrected")]["rows"]} == \
        {(m, 8, s) for m in ("spa_official", "random") for s in (0, 1)}
    assert len(first[("gcn", "sbm", 8, "corrected")]["rows"][0]["selected"]) == 8
    assert sorted(p.name for p in (tmp_path / "spa_graph_cells").iterdir()) == ["gcn_sbm_b6_corrected.json",
                                                                                  "gcn_sbm_b8_corrected.json"]

    def boom(*a, **k):
        raise AssertionError("a finished cell was run again")

    monkeypatch.setattr(suite, "_run_cell", boom)
    again = suite._cells(_Ctx(tmp_path), PLAN, workers=1)
    assert again == first
    with pytest.raises(AssertionError, match="run again"):           # another plan: the saved cell does not count
        suite._cells(_Ctx(tmp_path), {**PLAN, "epochs": 6}, workers=1)
    (tmp_path / "spa_graph_cells" / "gcn_sbm_b6_corrected.json").write_text("{not json")   # a torn file is recomputed
    with pytest.raises(AssertionError, match="run again"):
        suite._cells(_Ctx(tmp_path), PLAN, workers=1)


def test_a_config_value_of_the_plan_reaches_run_grid(tmp_path, monkeypatch):
    seen = []
    real = recipe_mod.run_grid

    def spy(data, selectors, budgets, seeds, train, **kw):
        seen.append((selectors, budgets, seeds, train, kw))
        return real(data, selectors, budgets, seeds, train, **kw)

    monkeypatch.setattr(recipe_mod, "run_grid", spy)
    plan = dict(grid=[("sage", "sbm", [7], ["methods=[spa_official,featprop]", "spa.eps=0.6", "spa.damping=0.9",
                                            "fidelity=official", "hidden=8"])], seeds=1, epochs=4)
    suite._cells(_Ctx(tmp_path), plan, workers=1)
    (selectors, budgets, seeds, train, kw), = seen
    spa = next(s for s in selectors if s.name == "spa_official")
    assert (spa.params.eps, spa.params.damping) == (0.6, 0.9)
    assert next(s for s in selectors if s.name == "featprop").fidelity == "official"
    assert budgets == (7,) and seeds == 1 and kw["seed"] == 0
    assert (train.model, train.epochs, train.hidden) == ("sage", 4, 8)


@pytest.mark.slow
def test_parallel_cells_equal_one_process(tmp_path):
    one = suite._cells(_Ctx(tmp_path / "a"), PLAN, workers=1)
    two = suite._cells(_Ctx(tmp_path / "b"), PLAN, workers=2)
    assert _strip(one) == _strip(two)
