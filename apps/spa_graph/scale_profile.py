"""SCAN + PageRank at scale: CPU seconds, wall seconds and peak RSS per stage on generated graphs, each size in
child processes (so one size's memory does not count in another's, and no torch is loaded).

    python -m apps.spa_graph.scale_profile --edges 1e6 1e7 --threads 1 2 --out apps/spa_graph/results/scale
    python -m apps.spa_graph.scale_profile --edges 1e8 --threads 2 --no-numpy-reference --out DIR

For every input-edge count E: a child generates ``graphgen.planted_powerlaw_graph(E, seed)`` and saves its CSR
(``<work>/graph_<E>_s<seed>/``, reused when present); then, per thread count, a child loads it and runs, each
stage with its peak RSS reset first (``/proc/self/clear_refs``, VmHWM) and timed with process CPU time and wall:

* ``compile``: numba compiling every kernel on a tiny graph (paid once per process; reported apart);
* ``similarity``: ``scan_compiled.common_counts`` (merge/mark intersection, sigma from the counts);
* ``clustering``: ``scan_from_counts`` at (eps, mu) -- cores, union-find clusters, borders, hubs;
* ``index`` (optional): ``ScanIndex.build`` from the counts, then ``query(eps, mu)`` (median of 5) against a
  fresh SCAN (similarity + clustering), and the query's result compared with the fresh one;
* ``pagerank``: converged PageRank (``tol_rule="l1"``, tol 1e-10, CG + power certification) at ``damping``;
  then, untimed as a stage, a tight reference power iteration (tol 1e-13, error <= 1.9e-12 at d = 0.95) and
  the L1 errors of the converged result and of networkx's N * tol rule against it;
* ``numpy_reference`` (optional): the project's original code on a scipy copy of the graph (the CSRGraph
  dropped first): ``numpy_scan`` = ``scan(engine="numpy")`` (are its labels and roles the compiled ones?) and
  ``scipy_pagerank`` = the original scipy power iteration (its float64 and transposed copies) run to the same
  converged rule (L1 change < 1e-10; with networkx's rule it would stop after a few iterations, see above);
* ``peers`` (optional, small graphs): cdlib 0.4.1 ``algorithms.scan`` + ``networkx.pagerank`` on the same
  graph (cores, clusters of cores and members compared with ours).

Each child prints one JSON object; the parent collects them (``measure``), writes JSON lines, a markdown table
(``format_table``) and a plot of time and RSS against edges (``plot_scale``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["measure", "measure_batch", "batch_child", "generate_child", "profile_child", "format_table", "plot_scale", "main", "TARGETS",
           "stage_totals"]

# issue 32's targets (benchmark figures, not timed tests)
TARGETS = {"wall_1e8_s": 120.0, "rss_1e8_gb": 3.0, "cpu_1e7_1thread_s": 6.0, "pagerank_l1_1e7": 1e-6,
           "index_query_ratio_1e7": 0.1}
GB = 1e9


def _hwm_bytes() -> int:
    """Peak resident set of this process since the last reset (VmHWM), bytes; ru_maxrss where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


class _Stage:
    """with _Stage(out, "name"): ...  -> out["name"] = {cpu_s, wall_s, peak_rss_gb}."""

    def __init__(self, out: dict, name: str):
        self.out, self.name = out, name

    def __enter__(self):
        self.reset = _reset_hwm()
        self.c0, self.w0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.out[self.name] = {"cpu_s": time.process_time() - self.c0, "wall_s": time.perf_counter() - self.w0,
                                   "peak_rss_gb": _hwm_bytes() / GB, "rss_reset": self.reset}
        return False


def generate_child(edges: int, seed: int, folder: str) -> dict:
    """Child: generate the planted power-law graph, save its CSR into ``folder`` -> stats and cost."""
    from apps.spa_graph.graphgen import planted_powerlaw_graph

    out: dict = {}
    with _Stage(out, "generate"):
        pg = planted_powerlaw_graph(int(edges), seed=int(seed))
    pg.graph.save(folder)
    stats = pg.stats()
    (Path(folder) / "stats.json").write_text(json.dumps(stats), encoding="utf-8")
    return {"kind": "generate", **stats, **out["generate"]}


