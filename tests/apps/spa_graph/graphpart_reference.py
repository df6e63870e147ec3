"""GraphPart's own code (Mars-tin/GraphPart, commit faeb10f) run on our graphs: the node sets behind
``fixtures/graphpart_official.json``, which ``test_graphpart_fidelity.py`` holds ``fidelity=official`` to.

Nothing of GraphPart is in this repository: the checkout is named by ``GRAPHPART_REPO`` and its ``query.py``,
``models.py``, ``partition.py`` and ``data/partitions.json`` are imported / read from there at run time. Two steps,
because the era's scikit-learn (1.2.2, the SPA notebook's Colab; GraphPart's setup.sh installs an unpinned one of
2021) does not install beside this project's numpy 2:

1. ``python -m tests.apps.spa_graph.graphpart_reference export DIR`` (project venv): the graphs as plain arrays
   (features, labels, the cleaned edge list in CSR order) -> ``DIR/<name>.npz``.
2. ``GRAPHPART_REPO=... python tests/apps/spa_graph/graphpart_reference.py run DIR`` (and ``... kmeans DIR``: the
   k-means comparison, ``fixtures/sklearn122_kmeans.json``) in an environment with
   scikit-learn 1.2.2, numpy 1.26, networkx, torch and torch_geometric (used for the record: a venv with
   ``scikit-learn==1.2.2 numpy==1.26.4 scipy==1.11.4 networkx==3.2.1`` whose site-packages end with a ``.pth``
   line naming the project venv's, for torch 2.11 and PyG 2.8) -> ``fixtures/graphpart_official.json``.

Step 2 replays main.py's order for every (method, budget, seed): ``random.seed``, ``np.random.seed``,
``torch.manual_seed``, the model built, ``np.random.shuffle(arange(N))`` (the warm-start order), then
``agent.query(budget)``. The GNN is not trained for Random / PageRank / FeatProp / GraphPart(Far): their query does
not read it, and training draws no numpy randomness. ``dgl`` (imported, unused here) is stubbed and ``np.infty``
(gone in numpy 2) aliased. Partitions: GraphPart's ``partitions.json`` at ``max_part``; lower levels (b < max_part)
from GraphPart's own ``GraphPartition`` (its CNM and ``agglomerative_clustering``, ``read=False`` path). AGE is
recorded on fixed inputs (seeded logits and embeddings standing in for the warm-started GNN, whose training
cannot be replayed bit for bit), so the fixture pins its centrality order, k-means and scoring.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import types
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "graphpart_official.json"
MAX_PART = {"cora": 7, "citeseer": 14}
AGE_WEIGHTS = {"cora": [0.05, 0.05, 0.9], "citeseer": [0.35, 0.35, 0.3]}
CASES = {"budgets": [5, 10, 20, 40, 80], "seeds": [0, 1, 2]}
AGE_CASES = {"budget": 40, "seeds": [0, 1]}
KMEANS_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "sklearn122_kmeans.json"
KMEANS_CASES = [("blobs64", 4, 0), ("blobs64", 9, 3), ("blobs32", 6, 1), ("cora_s2x", 7, 0), ("cora_s2x", 20, 2)]


def kmeans_inputs(name: str, folder: str | None = None) -> np.ndarray:
    """Inputs of the k-means comparison with scikit-learn 1.2.2: seeded blobs, or Cora's S^2 X (float32)."""
    if name.startswith("blobs"):
        rs = np.random.RandomState(7)
        centres = rs.randn(6, 5) * 3
        x = centres[rs.randint(0, 6, 400)] + rs.randn(400, 5)
        return x.astype(np.float64 if name == "blobs64" else np.float32)
    if folder is not None:
        return np.load(Path(folder) / "cora_s2x.npy")
    from apps.spa_graph.data import load_dataset
    from apps.spa_graph.graph import propagate_features

    d = load_dataset("cora")
    return propagate_features(d.adj, d.x.numpy(), 2)


