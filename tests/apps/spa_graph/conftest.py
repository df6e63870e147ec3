import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Stage packaged graphs into a per-test cache, never the user's home."""
    monkeypatch.setenv("SPARSELAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def hand_graph_edges():
    """Two 4-cliques {0..3}, {4..7}, bridge 3-4, node 8 touching 0 and 4, pendant 9 on 7, isolated 10."""
    e = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3), (4, 5), (4, 6), (4, 7), (5, 6), (5, 7), (6, 7),
         (3, 4), (0, 8), (4, 8), (7, 9)]
    return np.array(e).T, 11