def _cdlib_agrees(adj, eps, mu, res) -> bool:
    """cdlib's communities vs ours: same cores, same clusters of cores, same members (borders may differ in
    which cluster they join: cdlib's first-discovered cluster, our most similar core)."""
    import random

    import networkx as nx
    from cdlib import algorithms

    from apps.spa_graph.scan import CORE

    g = nx.from_scipy_sparse_array(adj)
    random.seed(0)
    comms = algorithms.scan(g, epsilon=eps, mu=mu).communities
    core = res.roles == CORE
    members = np.zeros(len(core), dtype=bool)
    if len(comms) != res.num_clusters:
        return False
    for c in comms:
        c = np.asarray(c)
        members[c] = True
        cores = np.sort(c[core[c]])
        if not len(cores) or not np.array_equal(cores, np.flatnonzero(core & (res.labels == res.labels[cores[0]]))):
            return False
    return bool(np.array_equal(members, res.labels >= 0))


def profile_child(folder: str | None = None, *, edges: int | None = None, seed: int = 0, eps: float = 0.5,
                  mu: int = 3, damping: float = 0.95, index: bool = False, numpy_reference: bool = False,
                  peers: bool = False, pr_reference: bool = True) -> dict:
    """Child: the stages of the module docstring on the graph saved in ``folder`` (or, with ``edges``, generated
    here first: its cost is then in ``generate``) -> one dict."""
    import numba

    from apps.spa_graph.csr import CSRGraph
    from apps.spa_graph.pagerank import pagerank
    from apps.spa_graph.scan_compiled import common_counts, compile_seconds, scan_from_counts

    out: dict = {"kind": "profile", "threads": numba.get_num_threads(), "eps": eps, "mu": mu, "damping": damping}
    if folder is None:
        from apps.spa_graph.graphgen import planted_powerlaw_graph

        with _Stage(out, "generate"):
            pg = planted_powerlaw_graph(int(edges), seed=int(seed))
        g = pg.graph
        out.update(pg.stats(), input_edges=int(edges), seed=int(seed))
        del pg
        with _Stage(out, "load"):
            pass
    else:
        with _Stage(out, "load"):
            g = CSRGraph.load(folder)
        out.update(json.loads((Path(folder) / "stats.json").read_text(encoding="utf-8")))
    with _Stage(out, "compile"):
        compile_seconds()
        tiny = CSRGraph(np.array([0, 2, 4, 6], dtype=np.int64), np.array([1, 2, 0, 2, 0, 1], dtype=np.int32))
        pagerank(tiny, damping, tol_rule="l1", engine="compiled")
        pagerank(tiny, damping, tol_rule="l1", engine="compiled", method="power")
        if index:
            from apps.spa_graph.scan_index import ScanIndex

            ScanIndex.build(tiny).query(eps, mu)
    with _Stage(out, "similarity"):
        counts = common_counts(g)
    with _Stage(out, "clustering"):
        res = scan_from_counts(g, counts, eps, mu)
    out["clusters"] = res.num_clusters
    out.update({f"{k}s": v for k, v in res.role_counts().items()})
    if index:
        from apps.spa_graph.scan_index import ScanIndex

        with _Stage(out, "index_build"):
            idx = ScanIndex.build(g, counts)
        qs = []
        for _ in range(5):
            c0 = time.process_time()
            q = idx.query(eps, mu)
            qs.append(time.process_time() - c0)
        out["index_query_cpu_s"] = float(np.median(qs))
        out["index_identical"] = bool(np.array_equal(q.labels, res.labels) and np.array_equal(q.roles, res.roles))
        grid = [(e, m) for e in (0.3, 0.4, 0.6, 0.7) for m in (2, 5)]
        c0 = time.process_time()
        for e, m in grid:
            idx.query(e, m)
        out["index_grid_query_cpu_s"] = (time.process_time() - c0) / len(grid)
        out["index_gb"] = idx.nbytes / GB
        del idx, q
    del counts
    info: dict = {}
    with _Stage(out, "pagerank"):
        x = pagerank(g, damping, tol_rule="l1", engine="compiled", info=info)
    out["pagerank_info"] = info
    if pr_reference:
        c0 = time.process_time()
        ref_info: dict = {}
        ref = pagerank(g, damping, tol=1e-13, tol_rule="l1", engine="compiled", method="power", max_iter=100_000,
                       info=ref_info)
        out["pagerank_reference"] = {"cpu_s": time.process_time() - c0, **ref_info}
        out["pagerank_l1_vs_reference"] = float(np.abs(x - ref).sum())
        nx_info: dict = {}
        c0 = time.process_time()
        xn = pagerank(g, damping, tol_rule="networkx", engine="compiled", info=nx_info)
        out["pagerank_networkx_rule"] = {"cpu_s": time.process_time() - c0, **nx_info,
                                         "l1_vs_reference": float(np.abs(xn - ref).sum())}
        del ref, xn
    x_conv = x if numpy_reference else None
    del x
    stage_totals(out)
    if numpy_reference or peers:
        from apps.spa_graph.scan import scan

        adj = g.to_scipy()
        del g
        if numpy_reference:
            with _Stage(out, "numpy_scan"):
                ref_res = scan(adj, eps, mu, engine="numpy")
            out["numpy_identical"] = bool(np.array_equal(ref_res.labels, res.labels)
                                          and np.array_equal(ref_res.roles, res.roles))
            del ref_res
            sp_info: dict = {}
            with _Stage(out, "scipy_pagerank"):
                xs = pagerank(adj, damping, tol_rule="l1", engine="scipy", info=sp_info)
            if x_conv is not None:
                out["scipy_pagerank"]["l1_vs_compiled"] = float(np.abs(xs - x_conv).sum())
            del xs
            out["numpy_reference"] = {k: out["numpy_scan"][k] + out["scipy_pagerank"][k] for k in ("cpu_s", "wall_s")}
            out["numpy_reference"]["peak_rss_gb"] = max(out["numpy_scan"]["peak_rss_gb"],
                                                        out["scipy_pagerank"]["peak_rss_gb"])
        if peers:
            try:
                import networkx as nx
                from cdlib import algorithms
            except ImportError:
                out["peers"] = "cdlib not installed"
            else:
                import random

                gx = nx.from_scipy_sparse_array(adj)
                with _Stage(out, "peer_cdlib_scan"):
                    random.seed(0)
                    algorithms.scan(gx, epsilon=eps, mu=mu)
                with _Stage(out, "peer_networkx_pagerank"):
                    nx.pagerank(gx, alpha=damping)
                del gx
                out["cdlib_agrees"] = _cdlib_agrees(adj, eps, mu, res)
    return out


