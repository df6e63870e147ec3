"""Generic plots drawn from benchmark records alone (Agg, no pyplot state): targets per app, module wall times."""
from __future__ import annotations

import math
from pathlib import Path

from benchmarks.context import evaluate_target, parse_target
from core.plotting import save_figure

__all__ = ["target_rows", "target_chart", "module_time_chart", "headline_chart"]

MAX_BARS = 40


def _figure(n_bars: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, max(2.2, 0.9 + 0.32 * n_bars)))
    FigureCanvasAgg(fig)
    return fig


def target_rows(records: list[dict]) -> list[dict]:
    """Records with a target and a positive threshold, with ``compared`` and ``score`` = compared / threshold."""
    rows = []
    for r in records:
        if not r.get("target") or r.get("kind") in ("module", "suite"):
            continue
        t = parse_target(r["target"])
        if t.threshold <= 0:
            continue  # a zero/negative threshold has no meaningful normalisation; shown in the table only
        met, compared = evaluate_target(t, r.get("value"), r.get("baseline"))
        on = "ratio" if r.get("baseline") is not None and t.op != "within" else "value"
        if r.get("judged_on"):  # judged on an interval: plot the quantity it was judged on, coloured by the verdict
            compared = r["ratio"] if r["judged_on"] == "median paired ratio" else r.get("compared", compared)
            if r["judged_on"] == "median paired ratio" and t.op == "within" and compared is not None:
                compared = abs(compared - 1.0)
            compared = abs(compared) if (t.op == "within" and compared is not None) else compared
            met = {"met": True, "missed": False}.get(r.get("verdict"))
            on = r["judged_on"]
        if compared is None:
            continue
        rows.append({"label": f"{r['variant']} / {r['metric']}", "target": str(t), "compared": compared,
                     "score": compared / t.threshold, "met": met, "op": t.op, "on": on})
    return rows[:MAX_BARS]


def target_chart(app: str, records: list[dict], path: str | Path, *, min_rows: int = 2) -> Path | None:
    """Horizontal bars of compared quantity / target threshold (1 = on the target line), green met, red not.

    The compared quantity is the ratio to the baseline when there is one, else the value (|difference|
    for 'within'). Returns the PNG path, or None when ``app`` has fewer than ``min_rows`` plottable
    targets (a single bar says no more than the table).
    """
    rows = target_rows([r for r in records if r.get("app") == app])
    if not rows or len(rows) < min_rows:
        return None
    fig = _figure(len(rows))
    ax = fig.add_subplot(1, 1, 1)
    ys = list(range(len(rows)))[::-1]
    scores = [r["score"] for r in rows]
    colors = ["tab:green" if r["met"] else ("tab:gray" if r["met"] is None else "tab:red") for r in rows]
    ax.barh(ys, scores, color=colors, alpha=0.85)
    ax.axvline(1.0, color="black", ls="--", lw=1, label="target threshold")
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{r['label']}  ({r['target']} on {r['on']})" for r in rows], fontsize=7)
    positive = [s for s in scores if s > 0]
    if positive and max(positive) / min(positive) > 100:
        ax.set_xscale("log")
    for y, r in zip(ys, rows):
        ax.text(r["score"], y, f" {r['compared']:.3g}", va="center", fontsize=7)
    ax.set_xlabel("compared quantity / threshold\n('<=', '<', 'within' met left of 1; '>=', '>' met right of 1)",
                  fontsize=8)
    ax.set_title(f"{app}: measured against target (green met, red missed, grey within noise / not judged)",
                 fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    return save_figure(fig, path)


def module_time_chart(records: list[dict], path: str | Path) -> Path | None:
    """Bars of each module's wall time (failed modules hatched), with the per-module budget line if any."""
    mods = [r for r in records if r.get("kind") == "module" and r.get("value") is not None]
    if not mods:
        return None
    fig = _figure(len(mods))
    ax = fig.add_subplot(1, 1, 1)
    ys = list(range(len(mods)))[::-1]
    walls = [float(r["value"]) for r in mods]
    bars = ax.barh(ys, walls, color=["tab:blue" if r.get("status") == "ok" else "tab:red" for r in mods])
    for b, r in zip(bars, mods):
        if r.get("status") != "ok":
            b.set_hatch("//")
    budgets = {parse_target(r["target"]).threshold for r in mods if r.get("target")}
    for budget in budgets:
        ax.axvline(budget, color="black", ls="--", lw=1, label=f"budget {budget:g} s")
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{r.get('module', r['app'])} ({r.get('status', '?')})" for r in mods], fontsize=8)
    for y, w in zip(ys, walls):
        ax.text(w, y, f" {w:.1f} s", va="center", fontsize=7)
    if budgets:
        ax.legend(fontsize=7, loc="lower right")
    suite = mods[0].get("suite", "")
    ax.set_xlabel("wall-clock [s]")
    ax.set_title(f"module wall time, suite {suite} (total {math.fsum(walls):.1f} s)", fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    return save_figure(fig, path)


def _err(p: dict, k: str, center: float):
    """(minus, plus) error-bar lengths from a symmetric number or [lo, hi] absolute bounds."""
    e = p.get(k)
    if e is None:
        return 0.0, 0.0
    if isinstance(e, list):
        return max(0.0, center - e[0]), max(0.0, e[1] - center)
    return abs(e), abs(e)


def headline_chart(points: list[dict], path: str | Path, *, x_label: str, y_label: str | None = None,
                   title: str = "", target: float | None = None, log_x: bool = False) -> Path:
    """One point per method: quality (y) against cost (x) with error bars, or (no point has y) one row per
    method with x and its interval, e.g. a time ratio, with the line x = 1 and the target."""
    scatter = all(p.get("y") is not None for p in points)
    fig = _figure(len(points) if not scatter else 8)
    ax = fig.add_subplot(1, 1, 1)
    if scatter:
        for k, p in enumerate(points):
            xm, xp = _err(p, "x_err", p["x"])
            ym, yp = _err(p, "y_err", p["y"])
            label = p["method"] + (f" (n={p['n_seeds']})" if p.get("n_seeds") else "")
            ax.errorbar([p["x"]], [p["y"]], xerr=[[xm], [xp]], yerr=[[ym], [yp]], fmt="os^Dv<>ph"[k % 9],
                        capsize=3, label=label)
        ax.set_ylabel(y_label or "")
        ax.legend(fontsize=7)
        if target is not None:
            ax.axhline(target, color="black", ls="--", lw=1)
    else:
        ys = list(range(len(points)))[::-1]
        xs = [p["x"] for p in points]
        errs = [_err(p, "x_err", p["x"]) for p in points]
        ax.errorbar(xs, ys, xerr=[[e[0] for e in errs], [e[1] for e in errs]], fmt="o", color="tab:blue", capsize=3)
        ax.set_yticks(ys)
        ax.set_yticklabels([p["method"] for p in points], fontsize=8)
        ax.set_ylim(-0.6, len(points) - 0.4)
        for y, x in zip(ys, xs):
            ax.annotate(f"{x:.3g}", (x, y), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
        ax.axvline(1.0, color="grey", lw=0.8, label="1 (equal)")
        if target is not None:
            ax.axvline(target, color="black", ls="--", lw=1, label=f"target {target:g}")
        ax.legend(fontsize=7, loc="best")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(x_label)
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    return save_figure(fig, path)
