"""One-shot labelling protocol: train a GNN on the selected nodes, score the rest (accuracy, macro-F1)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import f1_score

from apps.spa_graph.data import GraphData
from apps.spa_graph.models import build_model

__all__ = ["TrainConfig", "EVAL_ON", "train_gnn", "evaluate_selection"]

EVAL_ON = ("unlabelled", "all")


@dataclass
class TrainConfig:
    model: str = "gcn"
    hidden: int = 16
    lr: float = 0.01
    weight_decay: float = 5e-4
    epochs: int = 300
    dropout: float = 0.5


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


def train_gnn(data: GraphData, labelled, cfg: TrainConfig, seed: int) -> torch.Tensor:
    """Train on ``labelled`` node ids for ``cfg.epochs`` full-batch epochs -> (N, C) class probabilities."""
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
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(x, edges), dim=1)


def evaluate_selection(data: GraphData, labelled, cfg: TrainConfig, seed: int, eval_on: str = "unlabelled") -> dict:
    """Train on ``labelled`` and score on the other nodes (``eval_on='unlabelled'``) or on all nodes
    (``'all'``, the SPA paper's convention) -> dict(accuracy, macro_f1, train_s)."""
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
    return {
        "accuracy": float((pred[mask] == y[mask]).mean()),
        "macro_f1": float(f1_score(y[mask], pred[mask], average="macro", labels=np.arange(data.num_classes),
                                   zero_division=0)),
        "train_s": train_s,
    }
