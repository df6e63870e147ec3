"""Markdown tables from the grid's per-seed results rows: per (model, dataset) and metric, every method's mean ± std
over seeds with the baselines as GraphPart's code runs them (``official``) and as they mean (``corrected``) side by
side and the paper's number beside them; SPA (official rule) against the best baseline of each fidelity, paired by
seed, with the verdict of ``core.metrics.stats.judge_seeds`` (target: SPA / best >= 1 on the per-seed ratio, its
95 % t-interval: met / missed / within noise); which fidelity the paper's numbers are closer to; query times.

The paper's metric comes first: the distance-grouped macro-F1 that the SPA notebook prints as "Macro F1"; plain
macro-F1 and accuracy follow.

python -m apps.spa_graph.report RESULTS.jsonl [...] [--plots DIR] > TABLES.md
Rows written before the fidelity switch (no ``fidelity`` field) are the corrected baselines (the code then did
what ``fidelity=corrected`` does now).
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import numpy as np

from apps.spa_graph.paper_numbers import paper_cell
from core.metrics.stats import judge_seeds
from core.training.results import read_results

__all__ = ["collect", "spa_verdict", "quality_table", "verdict_table", "query_table", "paper_distance", "render",
           "plot_all", "main", "METRIC_LABELS"]

SPA = ("spa_official", "spa_ranked", "spa_random_order")
BASELINES = ("random", "degree", "pagerank", "uncertainty", "featprop", "graphpart", "graphpartfar", "age",
             "graphpart_merge", "graphpartfar_hops")
PAPER_BASELINES = ("random", "pagerank", "uncertainty", "featprop", "graphpart", "graphpartfar", "age")
ORDER = SPA + BASELINES
FIDELITIES = ("official", "corrected")
PER_SEED = ("accuracy", "macro_f1", "grouped_macro_f1", "query_time")
METRIC_LABELS = (("grouped_macro_f1", "distance-grouped macro-F1 (%), the paper's metric"),
                 ("macro_f1", "macro-F1 (%)"), ("accuracy", "accuracy (%)"))


def _fid(r: dict) -> str:
    if r["method"] in SPA:
        return ""
    return r.get("fidelity") or "corrected"


def collect(paths) -> dict:
    """-> {(model, dataset): {(budget, method, fidelity): {metric: {seed: value}}}} from per-seed rows (SPA rows have
    fidelity "": the rule is the same under both settings, and a seed seen twice keeps its last value)."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for p in paths:
        for r in read_results(p):
            if r.get("app") != "spa_graph" or r.get("metric") not in PER_SEED or r.get("seed") is None:
                continue
            if r.get("value") is None:
                continue
            out[(r["model"], r["dataset"])][(int(r["budget"]), r["method"], _fid(r))][r["metric"]][int(r["seed"])] = \
                float(r["value"])
    return {k: {c: dict(d) for c, d in cells.items()} for k, cells in out.items()}


def _vals(d: dict) -> np.ndarray:
    return np.array([d[s] for s in sorted(d)])


def _ms(d: dict) -> str:
    v = _vals(d)
    sd = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return f"{100 * v.mean():.1f} ± {100 * sd:.1f}"


def _best_baseline(cells: dict, budget: int, metric: str, fidelity: str):
    base = [(m, cells[(budget, m, fidelity)][metric]) for m in PAPER_BASELINES
            if (budget, m, fidelity) in cells and metric in cells[(budget, m, fidelity)]]
    return max(base, key=lambda t: _vals(t[1]).mean()) if base else None


def spa_verdict(cells: dict, budget: int, metric: str, fidelity: str) -> str:
    """SPA (official rule) vs the best ``fidelity`` baseline of the cell (by mean), paired by seed: the per-seed
    ratio's mean [95 % interval] and judge_seeds' verdict on ">= 1.0"."""
    spa = cells.get((budget, "spa_official", ""), {}).get(metric)
    best = _best_baseline(cells, budget, metric, fidelity)
    if spa is None or best is None:
        return "not run"
    name, bv = best
    seeds = sorted(set(spa) & set(bv))
    gap = 100 * (np.mean([spa[s] for s in seeds]) - np.mean([bv[s] for s in seeds])) if seeds else float("nan")
    if len(seeds) < 2:
        return f"not judged: {len(seeds)} paired seed ({gap:+.1f} vs {name})"
    j = judge_seeds([spa[s] for s in seeds], [bv[s] for s in seeds], ">= 1.0")
    lo, hi = j["interval"]
    word = {"met": "**SPA better**", "missed": "SPA worse", "within noise": "within noise"}[j["verdict"]]
    return f"{word}: {gap:+.1f} vs {name}, ratio {j['compared']:.3f} [{lo:.3f}, {hi:.3f}], {len(seeds)} seeds"


