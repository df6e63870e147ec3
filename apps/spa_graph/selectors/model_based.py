"""Selectors that train a GNN first: Uncertainty (entropy) and AGE (Cai et al. 2017), as in GraphPart's
code (Mars-tin/GraphPart ``main.py`` lines 102-124, ``query.py`` ``Uncertainty`` 254-271, ``AGE`` 494-543).

Warm start (main.py 103-113): ``init = budget // 3`` random nodes (seeded shuffle) are labelled and the
protocol's GNN is trained on them; the query then spends ``budget - init``:
- Uncertainty: the highest entropy of the predicted class distribution among unlabelled nodes.
- AGE: ``alpha * entropy + beta * density + gamma * pagerank``, each turned into its rank / N
  (``percentile``); density = 1 / (1 + distance to its k-means centre) with **k = budget - init**
  clusters on the GNN's hidden-layer embedding (``clf.embed``); PageRank with networkx's default
  damping 0.85 on GraphPart's graph, which has a self loop on every node (dataset.py 122-123), read in
  ``data.g``'s insertion order under ``fidelity=official`` (``selectors/fidelity.py``); the
  weights per dataset are GraphPart's (dataset.py 43-63). Datasets GraphPart does not list (WikiCS,
  Minesweeper, Tolokers, synthetic) get [0.1, 0.1, 0.8], the value GraphPart uses for all its other
  datasets (corafull, cs, physics, arxiv): our choice, written down in the README.
With ``budget // 3 == 0`` (budget 1 or 2) there is no warm start and the untrained model scores.
"""
from __future__ import annotations

import numpy as np
import torch

from apps.spa_graph.models import build_model
from apps.spa_graph.protocol import model_inputs, train_model
from apps.spa_graph.selectors.base import Selector
from apps.spa_graph.selectors.context import SelectionContext
from apps.spa_graph.selectors.fidelity import kmeans, legacy_permutation
from apps.spa_graph.selectors.simple import graphpart_pagerank

__all__ = ["UncertaintySelector", "AgeSelector", "age_scores", "age_top", "percentile", "AGE_WEIGHTS", "age_weights",
           "warm_start_ids"]

# GraphPart dataset.py lines 43-63: data.params['age'] = [alpha (entropy), beta (density), gamma (centrality)]
AGE_WEIGHTS = {"cora": (0.05, 0.05, 0.9), "pubmed": (0.15, 0.15, 0.7), "citeseer": (0.35, 0.35, 0.3),
               "corafull": (0.1, 0.1, 0.8), "cs": (0.1, 0.1, 0.8), "physics": (0.1, 0.1, 0.8),
               "arxiv": (0.1, 0.1, 0.8)}
DEFAULT_AGE_WEIGHTS = (0.1, 0.1, 0.8)


def age_weights(dataset: str) -> tuple[float, float, float]:
    return AGE_WEIGHTS.get(str(dataset).lower(), DEFAULT_AGE_WEIGHTS)


def percentile(scores: np.ndarray) -> np.ndarray:
    """(M,) -> (M,) rank / M in ascending order (GraphPart query.py 530-536; ties by a stable sort)."""
    s = np.asarray(scores, dtype=np.float64)
    out = np.empty(len(s))
    out[np.argsort(s, kind="stable")] = np.arange(len(s)) / max(len(s), 1)
    return out


def warm_start_ids(ctx: SelectionContext, budget: int, seed: int, fidelity: str = "corrected") -> np.ndarray:
    """``budget // 3`` candidates (main.py 104-109): ``official``: the first candidates of main.py's
    ``np.random.shuffle(arange(N))`` after ``np.random.seed(seed)``; ``corrected``: a ``default_rng(seed)``
    permutation of the candidates."""
    k = budget // 3
    if fidelity == "official":
        perm, _ = legacy_permutation(ctx.data.num_nodes, seed)
        return perm[ctx.candidates[perm]][:k].astype(np.int64)
    ids = np.flatnonzero(ctx.candidates)
    return np.random.default_rng(seed).permutation(ids)[:k].astype(np.int64)