def stage_totals(row: dict) -> dict:
    """Adds scan_* (similarity + clustering) and total_* (+ pagerank) CPU s, wall s and peak RSS to a profile row."""
    st = [row[s] for s in ("similarity", "clustering") if s in row]
    if len(st) == 2:
        row["scan_cpu_s"] = sum(s["cpu_s"] for s in st)
        row["scan_wall_s"] = sum(s["wall_s"] for s in st)
        if "pagerank" in row:
            pr = row["pagerank"]
            row["total_cpu_s"] = row["scan_cpu_s"] + pr["cpu_s"]
            row["total_wall_s"] = row["scan_wall_s"] + pr["wall_s"]
            row["total_peak_rss_gb"] = max(s["peak_rss_gb"] for s in st + [pr, row["load"]])
    return row


def batch_child(jobs: list[dict]) -> list[dict]:
    """Child: several ``profile_child`` jobs in one process (the kernels compile once; the first job's
    ``compile`` stage carries the cost, the later ones find them compiled)."""
    return [profile_child(**kw) for kw in jobs]


def measure_batch(jobs: list[dict], *, threads: int = 1) -> list[dict]:
    """Parent: ``batch_child(jobs)`` in one child process on ``threads`` numba threads -> its rows."""
    return _run_child(["batch", json.dumps(jobs)], threads)


