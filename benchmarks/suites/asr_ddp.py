"""apps/asr_ddp: dynamic data pruning for ASR on real speech, speaker-independent (connected Arabic digits of the
Arabic Speech Commands corpus: train on 18 speakers, test on 6 unseen ones), judged over seeds.

Runs the comparison set ``apps/asr_ddp/configs/sets/arabic.yaml`` (the experiment configs; nothing is defined here)
through the one comparison driver (``core.training.experiments.run_set``: a process per (run, seed), one thread
each, one at a time -- the bench runner already runs two modules at once; ``SPARSELAB_ASR_BENCH_WORKERS=2`` runs two
of them at a time), then records per run: test WER over seeds (paired with full data by
seed), training CPU seconds, steps, audio fraction, and the CPU seconds to reach full data's final dev WER. Targets
(issue 14), judged on the seed spread and only where full data has learned (test WER < 50 %):

* the best 0.7 instance policy within 5 % relative WER of full (per-seed ratio <= 1.05);
* dynamic random beats static random at 0.7 (paired ratio < 1);
* 0.7 x 0.7 (best time-pruning variant): >= 1.5x less training CPU than full with <= 5 % relative WER loss;
* 0.5 instance measurably worse than 0.7 (paired ratio > 1).

Sizes: smoke = 2 runs on 3 keywords, 40 utterances, 1 epoch, 1 seed (plumbing); quick = full vs dynamic 0.7 on
1,000 utterances, 5 epochs, 2 seeds (full data learns: test WER well below 50 %); standard = the issue's eleven runs
at the calibrated size (the set's common settings), 3 seeds; full = every run of the set, 5 seeds.
The corpus and its features are cached under ``core.paths.cache_dir("asr_ddp")``.
"""
from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

NAME = "asr_ddp"
DESCRIPTION = ("dynamic data pruning for ASR (DDP-ASR) on real speech, unseen speakers (connected Arabic digits): "
               "WER over seeds vs compute")

SET = Path(__file__).resolve().parents[2] / "apps" / "asr_ddp" / "configs" / "sets" / "arabic.yaml"
# the comparison: full, every 0.7 instance policy, 0.5, and 0.7 x 0.7 by points, chunks and aligned chunks
STANDARD_RUNS = ["full", "dynamic_random0.7", "static_random0.7", "easy_to_hard0.7", "infobatch", "eps_greedy0.7",
                 "ucb0.7", "dynamic_random0.5", "dynamic_random0.7x0.7point", "dynamic_random0.7x0.7chunk",
                 "dynamic_random0.7x0.7aligned"]
LEARNED_WER = 0.5          # below this full data has learned enough for a comparison to mean something
QUICK = ["data.n_train=1000", "data.eval_passes=1", "trainer.epochs=5", "train.warmup_steps=20", "train.frame_budget=1500"]


def _plan(ctx):
    smoke = dict(only=["full", "dynamic_random0.7x0.7chunk"],
                 extra=["data.keywords=[zero,one,two]", "data.n_train=40", "data.eval_passes=1", "trainer.epochs=1",
                        "train.warmup_steps=2"])
    quick = dict(only=["full", "dynamic_random0.7"], extra=QUICK)
    standard = dict(only=STANDARD_RUNS, extra=[])
    full = dict(only=None, extra=[])
    return ctx.sizes(smoke=smoke, quick=quick, standard=standard, full=full)


def train_runs(set_path, out: Path, seeds: list[int], only: list[str] | None, extra: list[str], *, workers: int = 2,
               device: str = "cpu", log=print) -> dict:
    """Every (run, seed) through ``core.training.experiments.run_set`` (finished runs are read back, not retrained),
    ``workers`` processes at a time, one thread each; returns ``report.load_results(out)`` for these runs."""
    from apps.asr_ddp.report import load_results
    from core.training.experiments import load_set, run_set, write_summaries

    cs = load_set(set_path)
    names = only or list(cs.runs)
    jobs = [(n, s) for n in names for s in seeds]
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "SPARSELAB_PROGRESS": "0"}
    over = [*extra, f"trainer.device={'cpu' if device == 'cpu' else 'auto'}", "trainer.progress=off"]

    def one(job):
        n, s = job
        return run_set(cs, out, seeds=[s], only=[n], extra=over, env=env, log=log)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as ex:
        for _ in ex.map(one, jobs):         # the first failure is raised here, after the others finish
            pass
    write_summaries(cs, out)
    res = load_results(out)
    return {n: {s: r for s, r in res[n].items() if s in seeds} for n in names if n in res}


