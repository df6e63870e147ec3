"""Why a pruned row ends where it ends: the mechanism view of the Arabic comparison, from the runs' own files.

    python apps/asr_ddp/results/arabic/mechanism.py apps/asr_ddp/results/arabic      # or the runs' folder

Reads every finished ``<folder>/<row>/seed<k>/`` (``summary.json``: ``epoch_log``, ``decorrelation``;
``metrics.jsonl``: epoch and eval rows), trains nothing, and writes ``<folder>/MECHANISM.md`` and
``<folder>/mechanism.png``:

* overlap of consecutive epochs' kept sets (``epoch_log[].overlap_prev``; random 0.7 draws ~0.70, static 1.0);
* the score policies' first pruned epoch: kept fraction of each quarter of the warm-up epoch (position bias left
  after the scoring pass) and, where recorded, what the warm-up losses alone would have kept;
* audio share and steps (equal-budget check), the last epoch's mean training loss, and per seed the pruned run's
  final dev WER next to full data's dev WER at the evaluation nearest the same step (same seed): a row that matches
  full data per step but ends worse lost by having fewer steps, one that is worse per step lost by what it kept.
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def load(folder: Path) -> dict[str, dict[int, dict]]:
    runs: dict[str, dict[int, dict]] = {}
    for s in sorted(folder.glob("*/seed*/summary.json")):
        summary = json.loads(s.read_text())
        if summary.get("status") != "finished":
            continue
        rows = [json.loads(x) for x in (s.parent / "metrics.jsonl").read_text().splitlines() if x.strip()]
        summary["_evals"] = [r for r in rows if r.get("kind") == "eval" and "dev_wer" in r]
        summary["_epochs"] = [r for r in rows if r.get("kind") == "epoch"]
        runs.setdefault(s.parent.parent.name, {})[int(s.parent.name[4:])] = summary
    return dict(sorted(runs.items(), key=lambda kv: (kv[0] != "full", kv[0])))


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else None


def _f(x, fmt="{:.2f}"):
    return "-" if x is None else fmt.format(x)


def overlaps(summary: dict) -> list[float]:
    """Overlap with the previous epoch's kept set, for the pruned epochs after the first (epoch 1 follows the
    full-data warm-up, so its overlap is 1.0 by construction)."""
    return [e["overlap_prev"] for e in summary.get("epoch_log", [])
            if e.get("phase") == "pruned" and e.get("overlap_prev") is not None and e["epoch"] >= 2]


def full_dev_at(full: dict, step: int) -> float | None:
    evals = full["_evals"]
    return min(evals, key=lambda r: abs(r["step"] - step))["dev_wer"] if evals else None


def report(runs: dict[str, dict[int, dict]]) -> str:
    full = runs.get("full", {})
    out = ["| row | seeds | audio used | steps | mean overlap, epochs 2-14 | overlap epoch 2 → last, per seed | "
           "last-epoch train loss (its kept items) | final dev WER % | full's dev WER % at the eval nearest the same step "
           "(same seed; full's LR not yet annealed there) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, seeds in runs.items():
        ss = sorted(seeds)
        ov = [overlaps(seeds[s]) for s in ss]
        mean_ov = _mean([_mean(o) for o in ov if o])
        first_last = " / ".join(f"{o[0]:.2f} → {o[-1]:.2f}" for o in ov if o) or "-"
        loss = _mean([seeds[s]["_epochs"][-1]["train_loss"] for s in ss if seeds[s]["_epochs"]])
        dev = " / ".join(_f(100 * seeds[s]["last_eval"]["dev_wer"], "{:.1f}") for s in ss)
        at = ("" if name == "full" else
              " / ".join(_f(None if s not in full else 100 * full_dev_at(full[s], seeds[s]["steps"]), "{:.1f}")
                         + f" (step {seeds[s]['steps']})" for s in ss))
        out.append(f"| {name} | {len(ss)} | {_mean([seeds[s].get('audio_fraction') for s in ss]):.3f} | "
                   f"{_mean([seeds[s]['steps'] for s in ss]):.0f} | {_f(mean_ov)} | {first_last} | {_f(loss, '{:.3f}')} | "
                   f"{dev} | {at} |")
    dec_rows = []
    for name, seeds in runs.items():
        for s in sorted(seeds):
            d = seeds[s].get("decorrelation") or {}
            if "kept_by_quarter" not in d:
                continue
            cf = d.get("kept_by_quarter_with_warmup_scores")
            dec_rows.append(f"| {name} | {s} | {d['spearman_position_score_before_pass']:+.3f} | "
                            f"{d['spearman_position_score']:+.3f} | {d['kept_fraction']:.3f} | "
                            + " ".join(f"{q:.2f}" for q in d["kept_by_quarter"]) + " | "
                            + ("not recorded (run before f6e2f1c)" if cf is None else " ".join(f"{q:.2f}" for q in cf))
                            + " |")
    if dec_rows:
        out += ["", "First pruned epoch of the score policies (per seed): Spearman(position in the warm-up epoch, "
                "score) for the warm-up's own training losses and for the scores the selection used (after the "
                "scoring pass); kept fraction of each quarter of the warm-up epoch (items in the order they were "
                "seen), with the scoring pass and, where recorded, with the warm-up losses instead:", "",
                "| row | seed | rho, warm-up losses | rho, after the scoring pass | kept | kept by quarter (1st-4th) | "
                "the same with the warm-up losses |", "|---|---|---|---|---|---|---|", *dec_rows]
    return "\n".join(out) + "\n"


def plot(runs: dict[str, dict[int, dict]], path: Path) -> None:
    from core.plotting import plt, save_figure

    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.2))
    for k, (name, seeds) in enumerate(runs.items()):
        if name == "full":
            continue
        per_epoch: dict[int, list[float]] = {}
        for s in seeds.values():
            for e in s.get("epoch_log", []):
                if e.get("phase") == "pruned" and e.get("overlap_prev") is not None and e["epoch"] >= 2:
                    per_epoch.setdefault(e["epoch"], []).append(e["overlap_prev"])
        if per_epoch:
            xs = sorted(per_epoch)
            a.plot(xs, [statistics.fmean(per_epoch[x]) for x in xs], marker="o", ms=3, color=f"C{k % 10}",
                   label=f"{name} ({len(seeds)} seed{'s' if len(seeds) != 1 else ''})")
    a.set_xlabel("epoch")
    a.set_ylabel("overlap with the previous epoch's kept set")
    a.set_title("consecutive kept sets (mean over seeds)")
    a.grid(alpha=0.3)
    a.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    decs: dict[str, list[dict]] = {}
    for n, seeds in runs.items():
        for s in sorted(seeds):
            d = seeds[s].get("decorrelation") or {}
            if "kept_by_quarter" in d:
                decs.setdefault(n, []).append(d)
    width = 0.8 / max(1, len(decs))
    for j, (n, ds) in enumerate(decs.items()):        # bar: mean over seeds; dots: each seed
        color = f"C{list(runs).index(n) % 10}"
        xs = [q + j * width for q in range(4)]
        b.bar(xs, [statistics.fmean(d["kept_by_quarter"][q] for d in ds) for q in range(4)], width=width,
              color=color, alpha=0.8, label=f"{n} (kept {statistics.fmean(d['kept_fraction'] for d in ds):.2f}, "
                                            f"{len(ds)} seed{'s' if len(ds) != 1 else ''})")
        for d in ds:
            b.plot(xs, d["kept_by_quarter"], ls="none", marker="o", ms=3, color="k")
    if decs:
        b.axhspan(0.65, 0.75, color="grey", alpha=0.2, label="0.70 ± 0.05 (target of the 0.7 rows)")
    b.set_xticks([q + 0.4 - width / 2 for q in range(4)], ["1st", "2nd", "3rd", "4th"])
    b.set_xlabel("quarter of the warm-up epoch (order seen)")
    b.set_ylabel("kept in the first pruned epoch")
    b.set_ylim(0.4, 1.05)
    b.set_title("score policies: position bias after the scoring pass")
    b.grid(alpha=0.3, axis="y")
    b.legend(fontsize=6, loc="upper left")
    save_figure(fig, path)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python apps/asr_ddp/results/arabic/mechanism.py FOLDER")
        return 2
    folder = Path(argv[0])
    runs = load(folder)
    md = report(runs)
    (folder / "MECHANISM.md").write_text(md, encoding="utf-8")
    plot(runs, folder / "mechanism.png")
    print(md)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[4]))     # the repository root, for core.plotting
    sys.exit(main(sys.argv[1:]))