def _run_child(args: list[str], threads: int | None):
    env = dict(os.environ)
    if threads:
        env["NUMBA_NUM_THREADS"] = str(int(threads))
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, "-m", "apps.spa_graph.scale_profile", "--child", *args], env=env,
                          capture_output=True, text=True, cwd=root)
    if proc.returncode != 0:
        raise RuntimeError(f"scale_profile child {args} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(edges: int, *, work: str | Path, threads=(1,), seed: int = 0, eps: float = 0.5, mu: int = 3,
            damping: float = 0.95, index: bool = False, numpy_reference: bool = False, peers: bool = False,
            pr_reference: bool = True, log=print) -> list[dict]:
    """Parent: generate (or reuse) the graph of ``edges`` input edges, then one profile child per thread count
    -> [generate row (None if reused), profile rows...]."""
    edges = int(edges)
    folder = Path(work) / f"graph_{edges}_s{int(seed)}"
    rows = []
    if not (folder / "stats.json").is_file():
        log(f"generating {edges:.3g} input edges (seed {seed}) into {folder}")
        rows.append(_run_child(["generate", json.dumps({"edges": edges, "seed": int(seed), "folder": str(folder)})],
                               None))
    for t in threads:
        log(f"profiling {edges:.3g} input edges on {t} thread(s)")
        kw = dict(folder=str(folder), eps=eps, mu=mu, damping=damping, index=index, numpy_reference=numpy_reference,
                  peers=peers, pr_reference=pr_reference)
        row = _run_child(["profile", json.dumps(kw)], t)
        row.update(input_edges=edges, seed=int(seed))
        rows.append(row)
    return rows


def _fmt(x, nd=2):
    return "—" if x is None else f"{x:.{nd}f}"


