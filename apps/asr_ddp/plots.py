"""Plots for apps/asr_ddp: dev WER against training wall-clock, one line per policy."""
from __future__ import annotations

from pathlib import Path
from core.plotting import save_figure

__all__ = ["plot_wer_vs_time", "plot_scaling"]


def plot_wer_vs_time(histories: dict[str, list[dict]], path: str | Path, title: str = "dev WER vs training time",
                     x_key: str = "train_s") -> Path:
    """``histories``: variant -> per-epoch records with ``x_key`` (train_s or train_cpu_s) and ``dev_wer``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, hist in histories.items():
        if hist:
            ax.plot([h[x_key] for h in hist], [100 * h["dev_wer"] for h in hist], marker="o", label=name)
    ax.set_xlabel("training CPU time (s)" if x_key == "train_cpu_s" else "training wall-clock (s)")
    ax.set_ylabel("dev WER (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=100)
    return path


def plot_scaling(sizes: list[int], seconds: list[float], path: str | Path, label: str = "epoch set-up + train") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(sizes, seconds, marker="o", label=label)
    ax.set_xlabel("training utterances")
    ax.set_ylabel("seconds")
    ax.grid(alpha=0.3)
    ax.legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=100)
    return path
