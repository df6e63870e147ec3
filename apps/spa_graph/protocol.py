"""One-shot labelling protocol: train a GNN on the selected nodes, score it (accuracy, macro-F1, and
GraphPart's distance-grouped macro-F1).

The paper's protocol (SPA notebook cells 4-7, GraphPart main.py): 2-layer GCN/SAGE, hidden 16, dropout 0,
Adam lr 0.01, weight decay 5e-4, 300 full-batch epochs, no validation; metrics on *all* nodes (labelled
ones included). The notebook prints "Macro F1" = ``grouped_macro_f1``: nodes sorted by distance to the
nearest labelled node in propagated-feature space (S^2 X, S = D^-1/2 (A+I) D^-1/2, GraphPart's
``aggregation``), cut into groups of ``N // 10 + 1`` nodes, macro-F1 per group (sklearn's default label
set: the classes present in the group), averaged.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import f1_score

from apps.spa_graph.data import GraphData
from apps.spa_graph.graph import propagate_features
from apps.spa_graph.models import build_model

__all__ = ["TrainConfig", "EVAL_ON", "train_model", "train_gnn", "evaluate_selection", "grouped_macro_f1",
           "check_epochs"]

EVAL_ON = ("all", "unlabelled")


def check_epochs(epochs) -> int:
    if isinstance(epochs, bool) or int(epochs) != epochs or int(epochs) < 1:
        raise ValueError(f"epochs={epochs} must be an integer >= 1 (0 epochs would score an untrained model)")
    return int(epochs)


@dataclass
class TrainConfig:
    model: str = "gcn"
    hidden: int = 16
    lr: float = 0.01
    weight_decay: float = 5e-4
    epochs: int = 300
    dropout: float = 0.0          # the SPA / GraphPart notebooks: --dropout default 0

    def __post_init__(self):
        check_epochs(self.epochs)
        if not (0.0 <= float(self.dropout) < 1.0):
            raise ValueError(f"dropout={self.dropout} must be in [0, 1)")


def _check_idx(labelled, n: int) -> torch.Tensor:
    idx = torch.as_tensor(np.asarray(labelled), dtype=torch.long).reshape(-1)
    if idx.numel() == 0:
        raise ValueError("no labelled nodes: the selection is empty")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"labelled node ids must be in [0, {n})")
    if idx.unique().numel() != idx.numel():
        raise ValueError("labelled node ids contain duplicates")
    return idx


def model_inputs(data: GraphData, kind: str) -> tuple:
    """(x, edges) the fastest way PyG takes them on CPU: GCN gets sparse-CSR features when they are
    < 10% dense (bag of words) and the edge list; SAGE gets dense features and a CSR adjacency."""
    key = ("inputs", kind)
    if key not in data.cache:
        x = data.x
        if kind == "gcn":
            if float((x != 0).float().mean()) < 0.1:
                x = x.to_sparse_csr()
            data.cache[key] = (x, data.edge_index)
        else:
            from torch_geometric.utils import to_torch_csr_tensor
            data.cache[key] = (x, to_torch_csr_tensor(data.edge_index, size=(data.num_nodes, data.num_nodes)))
    return data.cache[key]


def train_model(data: GraphData, labelled, cfg: TrainConfig, seed: int) -> torch.nn.Module:
    """Train a fresh model on ``labelled`` node ids for ``cfg.epochs`` full-batch epochs; returned in eval mode."""
    idx = _check_idx(labelled, data.num_nodes)
    x, edges = model_inputs(data, cfg.model)
    torch.manual_seed(seed)
    model = build_model(cfg.model, data.x.shape[1], data.num_classes, cfg.hidden, cfg.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    y = data.y[idx]
    model.train()
    for _ in range(cfg.epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x, edges)[idx], y)
        loss.backward()
        opt.step()
    return model.eval()


def train_gnn(data: GraphData, labelled, cfg: TrainConfig, seed: int) -> torch.Tensor:
    """Train on ``labelled`` -> (N, C) class probabilities."""
    model = train_model(data, labelled, cfg, seed)
    x, edges = model_inputs(data, cfg.model)
    with torch.no_grad():
        return torch.softmax(model(x, edges), dim=1)


def grouped_macro_f1(y: np.ndarray, pred: np.ndarray, feats: np.ndarray, labelled, groups: int = 10) -> float:
    """GraphPart's distance-grouped macro-F1 (SPA notebook ``test()``): (N,), (N,), (N, F), ids -> float.

    Distance of every node to its nearest labelled node in ``feats``; nodes sorted by it (stable, so ties
    by id); consecutive groups of ``N // groups + 1`` nodes; the mean of sklearn's macro-F1 per group.
    """
    y, pred = np.asarray(y), np.asarray(pred)
    lab = np.asarray(labelled, dtype=np.int64)
    f = np.asarray(feats, dtype=np.float64)
    sq = (f ** 2).sum(1)
    dist = np.full(len(y), np.inf)
    for s in range(0, len(lab), 256):             # chunks of labelled nodes: (N, 256) distances at a time
        part = lab[s:s + 256]
        d2 = sq[:, None] + sq[part][None, :] - 2.0 * f @ f[part].T
        dist = np.minimum(dist, np.sqrt(np.clip(d2, 0.0, None)).min(1))
    order = np.argsort(dist, kind="stable")
    size = len(y) // groups + 1
    scores = [f1_score(y[g], pred[g], average="macro") for g in
              (order[i:i + size] for i in range(0, len(order), size))]
    return float(np.mean(scores))


def evaluate_selection(data: GraphData, labelled, cfg: TrainConfig, seed: int, eval_on: str = "all",
                       grouped: bool = True) -> dict:
    """Train on ``labelled`` and score on all nodes (``eval_on='all'``, the paper's protocol) or on the
    others (``'unlabelled'``) -> dict(accuracy, macro_f1, grouped_macro_f1 (always on all nodes, as in
    the notebook; NaN when ``grouped`` is False), train_s)."""
    if eval_on not in EVAL_ON:
        raise ValueError(f"eval_on={eval_on!r}; choose one of {list(EVAL_ON)}")
    t0 = time.perf_counter()
    prob = train_gnn(data, labelled, cfg, seed)
    train_s = time.perf_counter() - t0
    pred = prob.argmax(1).numpy()
    mask = np.ones(data.num_nodes, dtype=bool)
    if eval_on == "unlabelled":
        mask[np.asarray(labelled)] = False
    y = data.y.numpy()
    out = {
        "accuracy": float((pred[mask] == y[mask]).mean()),
        "macro_f1": float(f1_score(y[mask], pred[mask], average="macro", labels=np.arange(data.num_classes),
                                   zero_division=0)),
        "grouped_macro_f1": float("nan"),
        "train_s": train_s,
    }
    if grouped:
        key = ("propagated", 2)
        if key not in data.cache:
            data.cache[key] = propagate_features(data.adj, data.x.numpy(), 2)
        out["grouped_macro_f1"] = grouped_macro_f1(y, pred, data.cache[key], labelled)
    return out