def format_table(rows: list[dict]) -> str:
    """Profile rows -> markdown: per size and thread count, CPU s / wall s of each stage, peak RSS and the checks."""
    cols = ["input edges", "unique edges", "nodes", "threads", "compile s (wall)", "similarity CPU / wall s",
            "clustering CPU / wall s", "PageRank CPU / wall s (passes)", "SCAN + PageRank CPU / wall s",
            "peak RSS GB", "PageRank L1 vs reference", "networkx-rule L1", "index query / fresh SCAN (CPU)",
            "numpy SCAN + scipy PageRank CPU s / peak GB (identical)", "clusters / cores"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---:|" * len(cols)]
    for r in rows:
        if r.get("kind") != "profile":
            continue
        pi = r.get("pagerank_info", {})
        passes = pi.get("cg_iterations", 0) + pi.get("power_iterations", 0)
        idx = "—"
        if "index_query_cpu_s" in r:
            idx = f"{r['index_query_cpu_s'] / r['scan_cpu_s']:.4f}" + ("" if r.get("index_identical") else " (DIFFERS)")
        npy = "—"
        if "numpy_scan" in r:
            npy = (f"{r['numpy_scan']['cpu_s']:.2f} + {r['scipy_pagerank']['cpu_s']:.2f} / "
                   f"{r['numpy_reference']['peak_rss_gb']:.2f} ({'yes' if r.get('numpy_identical') else 'NO'})")
        l1 = r.get("pagerank_l1_vs_reference")
        nxr = r.get("pagerank_networkx_rule", {}).get("l1_vs_reference")
        cells = [f"{r['input_edges']:.0e}", f"{r['edges']:,}", f"{r['nodes']:,}", str(r["threads"]),
                 f"{r['compile']['wall_s']:.1f}",
                 f"{_fmt(r['similarity']['cpu_s'])} / {_fmt(r['similarity']['wall_s'])}",
                 f"{_fmt(r['clustering']['cpu_s'])} / {_fmt(r['clustering']['wall_s'])}",
                 f"{_fmt(r['pagerank']['cpu_s'])} / {_fmt(r['pagerank']['wall_s'])} ({passes})",
                 f"{_fmt(r['total_cpu_s'])} / {_fmt(r['total_wall_s'])}", _fmt(r["total_peak_rss_gb"]),
                 "—" if l1 is None else f"{l1:.1e}", "—" if nxr is None else f"{nxr:.2g}", idx, npy,
                 f"{r['clusters']:,} / {r['cores']:,}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_scale(rows: list[dict], path, title: str = "") -> Path:
    """Profile rows -> PNG: SCAN + PageRank CPU / wall seconds and peak RSS against input edges (log-log)."""
    from core.plotting import pyplot, save_figure

    plt = pyplot()

    prof = [r for r in rows if r.get("kind") == "profile"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for t in sorted({r["threads"] for r in prof}):
        rs = sorted((r for r in prof if r["threads"] == t), key=lambda r: r["input_edges"])
        x = [r["input_edges"] for r in rs]
        a1.loglog(x, [r["total_cpu_s"] for r in rs], "o-", label=f"CPU s, {t} thread(s)")
        a1.loglog(x, [r["total_wall_s"] for r in rs], "s--", label=f"wall s, {t} thread(s)")
        a2.loglog(x, [r["total_peak_rss_gb"] for r in rs], "o-", label=f"compiled, {t} thread(s)")
    ref = sorted((r for r in prof if "numpy_reference" in r), key=lambda r: r["input_edges"])
    if ref:
        x = [r["input_edges"] for r in ref]
        a1.loglog(x, [r["numpy_reference"]["cpu_s"] for r in ref], "x:", c="k", label="numpy reference CPU s")
        a2.loglog(x, [r["numpy_reference"]["peak_rss_gb"] for r in ref], "x:", c="k", label="numpy reference")
    a1.axhline(TARGETS["wall_1e8_s"], c="r", lw=0.8, ls="--", label="120 s wall target (1e8)")
    a2.axhline(TARGETS["rss_1e8_gb"], c="r", lw=0.8, ls="--", label="3 GB target (1e8)")
    for ax, lab in ((a1, "SCAN + converged PageRank, seconds"), (a2, "peak RSS, GB")):
        ax.set_xlabel("input edges (planted power-law graph, mean degree 16)")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=100)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m apps.spa_graph.scale_profile",
                                description="SCAN + PageRank CPU s, wall s and peak RSS per stage on generated graphs")
    p.add_argument("--child", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    p.add_argument("--edges", type=float, nargs="+", default=[1e6, 1e7])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--damping", type=float, default=0.95)
    p.add_argument("--index", action="store_true", help="also build the eps/mu index and time a query")
    p.add_argument("--numpy-reference", action="store_true", help="also run the original numpy/scipy path")
    p.add_argument("--peers", action="store_true", help="also run cdlib's SCAN + networkx.pagerank (small graphs)")
    p.add_argument("--no-pr-reference", action="store_true", help="skip the tight reference PageRank")
    p.add_argument("--work", default=None, help="where generated graphs are kept (default <out>/graphs)")
    p.add_argument("--out", default="outputs/spa_graph/scale")
    a = p.parse_args(argv)
    if a.child:
        kind, kw = a.child[0], json.loads(a.child[1])
        res = {"generate": generate_child, "profile": profile_child, "batch": batch_child}[kind](
            *([kw] if kind == "batch" else []), **({} if kind == "batch" else kw))
        print(json.dumps(res), flush=True)
        return [res]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(a.work) if a.work else out / "graphs"
    rows = []
    path = out / "scale.jsonl"
    for e in a.edges:
        for row in measure(int(e), work=work, threads=a.threads, seed=a.seed, damping=a.damping, index=a.index,
                           numpy_reference=a.numpy_reference, peers=a.peers, pr_reference=not a.no_pr_reference):
            rows.append(row)
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    print(format_table(rows))
    print(f"rows appended to {path}")
    return rows


if __name__ == "__main__":
    main()
