"""The experiment grid: for every budget, method and seed, select (timed), train, score; summarise."""
from __future__ import annotations

from typing import Callable

import numpy as np

from apps.spa_graph.data import GraphData
from apps.spa_graph.protocol import EVAL_ON, TrainConfig, evaluate_selection
from apps.spa_graph.selectors import BASELINES, DETERMINISTIC, METHODS, SelectionContext, select

__all__ = ["expand_methods", "run_grid", "summarize", "format_table", "PAPER_METHODS", "METRICS"]

PAPER_METHODS = ("spa_official", "spa_ranked", "random", "uncertainty", "pagerank", "featprop", "graphpart",
                 "graphpartfar", "age")
METRICS = ("accuracy", "macro_f1", "grouped_macro_f1", "query_s", "train_s")


def expand_methods(names) -> list[str]:
    """Aliases: spa -> spa_official + spa_ranked, paper -> the paper's grid (SPA official and ranked,
    Random, Uncertainty, PageRank, FeatProp, GraphPart, GraphPartFar, AGE), baselines -> every baseline
    as in GraphPart's code, all -> everything (project variants included)."""
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for n in names:
        n = str(n)
        group = {"spa": ["spa_official", "spa_ranked"], "paper": list(PAPER_METHODS), "baselines": list(BASELINES),
                 "all": list(METHODS)}.get(n, [n])
        for m in group:
            if m not in METHODS:
                raise ValueError(f"method={m!r} is unknown; choose from {list(METHODS)} or spa / paper / baselines / all")
            if m not in out:
                out.append(m)
    return out


def run_grid(data: GraphData, methods, budgets, seeds: int, train: TrainConfig, *, seed: int = 0,
             eval_on: str = "all", spa_kw: dict | None = None,
             on_row: Callable[[dict], None] | None = None, ctx: SelectionContext | None = None) -> list[dict]:
    """-> one row per (budget, method, seed): accuracy, macro_f1, query_s, train_s, selected ids.

    Deterministic selectors are queried once per budget (their query time is repeated on each row).
    """
    if eval_on not in EVAL_ON:
        raise ValueError(f"eval_on={eval_on!r}; choose one of {list(EVAL_ON)}")
    if int(seeds) < 1:
        raise ValueError(f"seeds={seeds} must be >= 1")
    methods = expand_methods(methods)
    ctx = ctx or SelectionContext(data, train=train)
    rows = []
    for b in budgets:
        for m in methods:
            kw = dict(spa_kw or {}) if m.startswith("spa") else {}
            fixed = None
            for i in range(int(seeds)):
                s = seed + i
                if fixed is None or m not in DETERMINISTIC:
                    picks, q = ctx.timed(select, m, ctx, int(b), s, **kw)
                    fixed = (picks, q)
                picks, q = fixed
                res = evaluate_selection(data, picks, train, s, eval_on)
                row = {"dataset": data.name, "method": m, "budget": int(b), "seed": s, "query_s": q, **res,
                       "selected": picks.tolist()}
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """Mean and std over seeds for each (dataset, budget, method)."""
    keys = []
    for r in rows:
        k = (r["dataset"], r["budget"], r["method"])
        if k not in keys:
            keys.append(k)
    out = []
    for k in keys:
        rs = [r for r in rows if (r["dataset"], r["budget"], r["method"]) == k]
        d = {"dataset": k[0], "budget": k[1], "method": k[2], "n": len(rs)}
        for metric in METRICS:
            v = np.array([r[metric] for r in rs], dtype=np.float64)
            d[f"{metric}_mean"], d[f"{metric}_std"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
        out.append(d)
    return out


def format_table(summary: list[dict]) -> str:
    lines = [f"{'dataset':<12}{'budget':>7}  {'method':<18}{'accuracy':>16}{'macro-F1':>16}{'grouped F1':>16}"
             f"{'query s':>10}{'n':>4}"]
    for r in summary:
        lines.append(f"{r['dataset']:<12}{r['budget']:>7}  {r['method']:<18}"
                     f"{100 * r['accuracy_mean']:>9.1f} ± {100 * r['accuracy_std']:<4.1f}"
                     f"{100 * r['macro_f1_mean']:>9.1f} ± {100 * r['macro_f1_std']:<4.1f}"
                     f"{100 * r['grouped_macro_f1_mean']:>9.1f} ± {100 * r['grouped_macro_f1_std']:<4.1f}"
                     f"{r['query_s_mean']:>10.3f}{r['n']:>4}")
    return "\n".join(lines)