def _warm_model(ctx: SelectionContext, budget: int, seed: int, fidelity: str):
    start = warm_start_ids(ctx, budget, seed, fidelity)
    data, cfg = ctx.data, ctx.train
    if len(start):
        model = train_model(data, start, cfg, seed)
    else:
        torch.manual_seed(seed)
        model = build_model(cfg.model, data.x.shape[1], data.num_classes, cfg.hidden, cfg.dropout).eval()
    x, edges = model_inputs(data, cfg.model)
    with torch.no_grad():
        logits = model(x, edges)
        emb = model.embed(x, edges).numpy()
    ent = -(torch.softmax(logits, 1) * torch.log_softmax(logits, 1)).sum(1).numpy()
    return start, ent, emb


def age_scores(ctx: SelectionContext, ent: np.ndarray, emb: np.ndarray, k: int, seed: int, fidelity: str,
               weights: tuple[float, float, float]) -> np.ndarray:
    """AGE's score (query.py 494-543): alpha * pct(entropy) + beta * pct(density) + gamma * pct(PageRank), with
    density = 1 / (1 + distance to the k-means centre) for ``k`` clusters on the embedding (N, H). ``official``
    computes it as GraphPart's code does, in float32 torch (PageRank cast to float32, ``argsort`` ranks, the
    float32 sum), which decides near ties; ``corrected`` in float64."""
    alpha, beta, gamma = weights
    km = kmeans(emb, min(k, len(emb)), seed, fidelity)
    pr = graphpart_pagerank(ctx, fidelity)
    if fidelity == "official":
        x = torch.from_numpy(np.ascontiguousarray(emb, dtype=np.float32))
        entropy = torch.as_tensor(ent, dtype=torch.float32).clone()
        page = torch.tensor(pr, dtype=torch.float32)
        centres = torch.tensor(km.cluster_centers_[km.predict(emb)], dtype=x.dtype)
        density = 1 / (1 + torch.linalg.norm(x - centres, dim=1))
        pct = torch.arange(len(x), dtype=torch.float32) / len(x)
        for t in (density, entropy, page):                 # query.py 530-536
            t[t.argsort(descending=False)] = pct
        return (alpha * entropy + beta * density + gamma * page).numpy()
    dens = 1.0 / (1.0 + np.linalg.norm(emb - km.cluster_centers_[km.labels_], axis=1))   # labels_ = predict(emb)
    return alpha * percentile(ent) + beta * percentile(dens) + gamma * percentile(pr)


def age_top(ctx: SelectionContext, score: np.ndarray, k: int, start: np.ndarray, fidelity: str) -> np.ndarray:
    """The ``k`` best scores outside the warm start: ``official`` as query.py 540-542 (labelled scores set to 0,
    ``torch.topk``; non-candidates, which GraphPart has none of, to -inf), ``corrected`` ties by smaller id."""
    if fidelity != "official":
        return ctx.top_k(score, k, exclude=start)
    s = torch.from_numpy(np.array(score, dtype=np.float32))
    s[torch.from_numpy(~ctx.candidates)] = -float("inf")
    s[torch.as_tensor(start, dtype=torch.long)] = 0
    return torch.topk(s, k=k).indices.numpy().astype(np.int64)


class UncertaintySelector(Selector):
    """b // 3 warm start, then the ``b - b // 3`` highest-entropy candidates."""

    name = "uncertainty"

    def __init__(self, fidelity: str):
        self.fidelity = fidelity

    def select(self, ctx, budget, seed):
        start, ent, _ = _warm_model(ctx, budget, seed, self.fidelity)
        return np.concatenate([start, ctx.top_k(ent, budget - len(start), exclude=start)])


class AgeSelector(Selector):
    """b // 3 warm start, then the ``b - b // 3`` best AGE scores with GraphPart's weights for the dataset."""

    name = "age"

    def __init__(self, fidelity: str):
        self.fidelity = fidelity

    def select(self, ctx, budget, seed):
        start, ent, emb = _warm_model(ctx, budget, seed, self.fidelity)
        k = budget - len(start)
        score = age_scores(ctx, ent, emb, k, seed, self.fidelity, age_weights(ctx.data.name))
        return np.concatenate([start, age_top(ctx, score, k, start, self.fidelity)])