def run(ctx) -> None:
    from apps.asr_ddp.report import summarise

    plan = _plan(ctx)
    seeds = ctx.seed_list()
    t0 = time.perf_counter()
    # one run at a time: `sparselab bench` already runs two modules at once on a 2-core CPU (--jobs)
    workers = int(os.environ.get("SPARSELAB_ASR_BENCH_WORKERS", "1"))
    res = train_runs(SET, Path(ctx.runs_dir) / "asr_ddp_runs", seeds, plan["only"], plan["extra"], workers=workers,
                     device=ctx.device, log=lambda m: None)
    table = summarise(res)
    _record(ctx, res, table, seeds)
    _plot(ctx, res, table)
    (Path(ctx.out_dir) / "asr_ddp_TABLES.md").write_text(tables(res, table), encoding="utf-8")
    ctx.record(NAME, "all", "bench_wall", time.perf_counter() - t0, "s")


def _per_seed(res: dict, run: str, key: str) -> dict[int, float]:
    return {s: float(r[key]) for s, r in res[run].items() if r.get(key) is not None}


def _cpu(r: dict) -> float:
    return float(r.get("train_cpu_total_s", r.get("train_cpu_s", 0.0)))


def _record(ctx, res: dict, table: dict, seeds: list[int]) -> None:
    full = res["full"]
    full_wer = statistics.fmean(r["test_wer"] for r in full.values())
    why = None if full_wer < LEARNED_WER else (f"full data did not learn at this size (test WER "
                                               f"{100 * full_wer:.0f}%): no policy comparison is meaningful")
    if ctx.suite == "smoke":
        why = why or "smoke: plumbing only (one epoch on 40 utterances)"
    base_wer = _per_seed(res, "full", "test_wer")
    base_cpu = {s: _cpu(r) for s, r in full.items()}
    for name, runs in res.items():
        row = table[name]
        extra = dict(steps=row["steps"][0], audio_fraction=row["audio_fraction"][0])
        for k in ("guard_binding_fraction", "time_keep_real", "overlap_prev_mean", "words_dropped_fraction"):
            if k in row:
                extra[k] = row[k][0]
        wers = _per_seed(res, name, "test_wer")
        if name == "full":
            ctx.record_seeds(name, "test_wer", wers, higher_is_better=False, **extra)
        else:
            tgt = "<= 1.05" if name.endswith("0.7") or "x0.7" in name else None
            ctx.record_seeds(name, "test_wer", wers, baseline=base_wer, target=tgt, higher_is_better=False,
                             not_judged=why if tgt else None, **extra)
            cpu = {s: _cpu(r) for s, r in runs.items()}
            ctx.record_seeds(name, "cpu_speedup_vs_full", {s: base_cpu[s] / max(cpu[s], 1e-9) for s in cpu},
                             unit="x", target=">= 1.5" if "x0.7" in name else None, higher_is_better=True,
                             not_judged=why if "x0.7" in name else None)
            reach = row.get("speedup_to_full_dev_wer") or []
            if full_wer < LEARNED_WER:         # "equal quality" means nothing while full data is at 100% WER
                ctx.record(NAME, name, "speedup_to_full_dev_wer",
                           statistics.fmean(reach) if reach and all(x is not None for x in reach) else None, "x",
                           per_seed=reach, higher_is_better=True)
        ctx.record(NAME, name, "train_cpu_s", row["train_cpu_s"][0], "s", higher_is_better=False,
                   std=row["train_cpu_s"][1])
        dec = {s: r["decorrelation"] for s, r in runs.items() if "spearman_position_score" in r.get("decorrelation", {})}
        if dec:                 # score policies: do the first pruned epoch's scores still encode warm-up position?
            ctx.record_seeds(name, "abs_spearman_position_score",
                             {s: abs(d["spearman_position_score"]) for s, d in dec.items()}, target="<= 0.1",
                             higher_is_better=False,
                             before_pass={s: d.get("spearman_position_score_before_pass") for s, d in dec.items()})
            ctx.record_seeds(name, "max_quarter_keep_deviation",
                             {s: max(abs(q - d["kept_fraction"]) for q in d["kept_by_quarter"]) for s, d in dec.items()},
                             target="<= 0.05", higher_is_better=False)
    inst = [n for n in res if n.endswith("0.7") and "x" not in n]
    if inst:
        best = min(inst, key=lambda n: table[n]["test_wer"][0])
        ctx.record_seeds(f"best_0.7_instance={best}", "test_wer", _per_seed(res, best, "test_wer"),
                         baseline=base_wer, target="<= 1.05", higher_is_better=False, not_judged=why)
    if "static_random0.7" in res and "dynamic_random0.7" in res:
        ctx.record_seeds("dynamic_vs_static0.7", "test_wer", _per_seed(res, "dynamic_random0.7", "test_wer"),
                         baseline=_per_seed(res, "static_random0.7", "test_wer"), target="< 1",
                         higher_is_better=False, not_judged=why)
    if "dynamic_random0.5" in res and "dynamic_random0.7" in res:
        ctx.record_seeds("dynamic0.5_vs_0.7", "test_wer", _per_seed(res, "dynamic_random0.5", "test_wer"),
                         baseline=_per_seed(res, "dynamic_random0.7", "test_wer"), target="> 1",
                         higher_is_better=False, not_judged=why)