def quality_table(model: str, dataset: str, cells: dict, metric: str) -> str:
    budgets = sorted({b for (b, _, _) in cells})
    fids = [f for f in FIDELITIES if any(f2 == f for (_, _, f2) in cells)]
    paper_col = metric in ("grouped_macro_f1", "macro_f1")
    head = ["budget", "method"] + [f"{f} baselines" for f in fids] + (["paper"] if paper_col else [])
    lines = ["| " + " | ".join(head) + " |", "|---:|:---|" + "---:|" * (len(head) - 2)]
    for b in budgets:
        for m in ORDER:
            present = {f: cells[(b, m, f)][metric] for f in ("",) + tuple(fids)
                       if (b, m, f) in cells and metric in cells[(b, m, f)]}
            if not present:
                continue
            n = sorted({len(v) for v in present.values()})
            row = [str(b), f"{m} ({'/'.join(map(str, n))} seeds)"]
            for f in fids:
                if "" in present:
                    row.append(_ms(present[""]) if f == fids[0] else "(same rule)")
                else:
                    row.append(_ms(present[f]) if f in present else "—")
            if paper_col:
                pc = paper_cell(model, dataset, m, b)
                row.append(f"{pc[0]:.1f} ± {pc[1]:.1f}" if pc else "")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def verdict_table(cells: dict) -> str:
    """SPA vs the best baseline of each fidelity, per metric and budget."""
    budgets = sorted({b for (b, _, _) in cells})
    fids = [f for f in FIDELITIES if any(f2 == f for (_, _, f2) in cells)]
    lines = ["| metric | budget | " + " | ".join(f"vs best {f} baseline" for f in fids) + " |",
             "|:---|---:|" + ":---|" * len(fids)]
    for metric, label in METRIC_LABELS:
        for b in budgets:
            lines.append(f"| {label.split(' (')[0]} | {b} | " + " | ".join(spa_verdict(cells, b, metric, f)
                                                                           for f in fids) + " |")
    return "\n".join(lines)


def paper_distance(model: str, dataset: str, cells: dict, metric: str) -> dict:
    """{fidelity: (mean |ours - paper| in points, number of cells)} over the baseline cells the paper reports."""
    out = {}
    for f in FIDELITIES:
        diffs = []
        for (b, m, f2), d in cells.items():
            if f2 != f or m not in PAPER_BASELINES or metric not in d:
                continue
            pc = paper_cell(model, dataset, m, b)
            if pc:
                diffs.append(abs(100 * _vals(d[metric]).mean() - pc[0]))
        if diffs:
            out[f] = (float(np.mean(diffs)), len(diffs))
    return out


def query_table(cells: dict) -> str:
    budgets = sorted({b for (b, _, _) in cells})
    kinds = [(m, f) for m in ORDER for f in ("",) + FIDELITIES if any((b, m, f) in cells for b in budgets)]
    names = [m + (f"@{f}" if f else "") for m, f in kinds]
    lines = ["| budget | " + " | ".join(names) + " |", "|" + "---:|" * (len(names) + 1)]
    for b in budgets:
        row = [str(b)]
        for m, f in kinds:
            v = cells.get((b, m, f), {}).get("query_time")
            if v is None:
                row.append("—")
            else:
                a = _vals(v)
                row.append(f"{a.mean():.3g} ± {a.std(ddof=1) if len(a) > 1 else 0.0:.2g}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def render(data: dict) -> str:
    """Every table per (model, dataset): the three metrics (official and corrected baselines, the paper), SPA's
    verdicts, the distance to the paper per fidelity, query times."""
    out = []
    for (model, dataset) in sorted(data):
        cells = data[(model, dataset)]
        for metric, label in METRIC_LABELS:
            out.append(f"#### {model.upper()} · {dataset} · {label}, mean ± std over seeds\n")
            out.append(quality_table(model, dataset, cells, metric) + "\n")
        out.append(f"#### {model.upper()} · {dataset} · SPA (official rule) against the best baseline, paired by seed\n")
        out.append("judge_seeds(SPA, best, '>= 1.0') on the per-seed ratio: **SPA better** = the 95 % interval lies "
                   "above 1, SPA worse = below 1, within noise = it straddles 1.\n")
        out.append(verdict_table(cells) + "\n")
        dist = {m: paper_distance(model, dataset, cells, m) for m in ("grouped_macro_f1", "macro_f1")}
        if any(dist.values()):
            parts = []
            for m, d in dist.items():
                for f, (v, n) in d.items():
                    parts.append(f"{f} {m.replace('_', ' ')}: {v:.1f} points over {n} cells")
            out.append("Mean |ours − paper| over the paper's baseline cells: " + "; ".join(parts) + ".\n")
        out.append(f"#### {model.upper()} · {dataset} · query time (s), mean ± std over seeds\n")
        out.append(query_table(cells) + "\n")
    return "\n".join(out)


def plot_all(data: dict, folder) -> list:
    """``<folder>/<model>_<dataset>_vs_budget.png`` (accuracy and macro-F1 against the budget) per (model, dataset)."""
    from pathlib import Path

    from apps.spa_graph.plots import plot_vs_budget

    paths = []
    for (model, dataset), cells in data.items():
        summary = []
        for (b, m, f), d in cells.items():
            if "accuracy" not in d or "macro_f1" not in d:
                continue
            row = {"method": m + (f"@{f}" if f else ""), "budget": b}
            for metric in ("accuracy", "macro_f1"):
                v = _vals(d[metric])
                row[f"{metric}_mean"], row[f"{metric}_std"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
            summary.append(row)
        path = Path(folder) / f"{model}_{dataset}_vs_budget.png"
        plot_vs_budget(summary, path, f"{dataset} ({model.upper()}, all nodes, mean ± std over seeds)")
        paths.append(path)
    return paths


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m apps.spa_graph.report")
    p.add_argument("results", nargs="+", help="results.jsonl files (a run folder's, a set's, the benchmark's grid)")
    p.add_argument("--plots", default=None, help="folder for <model>_<dataset>_vs_budget.png")
    a = p.parse_args(argv)
    data = collect(a.results)
    if a.plots:
        plot_all(data, a.plots)
    sys.stdout.write(render(data))


if __name__ == "__main__":
    main()
