"""Why SPA (official rule) trails GraphPart at b = 10 on CiteSeer (GraphSAGE): per seed, how many of the 6 classes
each selector's picks contain (a class with no labelled node has F1 = 0 in the macro average), joined with the
finished runs' macro-F1. Selection only (no training; about a minute, GraphPart's partition dominates).

python -m apps.spa_graph.results.citeseer_sage.coverage RUNS_DIR [--budget 10] > coverage.md
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    from apps.spa_graph.recipe import Recipe, default_settings
    from apps.spa_graph.report import collect
    from apps.spa_graph.selectors import SelectionContext, build_selector, select

    p = argparse.ArgumentParser(prog="python -m apps.spa_graph.results.citeseer_sage.coverage")
    p.add_argument("runs")
    p.add_argument("--budget", type=int, default=10)
    a = p.parse_args(argv)
    cells = collect(sorted(Path(a.runs).glob("*/seed*/results.jsonl")))[("sage", "citeseer")]
    s = default_settings("data=citeseer", "model=sage")
    data = Recipe(s).load()
    y = data.y.numpy()
    k = int(y.max()) + 1
    ctx = SelectionContext(data, train=s.train)
    b = a.budget
    print(f"#### CiteSeer, GraphSAGE, b = {b}: classes ({k}) present among the picks, per seed\n")
    print("| method | classes covered per seed 0-9 | mean | macro-F1 per seed (%) | macro-F1 mean ± std |")
    print("|:---|:---|---:|:---|---:|")
    xs, fs = [], []
    for m, fid in (("spa_official", ""), ("spa_ranked", ""), ("graphpart", "official"), ("graphpartfar", "official"),
                   ("random", "official")):
        sel = build_selector(m, s.spa, fid or "official")
        cov, f1 = [], []
        for seed in range(10):
            ids = select(sel, ctx, b, seed)
            cov.append(len(np.unique(y[ids])))
            v = cells.get((b, m, fid), {}).get("macro_f1", {}).get(seed)
            f1.append(np.nan if v is None else 100 * v)
            if v is not None:
                xs.append(cov[-1])
                fs.append(100 * v)
        f = np.array(f1)
        name = m + (f"@{fid}" if fid else "")
        print(f"| {name} | {' '.join(map(str, cov))} | {np.mean(cov):.1f} | "
              f"{' '.join(f'{x:.0f}' for x in f)} | {np.nanmean(f):.1f} ± {np.nanstd(f, ddof=1):.1f} |")
    print(f"\nPearson r(classes covered, macro-F1) over the {len(xs)} (method, seed) runs: "
          f"{np.corrcoef(xs, fs)[0, 1]:.2f}\n")


if __name__ == "__main__":
    main()
