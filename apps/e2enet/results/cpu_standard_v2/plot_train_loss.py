"""The training-loss plot of README "Comparison on the embedded cohort": mean over seeds of the logged training loss
of each row, read from the committed runs/<row>/seed<k>/metrics.jsonl (nothing trained), topology updates marked.

    python apps/e2enet/results/cpu_standard_v2/plot_train_loss.py
"""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
# row -> (label, line style): solid = the paper's forward pass (3 shift groups, image unshifted), dashed = the official
# one (5 groups, image rolled by 2 slices)
ROWS = {
    "dense": ("E2ENet dense", "-"),
    "s08": ("E2ENet S=0.8 (paper: dynamic mask)", "-"),
    "s08_static": ("E2ENet S=0.8 static mask (paper forward)", "-"),
    "official_dense": ("E2ENet dense, official forward", "--"),
    "official": ("E2ENet official (static, S=0.8)", "--"),
}


def curves(row: str) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for f in sorted((HERE / "runs" / row).glob("seed*/metrics.jsonl")):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            if r.get("kind") == "train":
                out.setdefault(r["step"], []).append(r["loss"])
    return out


def main() -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for row, (label, style) in ROWS.items():
        c = curves(row)
        steps = sorted(c)
        mean = [sum(c[s]) / len(c[s]) for s in steps]
        lo, hi = [min(c[s]) for s in steps], [max(c[s]) for s in steps]
        ax.plot(steps, mean, ls=style, label=f"{label} (n={len(c[steps[0]])})")
        ax.fill_between(steps, lo, hi, alpha=0.15)
    for u in range(50, 400, 50):
        ax.axvline(u, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("step (dotted: S=0.8's topology updates; static masks never change)")
    ax.set_ylabel("training loss (mean over seeds; band: min-max)")
    ax.set_title("cpu_standard: training loss", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(HERE / "train_loss.png", dpi=110)


if __name__ == "__main__":
    main()
