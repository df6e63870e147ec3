"""Plots for apps/asr_ddp: dev WER against training time, one line per policy; test WER against chunk length."""
from __future__ import annotations

from pathlib import Path
from core.plotting import save_figure

__all__ = ["plot_wer_vs_time", "plot_scaling", "chunk_sweep", "plot_chunk_sweep"]


def plot_wer_vs_time(histories: dict[str, list], path: str | Path, title: str = "dev WER vs training time",
                     x_key: str = "train_s", ylim: float | None = None) -> Path:
    """``histories``: variant -> per-epoch records with ``x_key`` (train_s or train_cpu_s) and ``dev_wer``, or
    variant -> a list of such curves (one per seed: one colour per variant, a thin line per seed)."""
    from core.plotting import pyplot

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for k, (name, hist) in enumerate(histories.items()):
        curves = hist if hist and isinstance(hist[0], list) else [hist]
        color = f"C{k % 10}"
        for j, c in enumerate(x for x in curves if x):
            ax.plot([h[x_key] for h in c], [100 * h["dev_wer"] for h in c], marker="o", markersize=3,
                    color=color, lw=1.6 if len(curves) == 1 else 1.0, alpha=1.0 if len(curves) == 1 else 0.8,
                    label=name if j == 0 else None)
    if ylim is not None:
        ax.set_ylim(0, ylim)
    xlabel = {"train_cpu_s": "training CPU time (s)", "step": "optimizer steps"}.get(x_key, "training wall-clock (s)")
    return _finish(fig, ax, path, xlabel, "dev WER (%)", title)


def _finish(fig, ax, path, xlabel: str, ylabel: str, title: str | None = None, legend_size: int = 8) -> Path:
    """Axis labels, title, grid and legend, then the figure written to ``path``."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
    return save_figure(fig, path, dpi=100)


def plot_scaling(sizes: list[int], seconds: list[float], path: str | Path, label: str = "epoch set-up + train") -> Path:
    from core.plotting import pyplot

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(sizes, seconds, marker="o", label=label)
    return _finish(fig, ax, path, "training utterances", "seconds", legend_size=10)


_UNIT_LABEL = {"chunk": "chunks dropped, transcript whole", "chunk_aligned": "aligned: chunks + the words they cover"}


def chunk_sweep(results: dict[str, dict[int, dict]]) -> dict[str, dict[int, list[float]]]:
    """Time-pruned runs of a results folder grouped by unit and chunk length: ``{time_unit: {chunk_ms: [test WER
    per seed]}}``, read from each run's fingerprint (``pruning.time_unit``, ``pruning.chunk_ms``); a unit
    appears only when it was run at two or more chunk lengths."""
    sweep: dict[str, dict[int, list[float]]] = {}
    for runs in results.values():
        for r in runs.values():
            fp = r.get("fingerprint") or {}
            unit = fp.get("pruning.time_unit")
            if fp.get("pruning.time_keep", 1.0) < 1.0 and unit in _UNIT_LABEL and r.get("test_wer") is not None:
                sweep.setdefault(unit, {}).setdefault(int(fp["pruning.chunk_ms"]), []).append(float(r["test_wer"]))
    return {u: dict(sorted(by_ms.items())) for u, by_ms in sweep.items() if len(by_ms) >= 2}


def plot_chunk_sweep(results: dict[str, dict[int, dict]], path: str | Path, baseline: str = "full",
                     title: str = "0.7 x 0.7: test WER vs chunk length") -> Path | None:
    """Test WER (mean ± sd over seeds) against chunk length for each time-pruning unit of :func:`chunk_sweep`,
    with the baseline's mean as a dashed line; ``None`` (nothing drawn) when no unit was swept."""
    import statistics

    from core.plotting import pyplot

    plt = pyplot()

    sweep = chunk_sweep(results)
    if not sweep:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for unit, by_ms in sweep.items():
        xs = list(by_ms)
        ys = [100 * statistics.fmean(w) for w in by_ms.values()]
        es = [100 * statistics.stdev(w) if len(w) > 1 else 0.0 for w in by_ms.values()]
        n = min(len(w) for w in by_ms.values())
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=f"{_UNIT_LABEL[unit]} (n>={n})")
    base = [r["test_wer"] for r in results.get(baseline, {}).values() if r.get("test_wer") is not None]
    if base:
        ax.axhline(100 * statistics.fmean(base), color="black", ls="--", lw=1, label=f"{baseline} (n={len(base)})")
    return _finish(fig, ax, path, "chunk length (ms)", "test WER % (mean ± sd over seeds)", title)
