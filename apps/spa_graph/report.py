"""Markdown tables from the grid's results files: one table per (model, dataset) and metric, mean ± std over
seeds, the paper's numbers beside ours, the best cell marked only when it beats the runner-up beyond the
spread, and a per-budget verdict for SPA (official rule) against the best baseline.

"Beyond the spread": the intervals mean ± std (sample std over seeds) of the two do not overlap.

python -m apps.spa_graph.report apps/spa_graph/results/grid/*/results.jsonl > apps/spa_graph/results/grid/TABLES.md
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import numpy as np

from apps.spa_graph.paper_numbers import PAPER_MACRO_F1, paper_cell
from core.training.results import read_results

__all__ = ["collect", "beyond_spread", "spa_verdict", "quality_table", "query_table", "cell_by_cell", "render",
           "plot_all", "main"]

ORDER = ("spa_official", "spa_ranked", "spa_random_order", "random", "degree", "pagerank", "uncertainty", "featprop",
         "graphpart", "graphpartfar", "age", "graphpart_merge", "graphpartfar_hops")
BASELINES = ("random", "degree", "pagerank", "uncertainty", "featprop", "graphpart", "graphpartfar", "age")
PER_SEED = ("accuracy", "macro_f1", "grouped_macro_f1", "query_time")


def collect(paths) -> dict:
    """-> {(model, dataset): {(budget, method): {metric: (seeds,) array}}} from per-seed rows."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for p in paths:
        for r in read_results(p):
            if r.get("app") != "spa_graph" or r.get("metric") not in PER_SEED or r.get("seed") is None:
                continue
            if r.get("value") is None:
                continue
            out[(r["model"], r["dataset"])][(int(r["budget"]), r["method"])][r["metric"]][int(r["seed"])] = float(r["value"])
    return {k: {c: {m: np.array([v[s] for s in sorted(v)]) for m, v in d.items()} for c, d in cells.items()}
            for k, cells in out.items()}


def _ms(v: np.ndarray) -> tuple[float, float]:
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def beyond_spread(a: np.ndarray, b: np.ndarray) -> bool:
    """a's mean - std above b's mean + std."""
    (ma, sa), (mb, sb) = _ms(a), _ms(b)
    return ma - sa > mb + sb


def spa_verdict(cells: dict, budget: int, metric: str) -> str:
    spa = cells.get((budget, "spa_official"), {}).get(metric)
    base = [(m, cells[(budget, m)][metric]) for m in BASELINES if (budget, m) in cells and metric in cells[(budget, m)]]
    if spa is None or not base:
        return "not run"
    best_m, best = max(base, key=lambda t: t[1].mean())
    gap = 100 * (spa.mean() - best.mean())
    if min(len(spa), len(best)) < 2:
        return f"not judged: one seed has no spread ({gap:+.1f} vs {best_m})"
    if beyond_spread(spa, best):
        return f"**wins** beyond the spread (+{gap:.1f} vs {best_m})"
    if beyond_spread(best, spa):
        return f"loses beyond the spread ({gap:+.1f} vs {best_m})"
    return f"within the spread ({gap:+.1f} vs {best_m})"


def quality_table(model: str, dataset: str, cells: dict, metric: str = "macro_f1") -> str:
    methods = [m for m in ORDER if any(mm == m for (_, mm) in cells)]
    budgets = sorted({b for (b, _) in cells})
    has_paper = metric == "macro_f1" and (model, dataset) in PAPER_MACRO_F1
    head = ["budget", "seeds"] + methods + ["SPA (official) vs best baseline"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * (len(head) - 1) + ":---|"]
    for b in budgets:
        vals = {m: cells[(b, m)][metric] for m in methods if (b, m) in cells and metric in cells[(b, m)]}
        ranked = sorted(vals, key=lambda m: -vals[m].mean())
        mark = ranked[0] if len(ranked) > 1 and beyond_spread(vals[ranked[0]], vals[ranked[1]]) else None
        n = sorted({len(v) for v in vals.values()})
        row = [str(b), "/".join(map(str, n))]
        for m in methods:
            if m not in vals:
                row.append("—")
                continue
            mu, sd = _ms(vals[m])
            txt = f"{100 * mu:.1f} ± {100 * sd:.1f}"
            row.append(f"**{txt}**" if m == mark else txt)
        row.append(spa_verdict(cells, b, metric))
        lines.append("| " + " | ".join(row) + " |")
        if has_paper:
            prow = [f"{b} (paper)", "10"]
            for m in methods:
                pc = paper_cell(model, dataset, m, b)
                prow.append(f"{pc[0]:.1f} ± {pc[1]:.1f}" if pc else "")
            prow.append("")
            if any(prow[2:-1]):
                lines.append("| " + " | ".join(prow) + " |")
    return "\n".join(lines)


