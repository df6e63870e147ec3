"""Why SPA loses to PageRank on Minesweeper (GCN): what each selector picks, per seed, joined with the finished runs'
macro-F1. Selection only (no training; seconds).

python -m apps.spa_graph.results.minesweeper_gcn.picks RUNS_DIR > picks.md
RUNS_DIR: the set's output folder (``official/seed*/results.jsonl``, ``corrected/seed*/results.jsonl``).
Per (budget, method, seed): the share of mines (class 1) among the picks, the share within 2 cells of the grid's
border, the distinct 10 x 10 blocks reached, and the run's macro-F1; then, over every (method, seed) of a budget,
the correlation of macro-F1 with the mine share.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    from apps.spa_graph.recipe import Recipe, default_settings
    from apps.spa_graph.selectors import SelectionContext, build_selector, select
    from apps.spa_graph.cdlib_order import cdlib_scan_communities
    from apps.spa_graph.report import collect

    runs = Path((argv or sys.argv[1:])[0])
    data_ = collect(sorted(runs.glob("*/seed*/results.jsonl")))[("gcn", "minesweeper")]
    s = default_settings("data=minesweeper")
    data = Recipe(s).load()
    side = int(round(np.sqrt(data.num_nodes)))
    y = data.y.numpy()
    ctx = SelectionContext(data, train=s.train)
    methods = [("spa_official", ""), ("spa_ranked", ""), ("pagerank", "official"), ("pagerank", "corrected"),
               ("degree", "corrected"), ("random", "official"), ("random", "corrected")]
    print(f"Minesweeper: {data.num_nodes} nodes, mine share {100 * np.mean(y == 1):.1f} %; SCAN communities "
          f"(eps={s.spa.eps}, mu={s.spa.mu}) per seed: "
          + ", ".join(str(len(cdlib_scan_communities(data.adj, s.spa.eps, s.spa.mu, k))) for k in range(10)) + "\n")
    for b in (160, 320, 640):
        print(f"#### b = {b}\n")
        print("| method | mine share of picks (%), mean ± std over seeds | within 2 cells of the border (%) | "
              "10x10 blocks reached (of 100) | distinct pick sets over 10 seeds | macro-F1 (%) |")
        print("|:---|---:|---:|---:|---:|---:|")
        xs, fs = [], []
        for m, fid in methods:
            sel = build_selector(m, s.spa, fid or "official")
            mine, brd, blk, sets, f1 = [], [], [], set(), []
            for seed in range(10):
                ids = select(sel, ctx, b, seed)
                r, c = np.divmod(ids, side)
                mine.append(100 * np.mean(y[ids] == 1))
                brd.append(100 * np.mean(np.minimum(np.minimum(r, side - 1 - r), np.minimum(c, side - 1 - c)) <= 2))
                blk.append(len(np.unique((r // 10) * 100 + c // 10)))
                sets.add(tuple(sorted(ids.tolist())))
                v = data_.get((b, m, fid), {}).get("macro_f1", {}).get(seed)
                if v is not None:
                    f1.append(100 * v)
                    xs.append(mine[-1])
                    fs.append(100 * v)
            name = m + (f"@{fid}" if fid else "")
            f1s = f"{np.mean(f1):.1f} ± {np.std(f1, ddof=1):.1f}" if len(f1) > 1 else "—"
            print(f"| {name} | {np.mean(mine):.1f} ± {np.std(mine, ddof=1):.1f} | {np.mean(brd):.0f} | "
                  f"{np.mean(blk):.1f} | {len(sets)} | {f1s} |")
        r = np.corrcoef(xs, fs)[0, 1]
        print(f"\nPearson r(mine share of picks, macro-F1) over the {len(xs)} (method, seed) runs above: {r:.2f}\n")


if __name__ == "__main__":
    main()
