"""Plots of apps/msrs: val WER vs training time, the mask phase on one time axis (val WER, hard-mask density,
mask change), per-layer density of the learned mask against ERK, the mask values at the switch, per-layer
gradient norms."""
from __future__ import annotations

from pathlib import Path
from core.plotting import save_figure

__all__ = ["plot_curve", "plot_mask_history", "plot_grad_norms", "plot_grad_norms_grid", "plot_mask_timeline",
           "plot_layer_density", "plot_mask_histogram", "short_layer"]


def _plt():
    from core.plotting import pyplot

    return pyplot()


def plot_curve(curves: dict[str, list[dict]], path, title: str = "validation WER", key: str = "wer",
               xlabel: str = "training time (s)") -> Path:
    """``{method: [{time, wer, cer}, ...]}`` -> val ``key`` against ``time`` (whatever the caller put there: training
    seconds, or steps with ``xlabel="training steps"``)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, pts in curves.items():
        if pts:
            ax.plot([p["time"] for p in pts], [p[key] for p in pts], marker="o", ms=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"val {key.upper()}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=100)
    return Path(path)


def plot_mask_history(history: list[dict], stable_step, switch_step, path) -> Path:
    """Per check: distance to the previous hard mask, distance to the final (switch-time) mask, and density
    over steps, with the stabilization and switch steps."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    pts = [h for h in history if h["distance"] is not None]
    ax.plot([h["step"] for h in pts], [h["distance"] for h in pts], marker="o", ms=3, label="to previous check")
    fin = [h for h in history if h.get("to_final") is not None]
    if fin:
        ax.plot([h["step"] for h in fin], [h["to_final"] for h in fin], marker="s", ms=3, label="to final mask")
    ax.set_xlabel("step")
    ax.set_ylabel("normalised Hamming distance")
    ax2 = ax.twinx()
    ax2.plot([h["step"] for h in history], [h["density"] for h in history], color="gray", ls="--", label="density")
    ax2.set_ylabel("mask density")
    if stable_step is not None:
        ax.axvline(stable_step, color="green", ls=":", label=f"stable @ {stable_step}")
    if switch_step is not None:
        ax.axvline(switch_step, color="red", ls="-.", label=f"switch @ {switch_step}")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    save_figure(fig, path, dpi=100)
    return Path(path)


def plot_grad_norms(rows: list[dict], path, title: str = "per-layer gradient norm") -> Path:
    """``[{step, group: norm, ...}]`` -> one line per layer group (log scale)."""
    plt = _plt()
    groups = sorted({k for r in rows for k in r if k != "step"})
    fig, ax = plt.subplots(figsize=(7, 4))
    for g in groups:
        pts = [(r["step"], r[g]) for r in rows if g in r]
        ax.plot([p[0] for p in pts], [max(p[1], 1e-12) for p in pts], label=g, lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("gradient L2 norm")
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2)
    save_figure(fig, path, dpi=100)
    return Path(path)


def plot_grad_norms_grid(runs: dict[str, list[dict]], path, title: str = "") -> Path:
    """One panel per method (shared log y axis): per-layer-group gradient norms over the first steps."""
    plt = _plt()
    names = [n for n, rows in runs.items() if rows]
    cols = min(4, max(1, len(names)))
    rows_n = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(4 * cols, 3 * rows_n), sharey=True, squeeze=False)
    for ax, name in zip(axes.flat, names):
        rows = runs[name]
        for g in sorted({k for r in rows for k in r if k != "step"}):
            pts = [(r["step"], r[g]) for r in rows if g in r]
            ax.plot([p[0] for p in pts], [max(p[1], 1e-12) for p in pts], label=g, lw=1)
        ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if names:
        axes.flat[0].legend(fontsize=5, ncol=2)
    fig.suptitle(title)
    save_figure(fig, path, dpi=90)
    return Path(path)


def short_layer(name: str) -> str:
    """A readable label of a target layer name (``asr.encoder.conformer.conformer_layers.0.ffn1.sequential.1``
    -> ``enc0.ffn1.1``)."""
    n = name.replace("asr.encoder.conformer.conformer_layers.", "enc").replace(".sequential", "")
    n = n.replace("asr.encoder.", "enc.").replace("asr.decoder.", "dec.").replace(".in_proj_weight", ".in_proj")
    return n.replace("self_attn", "attn").replace("conv_module", "conv").replace("trunk.", "")


