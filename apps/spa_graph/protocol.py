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
from apps.spa_graph.models.gnn import GraphOperator
from core.settings import ConfigError

__all__ = ["TrainConfig", "EVAL_ON", "train_model", "train_gnn", "evaluate_selection", "grouped_macro_f1",
           "check_epochs", "majority_macro_f1", "OPERATOR_NNZ"]

EVAL_ON = ("all", "unlabelled")


def check_epochs(epochs) -> int:
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or int(epochs) != epochs or int(epochs) < 1:
        raise ConfigError(f"epochs={epochs!r} must be an integer >= 1 (0 epochs would score an untrained model)")
    return int(epochs)


@dataclass(frozen=True)
class TrainConfig:
    """The protocol's GNN training (config keys ``model``, ``hidden``, ``lr``, ``weight_decay``, ``epochs``,
    ``dropout``), validated here once. The keyword defaults are for library callers only: the config path sets
    every field from configs/train.yaml (a test holds the two equal)."""
    model: str = "gcn"
    hidden: int = 16
    lr: float = 0.01
    weight_decay: float = 5e-4
    epochs: int = 300
    dropout: float = 0.0          # the SPA / GraphPart notebooks: --dropout default 0

    def __post_init__(self):
        from apps.spa_graph.models import MODELS

        if self.model not in MODELS:
            raise ConfigError(f"model={self.model!r}; valid choices: {', '.join(MODELS)}")
        if isinstance(self.hidden, bool) or not isinstance(self.hidden, int) or self.hidden < 1:
            raise ConfigError(f"hidden={self.hidden!r} must be an integer >= 1")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and self.lr == self.lr):
            raise ConfigError(f"lr={self.lr!r} must be a number > 0")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ConfigError(f"weight_decay={self.weight_decay!r} must be a number >= 0")
        check_epochs(self.epochs)
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= float(self.dropout) < 1.0):
            raise ConfigError(f"dropout={self.dropout!r} must be in [0, 1)")


def _check_idx(labelled, n: int) -> torch.Tensor:
    idx = torch.as_tensor(np.asarray(labelled), dtype=torch.long).reshape(-1)
    if idx.numel() == 0:
        raise ValueError("no labelled nodes: the selection is empty")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"labelled node ids must be in [0, {n})")
    if idx.unique().numel() != idx.numel():
        raise ValueError("labelled node ids contain duplicates")
    return idx


OPERATOR_NNZ = 50_000    # GCN on graphs with at least this many stored adjacency entries runs through a GraphOperator
                         # (Minesweeper 78,804: 4x faster a training; Cora 10,556 and CiteSeer 9,104 stay on the edge list)


def model_inputs(data: GraphData, kind: str) -> tuple:
    """(x, edges) the fastest way on CPU, built once per graph: features as sparse CSR when < 10% dense (bag of
    words); GCN on graphs below ``OPERATOR_NNZ`` stored entries takes PyG's edge list (what the committed Cora /
    CiteSeer grids used), larger graphs and every SAGE model a ``GraphOperator`` (the same layers, a cheap backward:
    models/gnn.py)."""
    key = ("inputs", kind)
    if key not in data.cache:
        x = data.x
        if float((x != 0).float().mean()) < 0.1:
            x = x.to_sparse_csr()
        if kind == "gcn" and data.adj.nnz < OPERATOR_NNZ:
            data.cache[key] = (x, data.edge_index)
        else:
            data.cache[key] = (x, GraphOperator.for_model(kind, data.adj))
    return data.cache[key]


def train_model(data: GraphData, labelled, cfg: TrainConfig, seed: int) -> torch.nn.Module:
    """Train a fresh model on ``labelled`` node ids for ``cfg.epochs`` full-batch epochs; returned in eval mode."""
    idx = _check_idx(labelled, data.num_nodes)
    if not data.labelled[idx.numpy()].all():
        raise ValueError("a selected node has no label (-1): only labelled nodes can be trained on")
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


def grouped_macro_f1(y: np.ndarray, pred: np.ndarray, feats: np.ndarray, labelled, groups: int = 10,
                     scored: np.ndarray | None = None) -> float:
    """GraphPart's distance-grouped macro-F1 (SPA notebook ``test()``): (N,), (N,), (N, F), ids -> float.

    Distance of every scored node (``scored`` (N,) bool, default all) to its nearest labelled node in ``feats``;
    nodes sorted by it (stable, so ties by id); consecutive groups of ``M // groups + 1`` nodes (M scored nodes);
    the mean of sklearn's macro-F1 per group.
    """
    y, pred = np.asarray(y), np.asarray(pred)
    nodes = np.arange(len(y)) if scored is None else np.flatnonzero(scored)
    lab = np.asarray(labelled, dtype=np.int64)
    f = np.asarray(feats, dtype=np.float64)
    sq = (f ** 2).sum(1)
    dist = np.full(len(nodes), np.inf)
    fn = f[nodes]
    for s in range(0, len(lab), 256):             # chunks of labelled nodes: (M, 256) distances at a time
        part = lab[s:s + 256]
        d2 = sq[nodes][:, None] + sq[part][None, :] - 2.0 * fn @ f[part].T
        dist = np.minimum(dist, np.sqrt(np.clip(d2, 0.0, None)).min(1))
    order = nodes[np.argsort(dist, kind="stable")]
    size = len(order) // groups + 1
    scores = [f1_score(y[g], pred[g], average="macro") for g in
              (order[i:i + size] for i in range(0, len(order), size))]
    return float(np.mean(scores))


def evaluate_selection(data: GraphData, labelled, cfg: TrainConfig, seed: int, eval_on: str = "all",
                       grouped: bool = True) -> dict:
    """Train on ``labelled`` and score on every node with a label (``eval_on='all'``, the paper's protocol) or on
    those outside the labelled set (``'unlabelled'``) -> dict(accuracy, macro_f1, grouped_macro_f1 (on every node
    with a label, as in the notebook; NaN when ``grouped`` is False), train_s). Nodes without a label (-1) are
    never scored."""
    if eval_on not in EVAL_ON:
        raise ValueError(f"eval_on={eval_on!r}; choose one of {list(EVAL_ON)}")
    t0 = time.perf_counter()
    prob = train_gnn(data, labelled, cfg, seed)
    train_s = time.perf_counter() - t0
    pred = prob.argmax(1).numpy()
    mask = data.labelled.copy()
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
        out["grouped_macro_f1"] = grouped_macro_f1(y, pred, data.cache[key], labelled,
                                                   scored=None if data.labelled.all() else data.labelled)
    return out


def majority_macro_f1(data: GraphData) -> float:
    """Macro-F1 of predicting the most frequent class for every node with a label: what a model that learned
    nothing scores (the summary line warns when no method beats it)."""
    y = data.y.numpy()[data.labelled]
    pred = np.full_like(y, np.bincount(y).argmax())
    return float(f1_score(y, pred, average="macro", labels=np.arange(data.num_classes), zero_division=0))