def age_inputs(n: int, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stand-ins for the warm-started GNN: (N, C) logits and (N, 16) hidden embeddings (float32), seeded."""
    rs = np.random.RandomState(1000 + seed)
    return (rs.randn(n, num_classes) * 2).astype(np.float32), np.abs(rs.randn(n, 16)).astype(np.float32)


def export(out: str) -> None:
    from apps.spa_graph.data import load_dataset

    Path(out).mkdir(parents=True, exist_ok=True)
    for name in MAX_PART:
        d = load_dataset(name)
        coo = d.adj.tocoo()                                  # CSR order = GraphPart's adj_t storage order
        np.savez(Path(out) / f"{name}.npz", x=d.x.numpy(), y=d.y.numpy(), row=coo.row, col=coo.col)
    np.save(Path(out) / "cora_s2x.npy", kmeans_inputs("cora_s2x"))
    print(f"exported {list(MAX_PART)} to {out}")


def run_kmeans(folder: str) -> None:
    """scikit-learn's own KMeans(k, init='k-means++', random_state=seed) with n_init=10 (the default before 1.4) on
    the KMEANS_CASES -> fixtures/sklearn122_kmeans.json (labels, centres, inertia)."""
    import sklearn
    from sklearn.cluster import KMeans

    out = {"sklearn": sklearn.__version__, "numpy": np.__version__, "cases": []}
    for name, k, seed in KMEANS_CASES:
        km = KMeans(n_clusters=k, init="k-means++", n_init=10, random_state=seed).fit(kmeans_inputs(name, folder))
        c = km.cluster_centers_.astype(np.float64)
        case = {"input": name, "k": k, "seed": seed, "labels": km.labels_.tolist(), "inertia": float(km.inertia_),
                "centre_sums": c.sum(1).tolist()}
        if c.size <= 100:                                       # small inputs: the centres themselves
            case["centres"] = c.tolist()
        out["cases"].append(case)
    KMEANS_FIXTURE.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {KMEANS_FIXTURE}")


def _graphpart_modules(repo: str):
    sys.modules.setdefault("dgl", types.SimpleNamespace(function=types.SimpleNamespace()))
    if not hasattr(np, "infty"):
        np.infty = np.inf
    sys.path.insert(0, repo)
    import query  # noqa: E402  (GraphPart's)
    import models  # noqa: E402
    from partition import GraphPartition  # noqa: E402
    return query, models, GraphPartition


def run(folder: str) -> None:
    import networkx as nx
    import sklearn
    import torch

    repo = os.environ["GRAPHPART_REPO"]
    query, models, GraphPartition = _graphpart_modules(repo)
    parts_file = json.loads((Path(repo) / "data" / "partitions.json").read_text())
    args = types.SimpleNamespace(retrain=True, num_centers=1, device="cpu", lr=0.01, weight_decay=5e-4, epochs=300,
                                 verbose=0)
    out = {"graphpart_commit": "faeb10f", "sklearn": sklearn.__version__, "networkx": nx.__version__,
           "numpy": np.__version__, "torch": torch.__version__, "cases": CASES, "age_cases": AGE_CASES,
           "selections": {}, "warm_start": {}, "age": {}, "partition_sizes": {}, "partition_sha256": {}}
    for name, mp in MAX_PART.items():
        z = np.load(Path(folder) / f"{name}.npz")
        n = len(z["y"])
        data = types.SimpleNamespace()
        data.x = torch.from_numpy(z["x"])
        data.y = torch.from_numpy(z["y"])
        data.num_nodes = n
        data.adj_t = torch.from_numpy(np.stack([z["row"], z["col"]]).astype(np.int64))
        data.max_part = mp
        data.params = {"age": AGE_WEIGHTS[name]}
        g = nx.Graph()
        g.add_edges_from(zip(z["row"].tolist(), z["col"].tolist()))          # dataset.py 67-71
        data.partitions = {mp: torch.tensor(parts_file[name]["partition"])}
        out["partition_sha256"][name] = hashlib.sha256(
            np.asarray(parts_file[name]["partition"], dtype="<i8").tobytes()).hexdigest()
        low = [b for b in CASES["budgets"] if b < mp]
        if low:                                                               # read=False path, dataset.py 86-94
            gp = GraphPartition(g.to_undirected(), data.x, mp)
            comms = gp.clauset_newman_moore(weight=None)
            levels = gp.agglomerative_clustering(comms)
            for b in low:
                data.partitions[b] = levels[b]
        g.add_edges_from((i, i) for i in range(n))                            # dataset.py 122-123
        data.g = g
        out["partition_sizes"][name] = {str(k): np.bincount(np.asarray(v)).tolist()
                                        for k, v in data.partitions.items()}
        sel = out["selections"][name] = {}
        agents = {"random": query.Random, "pagerank": query.PageRank,
                  "featprop": lambda d, m, s, a: query.ClusterBased(d, m, s, a, representation="aggregation",
                                                                    encoder="gcn"),
                  "graphpart": lambda d, m, s, a: query.PartitionBased(d, m, s, a, representation="aggregation",
                                                                       encoder="gcn", compensation=0),
                  "graphpartfar": lambda d, m, s, a: query.PartitionBased(d, m, s, a, representation="aggregation",
                                                                          encoder="gcn", compensation=1)}
        for method, make in agents.items():
            sel[method] = {}
            for seed in CASES["seeds"]:
                sel[method][str(seed)] = {}
                for b in CASES["budgets"]:
                    random.seed(seed)
                    np.random.seed(seed)
                    torch.manual_seed(seed)
                    model = models.GCN(z["x"].shape[1], 16, int(z["y"].max()) + 1, num_layers=2, dropout=0.0)
                    agent = make(data, model, seed, args)
                    initial = np.arange(n)
                    np.random.shuffle(initial)                                # main.py 101-103
                    agent.update(torch.zeros(n, dtype=torch.bool))
                    idx = agent.query(b)
                    sel[method][str(seed)][str(b)] = [int(v) for v in np.asarray(idx).reshape(-1)]
                    print(name, method, seed, b, flush=True)
        warm = out["warm_start"][name] = {}
        for seed in CASES["seeds"]:
            np.random.seed(seed)
            initial = np.arange(n)
            np.random.shuffle(initial)
            warm[str(seed)] = initial[: max(CASES["budgets"]) // 3].tolist()
        age = out["age"][name] = {}
        b = AGE_CASES["budget"]
        for seed in AGE_CASES["seeds"]:
            logits, emb = age_inputs(n, int(z["y"].max()) + 1, seed)
            agent = query.AGE(data, None, seed, args)
            agent.clf = _Clf(logits, emb)
            init = b // 3
            mask = np.zeros(n, dtype=bool)
            mask[warm[str(seed)][:init]] = True
            agent.update(torch.tensor(mask))
            age[str(seed)] = [int(v) for v in np.asarray(agent.query(b - init)).reshape(-1)]
    FIXTURE.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {FIXTURE}")


class _Clf:
    """A fixed 'GNN' for AGE's query: logits and embeddings given (what AGE reads from ``self.clf``)."""

    def __init__(self, logits, emb):
        import torch

        self.logits, self.emb = torch.from_numpy(logits), torch.from_numpy(emb)

    def __call__(self, x, adj):
        return self.logits

    def embed(self, x, adj):
        return self.emb


if __name__ == "__main__":
    cmd, folder = sys.argv[1], sys.argv[2]
    {"export": export, "run": run, "kmeans": run_kmeans}[cmd](folder)