def _marks(ax, res: dict) -> None:
    for key, color, ls, label in (("mask_start_step", "tab:blue", "--", "mask starts"),
                                  ("stable_step", "green", ":", "stable"),
                                  ("switch_step", "red", "-.", "switch")):
        v = res.get(key)
        if v is not None:
            ax.axvline(v, color=color, ls=ls, lw=1, label=f"{label} @ {v}")


def plot_mask_timeline(res: dict, path, title: str = "") -> Path:
    """One time axis (steps): top, val WER and the hard-mask density (density as the run evaluated it, so before the
    start it is the untouched mask); bottom, the mask change between consecutive checks and each check's distance
    to the mask the run switched with; vertical lines at the start of mask learning, the stable check, the switch.
    ``res``: a run summary (``val``, ``mask_history``, ``mask_start_step``, ``stable_step``, ``switch_step``)."""
    plt = _plt()
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    val = res.get("val") or []
    a1.plot([v["step"] for v in val], [v["wer"] for v in val], "o-", ms=3, color="black", label="val WER")
    a1.plot([v["step"] for v in val], [v["density"] for v in val], "s--", ms=3, color="gray", label="hard-mask density")
    hist = res.get("mask_history") or []
    if hist:
        a1.plot([h["step"] for h in hist], [h["global_density"] for h in hist], lw=1, color="tab:orange",
                label="global-rule density (checks)")
    a1.set_ylim(0, 1.05)
    a1.set_ylabel("WER / density")
    _marks(a1, res)
    a1.legend(fontsize=7, loc="upper right")
    a1.grid(alpha=0.3)
    pts = [h for h in hist if h.get("distance") is not None]
    if pts:
        a2.plot([h["step"] for h in pts], [max(h["distance"], 1e-5) for h in pts], "o-", ms=3, label="to previous check")
    fin = [h for h in hist if h.get("to_final") is not None]
    if fin:
        a2.plot([h["step"] for h in fin], [max(h["to_final"], 1e-5) for h in fin], "s-", ms=3, label="to the switch mask")
    a2.set_yscale("log")
    a2.set_ylabel("mask change (Hamming)")
    a2.set_xlabel("step")
    _marks(a2, res)
    a2.legend(fontsize=7, loc="upper right")
    a2.grid(alpha=0.3)
    if title:
        a1.set_title(title)
    save_figure(fig, path, dpi=100)
    return Path(path)


def plot_layer_density(layers: dict[str, dict], path, title: str = "", spread: dict[str, tuple] | None = None) -> Path:
    """Per target layer: the learned mask's density (bar; ``spread`` {layer: (lo, hi)} as an error bar, e.g. over
    seeds) against the ERK density at the same overall density (marker). ``layers``: {name: {density, erk, numel}}."""
    plt = _plt()
    names = list(layers)
    y = list(range(len(names)))
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(names) + 1.5))
    dens = [layers[n]["density"] for n in names]
    xerr = None
    if spread:
        xerr = [[max(0.0, layers[n]["density"] - spread[n][0]) for n in names],
                [max(0.0, spread[n][1] - layers[n]["density"]) for n in names]]
    ax.barh(y, dens, xerr=xerr, color="tab:orange", alpha=0.8, label="learned mask", error_kw={"lw": 0.8})
    ax.plot([layers[n]["erk"] for n in names], y, "k|", ms=9, mew=2, label="ERK at the same overall density")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{short_layer(n)} ({layers[n]['numel'] / 1000:.0f}k)" for n in names], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("density (fraction of the layer's weights kept)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    save_figure(fig, path, dpi=100)
    return Path(path)


def plot_mask_histogram(hists: dict, path, title: str = "") -> Path:
    """Histograms (log counts) of the soft mask values and of the logits at the switch (``hists``: ``soft`` and
    ``logits`` as {lo, hi, counts}, ``beta``)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, key, label in ((axes[0], "soft", "soft mask value sigmoid(beta * logit)"), (axes[1], "logits", "logit")):
        h = hists[key]
        n = len(h["counts"])
        w = (h["hi"] - h["lo"]) / n
        ax.bar([h["lo"] + (i + 0.5) * w for i in range(n)], [max(c, 0.5) for c in h["counts"]], width=w,
               color="tab:purple", alpha=0.8)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("mask entries")
    if title:
        fig.suptitle(f"{title}, beta {hists.get('beta', float('nan')):.3g}", fontsize=9)
    save_figure(fig, path, dpi=100)
    return Path(path)
