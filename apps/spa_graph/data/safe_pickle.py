"""Planetoid's raw files (``ind.<name>.{x,tx,allx,y,ty,ally,graph}``) are Python 2 pickles. A plain ``pickle.load``
(PyG's ``read_planetoid_data``) runs whatever a crafted file names; this reader admits only the globals the format
uses and checks what comes out, so a file from a data folder or a cache never runs code.

What the format holds (checked on the packaged Cora and CiteSeer files with ``pickletools``):
``x``, ``tx``, ``allx``: ``scipy.sparse.csr.csr_matrix`` of float32 built from numpy arrays
(``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``); ``y``, ``ty``, ``ally``: numpy arrays;
``graph``: ``collections.defaultdict(list)`` mapping node ids to neighbour lists. Nothing else is admitted: any
other global (``os.system``, ``builtins.eval``, ``subprocess.Popen`` ...) is refused *before* it is looked up,
naming the file and the global; arrays with Python objects inside (object dtypes) are refused too.
"""
from __future__ import annotations

import io
import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from core.training.checkpoint import UnsafeFileError

try:
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct as _np_reconstruct

__all__ = ["load_planetoid_pickle", "UnsafeFileError"]


def _reconstruct(subtype, shape, dtype):
    """numpy's array-pickle helper (``numpy.core.multiarray._reconstruct``), for plain ndarrays only."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"_reconstruct of {subtype!r}: only numpy.ndarray is part of the format")
    return _np_reconstruct(np.ndarray, shape, _dtype(dtype))


def _dtype(*args):
    """``numpy.dtype`` (refuses dtypes that hold Python objects)."""
    dt = np.dtype(*args)
    if dt.hasobject:
        raise pickle.UnpicklingError("an object dtype (arrays of Python objects) is not part of the format")
    return dt


def _defaultdict(factory=None):
    if factory is not list:
        raise pickle.UnpicklingError(f"defaultdict({factory!r}): only defaultdict(list) is part of the format")
    return defaultdict(list)


# (module, name) -> the object the stream may use; Python 2's module names included (the files are protocol 2)
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("scipy.sparse.csr", "csr_matrix"): sp.csr_matrix,
    ("scipy.sparse._csr", "csr_matrix"): sp.csr_matrix,
    ("collections", "defaultdict"): _defaultdict,
    ("__builtin__", "list"): list,
    ("builtins", "list"): list,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, f, path: Path):
        super().__init__(f, encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str):
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise UnsafeFileError(f"refusing to load {self._path}: it names {module}.{name}, which is not part of the "
                                  f"Planetoid format (numpy arrays, a scipy CSR matrix, a dict of neighbour lists); "
                                  f"nothing was run")
        return obj

    def persistent_load(self, pid):
        raise UnsafeFileError(f"refusing to load {self._path}: persistent ids are not part of the Planetoid format")


def _check_array(a, path: Path, what: str) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.dtype.hasobject or a.dtype.kind not in "biuf" or a.ndim != 2:
        raise ValueError(f"{path}: {what} must be a 2-D numeric array, got {type(a).__name__}"
                         f"{'' if not isinstance(a, np.ndarray) else f' {a.dtype} {a.shape}'}")
    return a


def _check_csr(m, path: Path) -> sp.csr_matrix:
    """A csr_matrix rebuilt from its validated arrays (the unpickled object's attributes are not trusted)."""
    d = getattr(m, "__dict__", {})
    data, indices, indptr = d.get("data"), d.get("indices"), d.get("indptr")
    shape = d.get("_shape", d.get("shape"))
    for name, a in (("data", data), ("indices", indices), ("indptr", indptr)):
        if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype.kind not in ("biuf" if name == "data" else "iu"):
            raise ValueError(f"{path}: the sparse matrix's {name} is not a 1-D numeric array")
    if not (isinstance(shape, tuple) and len(shape) == 2 and all(isinstance(s, (int, np.integer)) and s >= 0
                                                                 for s in shape)):
        raise ValueError(f"{path}: the sparse matrix has no valid shape ({shape!r})")
    out = sp.csr_matrix((data, indices, indptr), shape=(int(shape[0]), int(shape[1])))
    out.check_format(full_check=True)
    return out


def load_planetoid_pickle(path: str | Path, kind: str):
    """Read one Planetoid raw pickle. ``kind``: ``"features"`` (x/tx/allx) -> (n, F) float32 numpy array;
    ``"labels"`` (y/ty/ally) -> (n, C) numeric array; ``"graph"`` -> {node: [neighbours]} with int keys and values.

    ``UnsafeFileError`` (nothing constructed) for any global outside the format; ``ValueError`` naming the file
    for a truncated, empty or mistyped file."""
    path = Path(path)
    raw = path.read_bytes()
    if not raw:
        raise ValueError(f"{path}: empty file")
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw), path).load()
    except UnsafeFileError:
        raise
    except Exception as e:   # noqa: BLE001 -- truncated or garbage streams raise many types
        raise ValueError(f"{path}: not a Planetoid pickle ({type(e).__name__}: {e})") from e
    if kind == "graph":
        if not isinstance(obj, dict):
            raise ValueError(f"{path}: the graph must be a dict of neighbour lists, got {type(obj).__name__}")
        out = {}
        for k, v in obj.items():
            if not isinstance(k, (int, np.integer)) or not isinstance(v, list) or \
                    not all(isinstance(u, (int, np.integer)) for u in v):
                raise ValueError(f"{path}: the graph must map integer node ids to lists of integer ids")
            out[int(k)] = [int(u) for u in v]
        return out
    if kind == "features":
        if isinstance(obj, sp.csr_matrix) or type(obj).__name__ == "csr_matrix":
            return np.asarray(_check_csr(obj, path).todense(), dtype=np.float32)
        return _check_array(obj, path, "the feature matrix").astype(np.float32)
    if kind == "labels":
        return _check_array(obj, path, "the label matrix")
    raise ValueError(f"kind={kind!r}; choose one of features, labels, graph")
