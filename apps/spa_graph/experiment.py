"""The experiment grid: for every budget, method and seed, select (timed), train, score; summarise."""
from __future__ import annotations

from typing import Callable

import numpy as np

from apps.spa_graph.data import GraphData
from apps.spa_graph.protocol import EVAL_ON, TrainConfig, evaluate_selection
from apps.spa_graph.selectors import BASELINES, METHODS, SelectionContext, Selector, build_selector, select

__all__ = ["expand_methods", "run_grid", "summarize", "format_table", "PAPER_METHODS", "METRICS", "ALIASES"]

PAPER_METHODS = ("spa_official", "spa_ranked", "random", "uncertainty", "pagerank", "featprop", "graphpart",
                 "graphpartfar", "age")
ALIASES = {"spa": ("spa_official", "spa_ranked"), "paper": PAPER_METHODS, "baselines": BASELINES,
           "all": tuple(METHODS)}
METRICS = ("accuracy", "macro_f1", "grouped_macro_f1", "query_s", "train_s")


def expand_methods(names) -> list[str]:
    """Aliases: spa -> spa_official + spa_ranked, paper -> the paper's grid (SPA official and ranked,
    Random, Uncertainty, PageRank, FeatProp, GraphPart, GraphPartFar, AGE), baselines -> every baseline
    as in GraphPart's code, all -> everything (project variants included). Unknown names: ValueError."""
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for n in names:
        for m in ALIASES.get(str(n), (str(n),)):
            if m not in METHODS:
                raise ValueError(f"method={m!r} is unknown; choose from {list(METHODS)} or {' / '.join(ALIASES)}")
            if m not in out:
                out.append(m)
    return out


def run_grid(data: GraphData, selectors, budgets, seeds: int, train: TrainConfig, *, seed: int = 0,
             eval_on: str = "all", on_row: Callable[[dict], None] | None = None,
             ctx: SelectionContext | None = None, spa=None, fidelity: str = "corrected",
             spa_kw: dict | None = None) -> list[dict]:
    """-> one row per (budget, selector, seed): accuracy, macro_f1, grouped_macro_f1, query_s, train_s, selected
    ids, the selector's name and fidelity. Deterministic selectors are queried once per budget (their query time
    is repeated on each row).

    ``selectors``: built ``Selector`` objects (the recipe's), or method names / aliases built here with ``spa``
    (SpaParams; default the yaml's) and ``fidelity``. ``spa_kw`` (a dict of SpaParams fields, e.g. ``{"eps": 0.3}``)
    is kept for library callers written before SpaParams: it replaces those fields of ``spa`` once, validated."""
    if spa_kw:
        import dataclasses

        from apps.spa_graph.selectors import _yaml_spa

        spa = dataclasses.replace(spa if spa is not None else _yaml_spa(), **spa_kw)
    built: list[Selector] = []
    for x in [selectors] if isinstance(selectors, (str, Selector)) else list(selectors):
        if isinstance(x, Selector):
            built.append(x)
        else:
            built.extend(build_selector(m, spa, fidelity) for m in expand_methods(x))
    selectors = built
    if eval_on not in EVAL_ON:
        raise ValueError(f"eval_on={eval_on!r}; choose one of {list(EVAL_ON)}")
    if int(seeds) < 1:
        raise ValueError(f"seeds={seeds} must be >= 1")
    ctx = ctx or SelectionContext(data, train=train)
    rows = []
    for b in budgets:
        for sel in selectors:
            fixed = None
            for i in range(int(seeds)):
                s = seed + i
                if fixed is None or not sel.deterministic:
                    fixed = ctx.timed(select, sel, ctx, int(b), s)
                picks, q = fixed
                res = evaluate_selection(data, picks, train, s, eval_on)
                row = {"dataset": data.name, "method": sel.name, "fidelity": sel.fidelity or "", "budget": int(b),
                       "seed": s, "query_s": q, **res, "selected": picks.tolist()}
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """Mean and sample std over seeds for each (dataset, budget, method, fidelity)."""
    keys: list[tuple] = []
    for r in rows:
        k = (r["dataset"], r["budget"], r["method"], r.get("fidelity", ""))
        if k not in keys:
            keys.append(k)
    out = []
    for k in keys:
        rs = [r for r in rows if (r["dataset"], r["budget"], r["method"], r.get("fidelity", "")) == k]
        d = {"dataset": k[0], "budget": k[1], "method": k[2], "fidelity": k[3], "n": len(rs)}
        for metric in METRICS:
            v = np.array([r[metric] for r in rs], dtype=np.float64)
            d[f"{metric}_mean"], d[f"{metric}_std"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
        out.append(d)
    return out


def format_table(summary: list[dict]) -> str:
    lines = [f"{'dataset':<12}{'budget':>7}  {'method':<28}{'grouped F1':>16}{'macro-F1':>16}{'accuracy':>16}"
             f"{'query s':>10}{'n':>4}"]
    for r in summary:
        name = r["method"] + (f" ({r['fidelity']})" if r.get("fidelity") else "")
        lines.append(f"{r['dataset']:<12}{r['budget']:>7}  {name:<28}"
                     f"{100 * r['grouped_macro_f1_mean']:>9.1f} ± {100 * r['grouped_macro_f1_std']:<4.1f}"
                     f"{100 * r['macro_f1_mean']:>9.1f} ± {100 * r['macro_f1_std']:<4.1f}"
                     f"{100 * r['accuracy_mean']:>9.1f} ± {100 * r['accuracy_std']:<4.1f}"
                     f"{r['query_s_mean']:>10.3f}{r['n']:>4}")
    return "\n".join(lines)
