"""The comparison's tables from finished runs (nothing is trained here).

Runs are trained by the one comparison driver, ``sparselab run apps/asr_ddp/configs/sets/<set>.yaml --out DIR``
(``core.training.experiments``: one process per (run, seed) into ``DIR/<run>/seed<k>``; the corpus' features are
cached once per corpus, so a run process only reads them). ``load_results(DIR)`` reads every finished run back with
its dev curve; ``summarise`` pairs the variants with full data by seed; ``format_table`` writes the README's table
(``python -m benchmarks.suites.asr_ddp DIR`` adds the verdicts and the plots).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from core.metrics.stats import mean_interval
from core.training.experiments import finished_runs, first_at_or_below

__all__ = ["load_results", "summarise", "first_reach", "format_table", "dev_curve"]


def load_results(out: str | Path) -> dict[str, dict[int, dict]]:
    """Every finished ``<out>/<run>/seed<k>`` as {run: {seed: summary + dev curve}} (nothing is trained)."""
    out = Path(out)
    return {n: {s: dict(summary, dev_curve=dev_curve(out / n / f"seed{s}")) for s, summary in seeds.items()}
            for n, seeds in finished_runs(out).items()}


def dev_curve(run_dir: Path) -> list[dict]:
    p = run_dir / "metrics.jsonl"
    if not p.is_file():
        return []
    rows = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    return [{"step": r["step"], "train_cpu_s": r["train_cpu_s"], "train_s": r["train_s"], "dev_wer": r["dev_wer"]}
            for r in rows if r.get("kind") == "eval" and "dev_wer" in r]


def first_reach(curve: list[dict], target_wer: float, key: str = "train_cpu_s") -> float | None:
    """``key`` (training CPU seconds, or "step") at the first evaluation whose dev WER <= ``target_wer``
    (None: never reached)."""
    p = first_at_or_below(curve, target_wer, "dev_wer")
    return None if p is None else p[key]


def _ms(xs: list[float]) -> tuple[float, float]:
    """(mean, half-width of its 95 % Student-t interval over seeds; 0 for one seed), by ``core.metrics.stats``."""
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not xs:
        return float("nan"), float("nan")
    iv = mean_interval(xs)
    return iv.center, (iv.hi - iv.center)


def _schedule(summary: dict) -> str:
    """``w1 a0`` (warm-up epochs, annealed fraction) of a run, or "" for runs that did not record it."""
    sc = summary.get("schedule")
    if not sc or sc.get("policy") == "full":
        return ""
    return f"w{sc['warmup_epochs']} a{sc['anneal']:g}"


def summarise(results: dict[str, dict[int, dict]], baseline: str = "full") -> dict[str, dict]:
    """Per variant: test WER mean ± 95 % half-interval, relative WER vs ``baseline`` paired by seed, CPU s, steps, audio fraction,
    and the CPU seconds and steps to reach the baseline's final dev WER (same seed), with the CPU ratio to the
    baseline's total. Steps do not depend on what else ran on the machine; CPU seconds do (and a step's cost
    depends on how much of the utterance it keeps), so the table gives both."""
    base = results.get(baseline, {})
    table = {}
    for v, runs in results.items():
        seeds = sorted(runs)
        wers = [runs[s].get("test_wer") for s in seeds]
        row = {"seeds": seeds, "test_wer": _ms(wers), "test_wer_per_seed": wers,
               "train_cpu_s": _ms([runs[s].get("train_cpu_total_s", runs[s].get("train_cpu_s")) for s in seeds]),
               "steps": _ms([runs[s].get("steps") for s in seeds]),
               "audio_fraction": _ms([runs[s].get("audio_fraction") for s in seeds]),
               "schedule": _schedule(runs[seeds[0]])}
        for k in ("guard_binding_fraction", "time_keep_real", "overlap_prev_mean", "words_dropped_fraction"):
            if any(k in runs[s] for s in seeds):
                row[k] = _ms([runs[s].get(k) for s in seeds])
        paired = [s for s in seeds if s in base]
        if paired:
            rel = [runs[s]["test_wer"] / base[s]["test_wer"] - 1 if base[s]["test_wer"] else float("nan")
                   for s in paired]
            row["rel_wer_vs_full"] = _ms(rel)
            row["rel_wer_per_seed"] = rel
            reach, reach_steps, ratio = [], [], []
            for s in paired:
                curve = base[s].get("dev_curve") or []
                if not curve:
                    continue
                p = first_at_or_below(runs[s].get("dev_curve") or [], curve[-1]["dev_wer"], "dev_wer")
                c = None if p is None else p["train_cpu_s"]
                reach.append(c)
                reach_steps.append(None if p is None else p["step"])
                full_cpu = base[s].get("train_cpu_total_s", base[s].get("train_cpu_s"))
                ratio.append(None if c is None else full_cpu / max(c, 1e-9))
            row["cpu_to_full_dev_wer"] = reach
            row["steps_to_full_dev_wer"] = reach_steps
            row["speedup_to_full_dev_wer"] = ratio
            row["cpu_ratio_vs_full"] = _ms([base[s].get("train_cpu_total_s", base[s].get("train_cpu_s")) /
                                            max(runs[s].get("train_cpu_total_s", runs[s].get("train_cpu_s")), 1e-9)
                                            for s in paired])
        table[v] = row
    return table


def format_table(table: dict[str, dict]) -> str:
    """Markdown table of :func:`summarise`'s output."""
    head = ("| variant | seeds | test WER % (mean ± 95 % CI) | per seed | rel. WER vs full (paired, ± 95 % CI) | "
            "schedule | train CPU s | steps | audio used | CPU s (steps) to full's final dev WER |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for v, r in sorted(table.items(), key=lambda kv: kv[0] != "full"):     # full data first
        m, sd = r["test_wer"]
        n = len(r["seeds"])
        rel = r.get("rel_wer_vs_full")
        rel_s = "" if rel is None or v == "full" else (f"{100 * rel[0]:+.1f}% ± {100 * rel[1]:.1f}" if n >= 3
                                                       else f"{100 * rel[0]:+.1f}%")
        reach = r.get("cpu_to_full_dev_wer") or []
        steps = r.get("steps_to_full_dev_wer") or [None] * len(reach)
        reach_s = ", ".join("never" if x is None else f"{x:.0f}" + ("" if k is None else f" ({k})")
                            for x, k in zip(reach, steps))
        per = " / ".join(f"{100 * w:.1f}" for w in r["test_wer_per_seed"])
        wer_s = f"{100 * m:.2f} ± {100 * sd:.2f}" if n >= 3 else f"{100 * m:.2f}"     # no interval worth showing
        lines.append(f"| {v} | {n} | {wer_s} | {per} | {rel_s} | "
                     f"{r.get('schedule', '')} | "
                     f"{r['train_cpu_s'][0]:.0f} | {r['steps'][0]:.0f} | {r['audio_fraction'][0]:.2f} | {reach_s} |")
    return head + "\n".join(lines) + "\n" + ("\nschedule: wN = N full-data warm-up epochs, aF = the last F of the epochs "
                                             "on full data again (the same for every pruned row but InfoBatch's "
                                             "official a0.125).\n" if any(r.get("schedule") for r in table.values())
                                             else "")


def export_runs(src: str | Path, dst: str | Path, names: list[str] | None = None) -> int:
    """Copy every finished ``src/<run>/seed<k>`` as the raw per-run files a README table is regenerated from:
    ``summary.json`` and the evaluation rows of ``metrics.jsonl`` (no checkpoints, no training rows). Returns the
    number of runs copied; ``load_results(dst)`` then reads them back like the run folders."""
    from core.training.atomic import atomic_write_text

    src, dst = Path(src), Path(dst)
    n = 0
    for name, seeds in finished_runs(src, names).items():
        for seed in seeds:
            a, b = src / name / f"seed{seed}", dst / name / f"seed{seed}"
            b.mkdir(parents=True, exist_ok=True)
            atomic_write_text(b / "summary.json", (a / "summary.json").read_text())
            rows = [line for line in (a / "metrics.jsonl").read_text().splitlines()
                    if line.strip() and json.loads(line).get("kind") == "eval"]
            atomic_write_text(b / "metrics.jsonl", "".join(r + "\n" for r in rows))
            n += 1
    return n


if __name__ == "__main__":     # python -m apps.asr_ddp.report export RUNS_DIR RESULTS_DIR [run,run,...]
    import sys

    if len(sys.argv) >= 4 and sys.argv[1] == "export":
        print(export_runs(sys.argv[2], sys.argv[3], sys.argv[4].split(",") if len(sys.argv) > 4 else None),
              "runs exported")
    else:
        print("usage: python -m apps.asr_ddp.report export RUNS_DIR RESULTS_DIR [run,run,...]")