def query_table(model: str, dataset: str, cells: dict) -> str:
    methods = [m for m in ORDER if any(mm == m for (_, mm) in cells)]
    budgets = sorted({b for (b, _) in cells})
    lines = ["| budget | " + " | ".join(methods) + " |", "|" + "---:|" * (len(methods) + 1)]
    for b in budgets:
        row = [str(b)]
        for m in methods:
            v = cells.get((b, m), {}).get("query_time")
            if v is None:
                row.append("—")
            else:
                mu, sd = _ms(v)
                row.append(f"{mu:.3g} ± {sd:.2g}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


METRIC_LABELS = (("macro_f1", "macro-F1 (%)"), ("grouped_macro_f1", "distance-grouped macro-F1 (%)"),
                 ("accuracy", "accuracy (%)"))


def cell_by_cell(data: dict) -> str:
    """One line per (model, dataset, metric, budget): SPA (official rule) against the best baseline of the cell."""
    lines = []
    for (model, dataset) in sorted(data):
        cells = data[(model, dataset)]
        budgets = sorted({b for b, _ in cells})
        for metric, label in METRIC_LABELS:
            for b in budgets:
                lines.append(f"- {model.upper()} · {dataset} · {label}, b = {b}: {spa_verdict(cells, b, metric)}")
    return "\n".join(lines)


def render(data: dict) -> str:
    """Every table (three quality metrics and query time per (model, dataset)) and the cell-by-cell verdicts."""
    out = []
    for (model, dataset) in sorted(data):
        cells = data[(model, dataset)]
        for metric, label in METRIC_LABELS:
            out.append(f"#### {model.upper()} · {dataset} · {label}, mean ± std over seeds\n")
            out.append(quality_table(model, dataset, cells, metric) + "\n")
        out.append(f"#### {model.upper()} · {dataset} · query time (s), mean ± std over seeds\n")
        out.append(query_table(model, dataset, cells) + "\n")
    out.append("#### SPA (official rule) cell by cell\n")
    out.append('"Wins beyond the spread": SPA\'s mean − std above the best baseline\'s mean + std.\n')
    out.append(cell_by_cell(data) + "\n")
    return "\n".join(out)


def plot_all(data: dict, folder) -> list:
    """``<folder>/<model>_<dataset>_vs_budget.png`` (accuracy and macro-F1 against the budget) per (model, dataset)."""
    from pathlib import Path

    from apps.spa_graph.plots import plot_vs_budget

    paths = []
    for (model, dataset), cells in data.items():
        summary = []
        for (b, m), d in cells.items():
            if "accuracy" not in d or "macro_f1" not in d:
                continue
            row = {"method": m, "budget": b}
            for metric in ("accuracy", "macro_f1"):
                row[f"{metric}_mean"], row[f"{metric}_std"] = _ms(d[metric])
            summary.append(row)
        path = Path(folder) / f"{model}_{dataset}_vs_budget.png"
        plot_vs_budget(summary, path, f"{dataset} ({model.upper()}, all nodes, mean ± std over seeds)")
        paths.append(path)
    return paths


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m apps.spa_graph.report")
    p.add_argument("results", nargs="+")
    p.add_argument("--plots", default=None, help="folder for <model>_<dataset>_vs_budget.png")
    a = p.parse_args(argv)
    data = collect(a.results)
    if a.plots:
        plot_all(data, a.plots)
    sys.stdout.write(render(data))


if __name__ == "__main__":
    main()
