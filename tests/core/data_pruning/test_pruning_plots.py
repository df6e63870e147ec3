"""plot_selection_history writes PNGs for a pruner and for a list of selections."""
import pytest
import torch

from core.data_pruning import DataPruner, plot_selection_history


def test_plots(tmp_path):
    p = DataPruner(50, 0.4, "dynamic_random", num_epochs=5, anneal=0.2)
    sels = [p.select(e) for e in range(5)]
    a = plot_selection_history(p, tmp_path / "a.png")
    b = plot_selection_history(sels, tmp_path / "sub" / "b.png", num_items=50)
    for f in (a, b):
        assert f.exists() and f.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="no history"):
        plot_selection_history(DataPruner(5, 0.5), tmp_path / "c.png")
