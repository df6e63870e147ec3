"""Read a comparison set's runs (``core.training.experiments`` writes ``<out>/<run>/seed<k>/summary.json``) and
give the issue's figures with their spread over seeds.

``python -m apps.msrs.report OUT [--baseline dense]`` writes ``OUT/report.md`` and ``OUT/report.json`` and the
plots ``OUT/val_wer_vs_cpu.png``, ``OUT/grad_norms.png``, ``OUT/mask_distance.png``. Per run (mean +- sample
std over seeds, n = seeds): test WER per test set and SNR, final val WER, training CPU seconds, steps and CPU
seconds to reach the baseline's final val WER of the *same seed* (paired ratios to the baseline: CPU seconds,
which depend on how loaded the machine was while each run trained, and steps, which do not), the MSRS
switch (stable step as a fraction of training, forced or not, density at the switch), final density.
Verdicts (targets of issue 15): :func:`judgements` lists the per-seed figures and their targets, and
``core.metrics.stats.judge_seeds`` judges them on the 95 % t interval of the mean (paired by seed where there is
a baseline), exactly as the benchmark suite does with the same list; "not judged" when the baseline has not
learned (final val WER >= ``--learned``) or when a switch was forced. Time to the baseline's final val WER is
judged in steps (a seed that never reaches it counts its whole run, a lower bound).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from core.metrics.stats import MIN_SEEDS, judge_seeds
from core.training.experiments import finished_runs, first_at_or_below

__all__ = ["load_runs", "steps_to_reach", "summarize", "judgements", "main"]


def load_runs(out: Path) -> dict[str, dict[int, dict]]:
    """``{run: {seed: summary}}`` of every finished run under ``out``."""
    runs = finished_runs(out)
    if not runs:
        raise FileNotFoundError(f"no finished runs (<run>/seed<k>/summary.json) under {out}")
    return runs


def steps_to_reach(val: list[dict], goal: float, key: str = "wer") -> tuple[int | None, float | None]:
    """(step, training CPU seconds) of the first validation point with ``key <= goal``; (None, None) if never."""
    p = first_at_or_below(val, goal, key)
    return (None, None) if p is None else (p["step"], p["train_cpu_s"])


def _to_baseline_final(run: dict, base: dict) -> tuple[int | None, float | None, int | None, float | None]:
    """(steps, CPU s) for one seed's run to reach the same seed's baseline final val WER, then the baseline's
    own (steps, CPU s) to it (its first evaluation at that WER)."""
    goal = base["val"][-1]["wer"]
    return steps_to_reach(run["val"], goal) + steps_to_reach(base["val"], goal)


def _ms(xs: list[float | None]) -> dict:
    v = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return {"mean": None, "std": None, "n": 0, "missing": len(xs)}
    return {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "n": len(v),
            "missing": len(xs) - len(v), "values": v}


def summarize(runs: dict[str, dict[int, dict]], baseline: str = "dense", learned: float = 0.9) -> dict:
    """Per-run figures (mean/std over seeds) and the verdicts; see module docstring."""
    base = runs.get(baseline, {})
    rows: dict[str, dict] = {}
    for name, by_seed in runs.items():
        seeds = sorted(by_seed)
        r: dict = {"seeds": seeds}
        first = by_seed[seeds[0]]
        for tset in ("test", "test_unseen"):
            for snr in first.get(f"{tset}_wer", {}):
                r[f"{tset}_wer@{snr}"] = _ms([by_seed[s][f"{tset}_wer"].get(snr) for s in seeds])
        r["test_wer_by_seed"] = {s: by_seed[s].get("test_wer", {}).get("clean") for s in seeds}
        r["test_wer_by_snr_seed"] = {snr: {s: by_seed[s].get("test_wer", {}).get(snr) for s in seeds}
                                     for snr in first.get("test_wer", {})}
        r["density_by_seed"] = {s: by_seed[s].get("density") for s in seeds}
        r["final_val_wer"] = _ms([by_seed[s]["val"][-1]["wer"] for s in seeds])
        r["train_cpu_s"] = _ms([by_seed[s]["train_cpu_s"] for s in seeds])
        r["density"] = _ms([by_seed[s].get("density") for s in seeds])
        if base:
            steps, cpu, ratio, sratio = [], [], [], []
            for s in seeds:
                if s not in base:
                    continue
                st, c, bst, bc = _to_baseline_final(by_seed[s], base[s])
                steps.append(st)
                cpu.append(c)
                ratio.append(None if c is None or not bc else c / bc)
                sratio.append(None if st is None or not bst else st / bst)
            r["steps_to_baseline_final_val_wer"] = _ms(steps)
            r["cpu_s_to_baseline_final_val_wer"] = _ms(cpu)
            r["cpu_ratio_to_baseline"] = _ms(ratio)
            # steps do not depend on how loaded the machine was when each run trained (CPU seconds do)
            r["steps_ratio_to_baseline"] = _ms(sratio)
            r["test_wer_minus_baseline"] = _ms([by_seed[s]["test_wer"]["clean"] - base[s]["test_wer"]["clean"]
                                                for s in seeds if s in base and "clean" in by_seed[s].get("test_wer", {})])
        if first.get("switch_step") is not None or "stable_step" in first:
            tot = [by_seed[s]["steps"] for s in seeds]
            r["stable_fraction"] = _ms([None if by_seed[s].get("stable_step") is None else
                                        by_seed[s]["stable_step"] / t for s, t in zip(seeds, tot)])
            r["switch_fraction"] = _ms([None if by_seed[s].get("switch_step") is None else
                                        by_seed[s]["switch_step"] / t for s, t in zip(seeds, tot)])
            r["forced"] = [bool(by_seed[s].get("switch_forced")) for s in seeds]
            r["density_at_switch"] = _ms([by_seed[s].get("mask_density_at_switch") for s in seeds])
        r["viseme_ceiling_wer"] = first.get("viseme_ceiling_wer")
        rows[name] = r
    return {"runs": rows, "verdicts": _verdicts(runs, baseline, learned)}


def _iv(m: dict) -> str:
    if not m or m.get("mean") is None:
        return "n/a"
    return f"{m['mean']:.3f} +- {m['std']:.3f} (n={m['n']}{', ' + str(m['missing']) + ' not reached' if m.get('missing') else ''})"


def judgements(runs: dict[str, dict[int, dict]], baseline: str = "dense", learned: float = 0.9) -> list[dict]:
    """The figures issue 15 judges, per seed, with their targets: the one list that both this report and the
    benchmark suite (``benchmarks/suites/msrs.py``, through ``ctx.record_seeds``) judge, so they cannot
    disagree. Each item: ``variant``, ``metric``, ``label``, ``values`` {seed: v}, ``baseline`` {seed: v} or
    None (paired by seed), ``target`` or None (a figure without a verdict), ``unit``, ``not_judged`` (a reason,
    or None). Comparisons against the baseline are not judged while the baseline has not learned (final val
    WER >= ``learned``); a switch forced by the window is named, not judged. Time to the baseline's final val WER
    is judged in steps (MSRS computes per step what dense does; CPU seconds, in the report's table, also measure
    the machine's load while each run trained). A seed that never reaches it counts its whole run's steps
    (``never_reached`` seeds: a lower bound of what it would need), which can make a "missed" only kinder; a
    "met" resting on such a bound is not judged."""
    out: list[dict] = []
    base = runs.get(baseline)

    def item(variant, metric, label, values, target=None, base_values=None, unit="", not_judged=None):
        out.append({"variant": variant, "metric": metric, "label": label, "values": values, "baseline": base_values,
                    "target": target, "unit": unit, "not_judged": not_judged})

    untrained = None
    if base:
        fv = statistics.fmean(r["val"][-1]["wer"] for r in base.values())
        if fv >= learned:
            untrained = f"{baseline} has not learned (final val WER {fv:.2f} >= {learned})"
    for run, by in runs.items():
        sd = sorted(by)
        item(run, "test_wer_clean", f"{run}: test WER (clean)" if run != baseline else
             f"{baseline} converges with test WER <= 0.40", {k: by[k]["test_wer"]["clean"] for k in sd},
             target="<= 0.4" if run == baseline else None)
        if base and run.startswith("msrs"):
            # judged in steps, not CPU seconds: MSRS computes what dense computes per step (its masks are applied
            # to dense tensors), and CPU seconds also measure how loaded the machine was while each run trained
            reach, bsteps, never = {}, {}, 0
            for k in sd:
                if k not in base:
                    continue
                st, _, bst, _ = _to_baseline_final(by[k], base[k])
                if st is None:           # censored: it needs more than its whole run; count the run (a lower bound)
                    never += 1
                    st = by[k]["steps"]
                reach[k], bsteps[k] = st, bst
            if reach:
                reason = untrained
                if never and not reason:
                    # a lower bound can only make a "met" too kind; "missed" / "within noise" stand (or are kind)
                    if judge_seeds(list(reach.values()), list(bsteps.values()), "<= 0.5")["verdict"] == "met":
                        reason = f"never reached in {never} seed(s) (counted at the whole run, a lower bound)"
                item(run, "steps_to_dense_final_val_wer", f"{run}: steps to {baseline}'s final val WER <= 0.5x "
                     f"{baseline} (paired ratio; a seed that never reaches it counts its whole run)", reach, "<= 0.5",
                     bsteps, "steps", reason)
                out[-1]["never_reached"] = never
        if by[sd[0]].get("switch_step") is not None:
            frac = {k: (by[k]["stable_step"] or by[k]["steps"]) / by[k]["steps"] for k in sd}
            forced = sum(bool(by[k].get("switch_forced")) for k in sd)
            item(run, "stable_step_fraction", f"{run}: mask stable within the first 20 % without forcing", frac,
                 "<= 0.2", not_judged=f"switch forced in {forced} seed(s)" if forced else None)
    if "msrs_d" in runs and "msrs_s" in runs:
        d, s = runs["msrs_d"], runs["msrs_s"]
        sd = sorted(set(d) & set(s))
        if sd:
            item("msrs_s", "sparsity", "MSRS-S sparsity >= 50 %", {k: 1 - s[k]["density"] for k in sd}, ">= 0.5")
            # one-sided: the sparse model may cost at most 10 % relative WER (a better MSRS-S meets it too)
            item("msrs_s", "test_wer_vs_msrs_d", "MSRS-S test WER at most 10 % above MSRS-D's (paired ratio <= 1.1)",
                 {k: s[k]["test_wer"]["clean"] for k in sd}, "<= 1.1", {k: d[k]["test_wer"]["clean"] for k in sd},
                 not_judged=untrained)
    a = runs.get("asr_dense")
    if a and base:
        sd = sorted(set(a) & set(base))
        for snr in ("0", "-5"):
            if sd and all(snr in base[k]["test_wer"] and snr in a[k]["test_wer"] for k in sd):
                item(baseline, f"avsr_test_wer_{snr}dB_vs_asr", f"AVSR beats ASR at {snr} dB babble (test WER "
                     "AVSR / ASR < 1, paired ratio)", {k: base[k]["test_wer"][snr] for k in sd}, "< 1",
                     {k: a[k]["test_wer"][snr] for k in sd}, not_judged=untrained)
    return out


def _verdicts(runs: dict, baseline: str, learned: float) -> list[dict]:
    """Each judged item of :func:`judgements` with its interval and verdict (``core.metrics.stats``)."""
    out = []
    for j in judgements(runs, baseline, learned):
        if j["target"] is None:
            continue
        seeds = sorted(j["values"])
        vals = [j["values"][k] for k in seeds]
        base = None if j["baseline"] is None else [j["baseline"][k] for k in seeds]
        r = judge_seeds(vals, base, j["target"])
        verdict = f"not judged ({j['not_judged']})" if j["not_judged"] else r["verdict"]
        if len(seeds) < MIN_SEEDS and not j["not_judged"]:
            verdict += f" ({len(seeds)} seed{'s' if len(seeds) > 1 else ''}: indicative)"
        lo, hi = r["interval"]
        out.append({"target": j["label"], "variant": j["variant"], "metric": j["metric"],
                    "value": f"{r['compared']:.3f} [{lo:.3f}, {hi:.3f}] ({r['judged_on']}, n={len(seeds)}, "
                             f"target {j['target']}"
                             + (f"; never reached in {j['never_reached']}" if j.get("never_reached") else "") + ")",
                    "compared": r["compared"], "interval": [lo, hi], "judged_on": r["judged_on"], "n": len(seeds),
                    "verdict": verdict})
    return out


def _plots(runs: dict, out: Path) -> None:
    from .plots import plot_curve, plot_grad_norms_grid, plot_mask_history

    curves = {f"{n} s{s}": [{"time": v["train_cpu_s"], **v} for v in r["val"]]
              for n, by in runs.items() for s, r in sorted(by.items())}
    plot_curve(curves, out / "val_wer_vs_cpu.png", title="val WER vs training CPU seconds")
    grads = {n: by[min(by)]["grad_norms"] for n, by in runs.items() if by[min(by)].get("grad_norms")}
    if grads:
        plot_grad_norms_grid(grads, out / "grad_norms.png", title="per-layer-group gradient norms (first seed)")
    for n, by in runs.items():
        r = by[min(by)]
        if r.get("mask_history"):
            plot_mask_history(r["mask_history"], r.get("stable_step"), r.get("switch_step"),
                              out / f"mask_distance_{n}.png")


def _snr_key(snr: str) -> float:
    """Clean first, then from the highest SNR down."""
    return float("-inf") if snr == "clean" else -float(snr)


def snr_table(res: dict, tset: str = "test") -> list[str]:
    """Markdown rows of ``tset`` WER (mean +- sd over seeds) per run and SNR of babble; empty when every run was
    tested on clean audio only (VSR)."""
    snrs = sorted({k.split("@", 1)[1] for r in res["runs"].values() for k in r if k.startswith(f"{tset}_wer@")},
                  key=_snr_key)
    if snrs in ([], ["clean"]):
        return []
    head = " | ".join("clean" if s == "clean" else f"{s} dB" for s in snrs)
    lines = [f"{tset} WER by SNR of babble (mean +- sd over seeds):", "", f"| run | {head} |",
             "|" + "---|" * (len(snrs) + 1)]
    for n, r in res["runs"].items():
        lines.append(f"| {n} | " + " | ".join(_iv(r.get(f"{tset}_wer@{s}")) for s in snrs) + " |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="the comparison set's --out folder")
    ap.add_argument("--baseline", default="dense")
    ap.add_argument("--learned", type=float, default=0.9, help="baseline final val WER below which it has learned")
    a = ap.parse_args(argv)
    runs = load_runs(a.out)
    res = summarize(runs, a.baseline, a.learned)
    lines = ["| run | seeds | test WER clean | minus dense (paired) | test_unseen WER clean | final val WER | CPU s | "
             "CPU s to dense's final val WER (ratio) | steps to it (ratio) | stable at (fraction) | forced | density |",
             "|" + "---|" * 12]
    for n, r in res["runs"].items():
        lines.append(f"| {n} | {r['seeds']} | {_iv(r.get('test_wer@clean'))} | {_iv(r.get('test_wer_minus_baseline'))} | "
                     f"{_iv(r.get('test_unseen_wer@clean'))} | "
                     f"{_iv(r['final_val_wer'])} | {_iv(r['train_cpu_s'])} | {_iv(r.get('cpu_ratio_to_baseline'))} | "
                     f"{_iv(r.get('steps_ratio_to_baseline'))} | "
                     f"{_iv(r.get('stable_fraction'))} | {r.get('forced', '-')} | {_iv(r['density'])} |")
    lines.append("")
    lines += snr_table(res) + snr_table(res, "test_unseen")
    lines += ["| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {v['target']} | {v['value']} | {v['verdict']} |" for v in res["verdicts"]]
    text = "\n".join(lines) + "\n"
    (a.out / "report.md").write_text(text)
    (a.out / "report.json").write_text(json.dumps(res, indent=1))
    _plots(runs, a.out)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