def _plot(ctx, res: dict, table: dict) -> None:
    from apps.asr_ddp.plots import plot_chunk_sweep, plot_wer_vs_time

    curves = {n: [runs[s].get("dev_curve", []) for s in sorted(runs)] for n, runs in res.items()}
    plot_wer_vs_time(curves, ctx.plot_path(NAME, "dev_wer_vs_cpu"), x_key="train_cpu_s",
                     title=f"asr_ddp {ctx.suite}: dev WER (unseen speakers) vs training CPU s, every seed")
    plot_chunk_sweep(res, ctx.plot_path(NAME, "chunk_sweep"),
                     title=f"asr_ddp {ctx.suite}: 0.7 x 0.7, test WER vs chunk length")
    pts = []
    for n, r in table.items():
        runs = res[n]
        if len(r["seeds"]) >= 3:
            xe, ye = r["train_cpu_s"][1], 100 * r["test_wer"][1]
        else:                                   # two seeds: their range, not a 95 % interval 12.7 s.e. wide
            cpu = [_cpu(x) for x in runs.values()]
            w = [100 * x["test_wer"] for x in runs.values()]
            xe, ye = [min(cpu), max(cpu)], [min(w), max(w)]          # absolute bounds
        pts.append({"method": n, "x": r["train_cpu_s"][0], "x_err": xe, "y": 100 * r["test_wer"][0], "y_err": ye,
                    "n_seeds": len(r["seeds"])})
    ctx.headline_plot(pts, x_label="training CPU seconds (mean over seeds)",
                      y_label="test WER %, unseen speakers (bars: 95 % CI; range if < 3 seeds)",
                      title=f"asr_ddp ({ctx.suite}): connected Arabic digits, learned WER vs compute",
                      higher_is_better=False)


# ---------------------------------------------------------------------------------------------------------------
# README verdicts from finished runs of any set (nothing is trained):
#   python -m benchmarks.suites.asr_ddp outputs/asr_ddp/arabic     (or a digits.yaml / espeak.yaml run folder)
# (also writes <folder>/dev_wer_vs_cpu.png)

