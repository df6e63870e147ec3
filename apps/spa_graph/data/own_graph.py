"""Your own graph (``sparselab-spa data=file data.path=...``), in one of four forms, read without running code:

* ``graph.pt``: a dict of tensors saved with ``torch.save`` (a PyG ``Data`` as ``torch.save(data.to_dict(), path)``):
  ``x`` (N, F), ``edge_index`` (2, E), ``y`` (N,); optional ``labelled`` (N,) bool. Loaded weights-only
  (``core.training.checkpoint.safe_torch_load``), with no fallback: a file naming any Python object is refused.
* ``graph.npz`` with ``x``, ``edge_index`` (2, E) or ``edges`` (E, 2), ``y`` [, ``labelled``]; or the heterophilous
  benchmark's npz (``node_features``, ``node_labels``, ``edges``). ``numpy.load(allow_pickle=False)``.
* a folder with ``edges.csv`` (two integer columns: source, target), ``features.csv`` (N rows of numbers) and
  ``labels.csv`` (N rows: an integer class, or -1 / empty for a node without a label); a header line is allowed.

Labels of -1 (or ``labelled`` False) mark nodes whose label is unknown: they stay in the graph (message passing,
SCAN, PageRank) but are never selected and never scored. Edges are symmetrized, self loops and duplicates dropped.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from apps.spa_graph.data.datasets import GraphData, from_tensors
from core.training.checkpoint import safe_torch_load

__all__ = ["load_graph_file", "CSV_FILES"]

CSV_FILES = ("edges.csv", "features.csv", "labels.csv")


def _arr(v, what: str, path: Path) -> np.ndarray:
    if torch.is_tensor(v):
        return v.detach().cpu().numpy()
    if isinstance(v, np.ndarray):
        return v
    raise ValueError(f"{path}: {what} must be a tensor or an array, got {type(v).__name__}")


def _from_mapping(d, path: Path, name: str) -> GraphData:
    keys = set(d)
    if {"node_features", "node_labels", "edges"} <= keys:               # the heterophilous benchmark's npz
        x, y, ei = d["node_features"], d["node_labels"], _arr(d["edges"], "edges", path).T
        lab = None
    else:
        missing = [k for k in ("x", "y") if k not in keys] + ([] if {"edge_index", "edges"} & keys else ["edge_index"])
        if missing:
            raise ValueError(f"{path}: missing {missing}; a graph file holds x (N, F), edge_index (2, E) or "
                             f"edges (E, 2), y (N,) and optionally labelled (N,) (has {sorted(keys)})")
        x, y = d["x"], d["y"]
        ei = _arr(d["edge_index"], "edge_index", path) if "edge_index" in keys else _arr(d["edges"], "edges", path).T
        lab = _arr(d["labelled"], "labelled", path).astype(bool) if "labelled" in keys else None
    x, y = _arr(x, "x", path), _arr(y, "y", path)
    if x.ndim != 2 or x.dtype.kind not in "biuf":
        raise ValueError(f"{path}: x must be an (N, F) numeric array, got {x.dtype} {x.shape}")
    try:
        return from_tensors(name, x.astype(np.float32), y, ei, labelled=lab)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def _read_csv(path: Path, what: str, *, integer: bool) -> np.ndarray:
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.split(",")]
        if not line.strip():
            if what == "labels":                                      # an empty label line: unlabelled
                rows.append([-1])
            continue
        try:
            vals = [(-1 if c == "" else int(c)) if integer else float(c) for c in cells]
        except ValueError:
            if i == 0:                                                # a header line
                continue
            raise ValueError(f"{path}, line {i + 1}: {line[:80]!r} is not {'integers' if integer else 'numbers'}") from None
        rows.append(vals)
    if not rows:
        raise ValueError(f"{path}: no rows")
    if len({len(r) for r in rows}) != 1:
        raise ValueError(f"{path}: rows have different numbers of columns")
    return np.asarray(rows, dtype=np.int64 if integer else np.float32)


def load_graph_file(path: str | os.PathLike, name: str = "file") -> GraphData:
    """Load a graph from ``path`` (see the module docstring) -> GraphData (unlabelled nodes marked)."""
    path = Path(path)
    if path.is_dir():
        missing = [f for f in CSV_FILES if not (path / f).is_file()]
        if missing:
            raise FileNotFoundError(f"data.path={path}: a graph folder holds {list(CSV_FILES)}; missing {missing}")
        e = _read_csv(path / "edges.csv", "edges", integer=True)
        if e.shape[1] != 2:
            raise ValueError(f"{path / 'edges.csv'}: two columns (source, target), got {e.shape[1]}")
        x = _read_csv(path / "features.csv", "features", integer=False)
        y = _read_csv(path / "labels.csv", "labels", integer=True)
        if y.shape[1] != 1:
            raise ValueError(f"{path / 'labels.csv'}: one column (the class, -1 or empty: unknown), got {y.shape[1]}")
        try:
            return from_tensors(name, x, y[:, 0], e.T)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
    if not path.is_file():
        raise FileNotFoundError(f"data.path={path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".pt":
        d = safe_torch_load(path, what="graph file")
        if not isinstance(d, dict):
            raise ValueError(f"{path}: a .pt graph is a dict of tensors (torch.save(data.to_dict(), path)), "
                             f"got {type(d).__name__}")
        return _from_mapping(d, path, name)
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        except Exception as e:  # noqa: BLE001 -- not a zip, truncated, or object arrays (refused by allow_pickle)
            raise ValueError(f"{path}: not a readable npz of plain arrays ({type(e).__name__}: {e})") from e
        return _from_mapping(d, path, name)
    raise ValueError(f"data.path={path}: use a .pt file, a .npz file, or a folder with {list(CSV_FILES)}")
