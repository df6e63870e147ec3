"""Which baseline variant the SPA paper's numbers match: per paper cell, our mean and both standard deviations
(sample, ddof=1, as our tables print; population, ddof=0, numpy's default) for the official and the corrected
baselines, next to the paper's mean ± std, and the mean |difference| per fidelity and metric.

python -m apps.spa_graph.results.paper_match RESULTS.jsonl [...] > paper_match.md
"""
from __future__ import annotations

import sys

import numpy as np


def main(argv=None) -> None:
    from apps.spa_graph.paper_numbers import paper_cell
    from apps.spa_graph.report import PAPER_BASELINES, collect

    data = collect(argv or sys.argv[1:])
    for (model, dataset), cells in sorted(data.items()):
        if not any(paper_cell(model, dataset, m, b) for (b, m, _) in cells):
            continue                                       # the paper has no such table (Cora)
        for metric in ("macro_f1", "grouped_macro_f1"):
            print(f"#### {model.upper()} · {dataset} · {metric}: ours (official | corrected) against the paper\n")
            print("| budget | method | paper | official: mean, std ddof=1 / ddof=0 (n) | |official − paper| | "
                  "corrected: mean, std ddof=1 / ddof=0 (n) | |corrected − paper| |")
            print("|---:|:---|---:|---:|---:|---:|---:|")
            diffs = {"official": [], "corrected": [], "": []}
            for b in sorted({b for (b, _, _) in cells}):
                for m in ("spa_official",) + PAPER_BASELINES:
                    pc = paper_cell(model, dataset, m, b)
                    if not pc:
                        continue
                    row = [str(b), m, f"{pc[0]:.1f} ± {pc[1]:.1f}"]
                    for f in (("",) if m == "spa_official" else ("official", "corrected")):
                        d = cells.get((b, m, f), {}).get(metric)
                        if not d:
                            row += ["—", ""]
                            continue
                        v = 100 * np.array([d[s] for s in sorted(d)])
                        row += [f"{v.mean():.1f}, {v.std(ddof=1):.1f} / {v.std():.1f} ({len(v)})",
                                f"{abs(v.mean() - pc[0]):.1f}"]
                        diffs[f].append(abs(v.mean() - pc[0]))
                    if m == "spa_official":
                        row += ["(same rule)", ""]
                    print("| " + " | ".join(row) + " |")
            parts = [f"{f or 'spa_official'} {np.mean(v):.1f} points over {len(v)} cells ("
                     f"{sum(x <= 0.5 for x in v)} within 0.5)" for f, v in diffs.items() if v]
            print("\nMean |ours − paper|: " + "; ".join(parts) + ".\n")


if __name__ == "__main__":
    main()