def verdicts(res: dict) -> list[tuple[str, str, str]]:
    """(target, measured with its 95 % interval over seeds, verdict) for the issue's targets, paired by seed
    (``core.metrics.stats.judge_seeds``: the same rule as ``ctx.record_seeds`` in the suite)."""
    from core.metrics.stats import MIN_SEEDS, judge_seeds

    out = []
    full = res.get("full", {})
    if not full:
        return out
    full_wer = statistics.fmean(r["test_wer"] for r in full.values())
    unlearned = (None if full_wer < LEARNED_WER else
                 f"not judged: full data has not learned (test WER {100 * full_wer:.0f}%)")

    def judge(name: str, run: str, base: str, target: str, key=lambda r: r["test_wer"]) -> None:
        """``target`` on the per-seed ratio key(run) / key(base) over the seeds both have."""
        seeds = sorted(set(res[run]) & set(res[base]))
        j = judge_seeds([key(res[run][s]) for s in seeds], [key(res[base][s]) for s in seeds], target)
        (lo, hi), n = j["interval"], len(seeds)
        tag = "" if n >= MIN_SEEDS else f" (indicative: {n} seed{'s' if n != 1 else ''})"
        measured = (f"{j['compared']:.3f}x [{lo:.3f}, {hi:.3f}], n={n}" if n >= 2    # one seed has no interval
                    else f"{j['compared']:.3f}x, n=1 (no interval)")
        out.append((f"{name} {target}", measured, unlearned or j["verdict"] + tag))

    def best_of(names: list[str]) -> str:
        """Lowest mean test WER among the candidates run with the most seeds (means over fewer seeds don't compete)."""
        most = max(len(res[n]) for n in names)
        return min((n for n in names if len(res[n]) == most),
                   key=lambda n: statistics.fmean(r["test_wer"] for r in res[n].values()))

    def among(names: list[str], best: str) -> str:
        """Says so when rows with fewer seeds were left out of the choice."""
        most = len(res[best])
        return "" if all(len(res[n]) == most for n in names) else f"; of the {most}-seed rows"

    inst = [n for n in res if n.endswith("0.7") and "x" not in n]
    if inst:
        best = best_of(inst)
        judge(f"best 0.7 instance policy ({best}{among(inst, best)}) test WER / full", best, "full", "<= 1.05")
    if "dynamic_random0.7" in res and "static_random0.7" in res:
        judge("dynamic / static 0.7 test WER", "dynamic_random0.7", "static_random0.7", "< 1.0")
    times = [n for n in res if "x0.7" in n]
    if times:
        best = best_of(times)
        judge(f"0.7 x 0.7 ({best}{among(times, best)}) training CPU speed-up vs full", "full", best, ">= 1.5",
              key=_cpu)
        judge(f"0.7 x 0.7 ({best}{among(times, best)}) test WER / full", best, "full", "<= 1.05")
    if "dynamic_random0.5" in res and "dynamic_random0.7" in res:
        judge("dynamic 0.5 / dynamic 0.7 test WER", "dynamic_random0.5", "dynamic_random0.7", "> 1.0")
    for run, runs in res.items():      # score policies: the first pruned epoch's scores vs warm-up position (issue 34)
        dec = [r["decorrelation"] for _, r in sorted(runs.items())
               if "spearman_position_score" in r.get("decorrelation", {})]
        if not dec:
            continue
        n = len(dec)
        tag = "" if n >= MIN_SEEDS else f" (indicative: {n} seed{'s' if n != 1 else ''})"
        for what, vals, target in (
                ("abs Spearman(warm-up position, score)", [abs(d["spearman_position_score"]) for d in dec], "<= 0.1"),
                ("max abs(kept fraction of a warm-up quarter - kept fraction)",
                 [max(abs(q - d["kept_fraction"]) for q in d["kept_by_quarter"]) for d in dec], "<= 0.05")):
            j = judge_seeds(vals, None, target)
            (lo, hi) = j["interval"]
            measured = (f"{j['compared']:.3f} [{lo:.3f}, {hi:.3f}], n={n}" if n >= 2
                        else f"{j['compared']:.3f}, n=1 (no interval)")
            out.append((f"{run}: {what} {target}", measured, j["verdict"] + tag))
    return out


def tables(res: dict, table: dict) -> str:
    """The README's comparison table and the targets' verdicts (markdown), from the runs' summaries."""
    from apps.asr_ddp.report import format_table

    lines = [format_table(table), "| target | measured (mean [95% interval], paired by seed where there is a baseline) "
             "| verdict |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {v} |" for t, m, v in verdicts(res)]
    dec = {n: [r["decorrelation"] for _, r in sorted(runs.items()) if "spearman_position_score" in
               r.get("decorrelation", {})] for n, runs in res.items()}
    dec = {n: d for n, d in dec.items() if d}
    if dec:
        lines += ["", "First pruned epoch of the score policies: Spearman(position in the warm-up epoch, score) for the "
                  "warm-up's training losses and for the scores selected by (after the scoring pass), and the kept "
                  "fraction of each quarter of the warm-up epoch (per seed; target |rho| <= 0.1, quarters within "
                  "±0.05 of the kept fraction):", "",
                  "| variant | rho, warm-up losses | rho, selected by | kept fraction | kept by quarter (1st-4th) |",
                  "|---|---|---|---|---|"]
        for n, ds in dec.items():
            before = " / ".join(f"{d.get('spearman_position_score_before_pass', float('nan')):+.2f}" for d in ds)
            after = " / ".join(f"{d['spearman_position_score']:+.3f}" for d in ds)
            kept = " / ".join(f"{d['kept_fraction']:.3f}" for d in ds)
            quarters = "; ".join(" ".join(f"{q:.2f}" for q in d["kept_by_quarter"]) for d in ds)
            lines.append(f"| {n} | {before} | {after} | {kept} | {quarters} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    from apps.asr_ddp.report import load_results, summarise
    from apps.asr_ddp.plots import plot_chunk_sweep, plot_wer_vs_time

    folder = Path(sys.argv[1])
    results = load_results(folder)
    plot_chunk_sweep(results, folder / "chunk_sweep.png")
    print(tables(results, summarise(results)))
    ordered = dict(sorted(results.items(), key=lambda kv: kv[0] != "full"))
    every = {n: [r[s]["dev_curve"] for s in sorted(r)] for n, r in ordered.items()}
    plot_wer_vs_time(every, folder / "dev_wer_vs_cpu.png", x_key="train_cpu_s", ylim=40,
                     title=f"{folder.name}: dev WER vs training CPU s, every seed")
    plot_wer_vs_time(every, folder / "dev_wer_vs_step.png", x_key="step", ylim=40,
                     title=f"{folder.name}: dev WER vs optimizer steps, every seed")
