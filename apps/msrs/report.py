"""Read a comparison set's runs (``core.training.experiments`` writes ``<out>/<run>/seed<k>/summary.json``) and
give the issue's figures with their 95 % intervals over seeds (``core.metrics.stats``).

``python -m apps.msrs.report OUT [--baseline dense]`` writes ``OUT/report.md`` and ``OUT/report.json`` (atomically)
and the plots ``OUT/val_wer.png`` (val WER against steps, mean over each run's seeds), ``OUT/grad_norms.png``, and for
each MSRS run ``mask_timeline_<run>.png`` (val WER, hard-mask density and mask change on one step axis, first
seed), ``mask_histogram_<run>.png`` (soft mask values and logits at the switch, first seed) and
``layer_density_<run>.png`` (per-layer density of the mask at the switch, mean over seeds with min-max bars,
against ERK at the same overall density).

Per run (mean and 95 % t interval over seeds, n = seeds): test WER per test set and SNR, paired difference to
the baseline, final val WER, training CPU seconds, steps to reach the baseline's final val WER of the *same seed*
as a paired ratio to the baseline's own steps (a seed that never reaches it counts its whole run: a lower
bound), the MSRS mask phase (start step, switch step, forced, density at the switch), final density.
Verdicts: :func:`judgements` lists the per-seed figures and their targets; ``core.metrics.stats.judge_seeds``
judges each on the 95 % t interval of the mean (paired by seed where there is a baseline), exactly as the
benchmark suite does with the same list; "not judged" when the baseline has not learned (final val WER >=
``--learned``) or when a switch was forced.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from core.metrics.stats import MIN_SEEDS, judge_seeds, mean_interval
from core.training.atomic import atomic_write_json, atomic_write_text
from core.training.experiments import finished_runs, first_at_or_below

__all__ = ["load_runs", "steps_to_reach", "summarize", "judgements", "main", "PAIRS"]

# comparisons at equal density and equal allocation rule: (candidate, baseline, what differs)
PAIRS = (("msrs_s", "static", "selection: learned vs random, at MSRS-S's learned per-layer densities"),
         ("msrs_s", "set", "selection: learned vs SET's prune-and-regrow, at MSRS-S's per-layer densities"),
         ("msrs_s", "rigl", "selection: learned vs RigL's prune-and-regrow, at MSRS-S's per-layer densities"),
         ("msrs_s_erk", "static_erk", "selection: learned vs random, at ERK allocation"),
         ("msrs_s", "msrs_s_erk", "allocation: the global L1's learned per-layer densities vs ERK (learned selection)"),
         ("static", "static_erk", "allocation: MSRS-S's per-layer densities vs ERK (random selection)"),
         ("msrs_d", "curriculum", "MSRS-D against the curriculum"))


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


def _iv(xs: list) -> dict:
    """Mean with its 95 % t interval over the values that exist (``core.metrics.stats.mean_interval``)."""
    v = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return {"mean": None, "lo": None, "hi": None, "n": 0, "missing": len(xs)}
    i = mean_interval(v)
    return {"mean": i.center, "lo": i.lo, "hi": i.hi, "n": i.n, "missing": len(xs) - len(v), "values": v}


def summarize(runs: dict[str, dict[int, dict]], baseline: str = "dense", learned: float = 0.9) -> dict:
    """Per-run figures (mean and 95 % interval over seeds) and the verdicts; see module docstring."""
    base = runs.get(baseline, {})
    rows: dict[str, dict] = {}
    for name, by_seed in runs.items():
        seeds = sorted(by_seed)
        r: dict = {"seeds": seeds}
        first = by_seed[seeds[0]]
        for tset in ("test", "test_unseen"):
            for snr in first.get(f"{tset}_wer", {}):
                r[f"{tset}_wer@{snr}"] = _iv([by_seed[s][f"{tset}_wer"].get(snr) for s in seeds])
        r["test_wer_by_seed"] = {s: by_seed[s].get("test_wer", {}).get("clean") for s in seeds}
        r["density_by_seed"] = {s: by_seed[s].get("density") for s in seeds}
        r["steps_by_seed"] = {s: by_seed[s].get("steps") for s in seeds}
        r["final_val_wer"] = _iv([by_seed[s]["val"][-1]["wer"] for s in seeds])
        r["train_cpu_s"] = _iv([by_seed[s]["train_cpu_s"] for s in seeds])
        r["density"] = _iv([by_seed[s].get("density") for s in seeds])
        if base:
            sratio, never = [], 0
            for s in seeds:
                if s not in base:
                    continue
                st, _, bst, _ = _to_baseline_final(by_seed[s], base[s])
                if st is None:
                    never += 1
                    st = by_seed[s]["steps"]
                sratio.append(None if not bst else st / bst)
            # steps do not depend on how loaded the machine was when each run trained (CPU seconds do)
            r["steps_ratio_to_baseline"] = _iv(sratio) | {"never_reached": never}
            r["test_wer_minus_baseline"] = _iv([by_seed[s]["test_wer"]["clean"] - base[s]["test_wer"]["clean"]
                                                for s in seeds if s in base and "clean" in by_seed[s].get("test_wer", {})])
        if first.get("switch_step") is not None or "stable_step" in first:
            tot = {s: by_seed[s]["steps"] for s in seeds}
            frac = lambda key: _iv([None if by_seed[s].get(key) is None else by_seed[s][key] / tot[s]  # noqa: E731
                                    for s in seeds])
            r["start_fraction"] = frac("mask_start_step")
            r["stable_fraction"] = frac("stable_step")
            r["switch_fraction"] = frac("switch_step")
            r["forced"] = [bool(by_seed[s].get("switch_forced")) for s in seeds]
            r["density_at_switch"] = _iv([by_seed[s].get("mask_density_at_switch") for s in seeds])
        r["viseme_ceiling_wer"] = first.get("viseme_ceiling_wer")
        rows[name] = r
    return {"runs": rows, "verdicts": _verdicts(runs, baseline, learned)}


def _fmt(m: dict | None, n_row: int | None = None) -> str:
    """``mean [lo, hi]``; one value has no interval (``x (n=1)``); ``(n=k)`` when fewer seeds entered than the row has
    (a paired figure over the seeds the baseline also has)."""
    if not m or m.get("mean") is None:
        return "n/a"
    s = f"{m['mean']:.3f} (n=1)" if m.get("n") == 1 else f"{m['mean']:.3f} [{m['lo']:.3f}, {m['hi']:.3f}]"
    extra = []
    if m.get("n") not in (None, 1) and n_row is not None and m["n"] < n_row:
        extra.append(f"n={m['n']}")
    if m.get("never_reached"):
        extra.append(f"{m['never_reached']} never")
    if m.get("missing"):
        extra.append(f"{m['missing']} n/a")
    return s + (f" ({', '.join(extra)})" if extra else "")


def judgements(runs: dict[str, dict[int, dict]], baseline: str = "dense", learned: float = 0.9) -> list[dict]:
    """The figures judged, per seed, with their targets: the one list that both this report and the benchmark
    suite (``benchmarks/suites/msrs.py``, through ``ctx.record_seeds``) judge, so they cannot disagree. Each item:
    ``variant``, ``metric``, ``label``, ``values`` {seed: v}, ``baseline`` {seed: v} or None (paired by seed),
    ``target`` or None (a figure without a verdict), ``unit``, ``not_judged`` (a reason, or None).

    * ``<baseline>`` converges: test WER <= 0.40;
    * each MSRS run: steps to the baseline's final val WER <= 0.5x the baseline's (the paper's ">= 2x less training
      time"; a seed that never reaches it counts its whole run, a lower bound that can only make "missed" kinder, and
      a "met" resting on it is not judged); the mask settles within the first 20 % without forcing;
    * MSRS-D test WER below the baseline's and below the curriculum's (paired ratio < 1);
    * each pair of ``PAIRS`` present: the candidate's test WER below the other's (paired ratio < 1) -- at equal
      density and equal allocation these tell selection and allocation apart;
    * MSRS-S sparsity >= 50 % and test WER at most 10 % above MSRS-D's (paired ratio <= 1.1);
    * AVSR (the baseline) beats ASR dense at 0 and -5 dB babble (paired ratio < 1).
    Comparisons with a baseline that has not learned (final val WER >= ``learned``) are not judged."""
    out: list[dict] = []
    base = runs.get(baseline)

    def item(variant, metric, label, values, target=None, base_values=None, unit="", not_judged=None):
        out.append({"variant": variant, "metric": metric, "label": label, "values": values, "baseline": base_values,
                    "target": target, "unit": unit, "not_judged": not_judged})

    def untrained(name):
        by = runs.get(name)
        if not by:
            return None
        fv = sum(r["val"][-1]["wer"] for r in by.values()) / len(by)
        return f"{name} has not learned (final val WER {fv:.2f} >= {learned})" if fv >= learned else None

    def clean(by, seeds):
        return {k: by[k]["test_wer"]["clean"] for k in seeds}

    base_untrained = untrained(baseline)
    for run, by in runs.items():
        sd = sorted(by)
        item(run, "test_wer_clean", f"{run}: test WER (clean)" if run != baseline else
             f"{baseline} converges with test WER <= 0.40", clean(by, sd), target="<= 0.4" if run == baseline else None)
        if base and run.startswith("msrs"):
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
                reason = base_untrained
                if never and not reason and judge_seeds(list(reach.values()), list(bsteps.values()),
                                                        "<= 0.5")["verdict"] == "met":
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
    d = runs.get("msrs_d")
    for other in (baseline, "curriculum"):
        o = runs.get(other)
        sd = sorted(set(d or {}) & set(o or {}))
        if d and o and sd and other != "msrs_d":
            item("msrs_d", f"test_wer_vs_{other}", f"MSRS-D test WER below {other}'s (paired ratio < 1)",
                 clean(d, sd), "< 1", clean(o, sd), not_judged=base_untrained or untrained(other))
    for cand, other, what in PAIRS:
        if other == "curriculum":
            continue
        c, o = runs.get(cand), runs.get(other)
        sd = sorted(set(c or {}) & set(o or {}))
        if c and o and sd:
            item(cand, f"test_wer_vs_{other}", f"{cand} test WER below {other}'s (paired ratio < 1; {what})",
                 clean(c, sd), "< 1", clean(o, sd), not_judged=untrained(other))
    s = runs.get("msrs_s")
    if s:                                   # every MSRS-S seed (it needs no MSRS-D run of the same seed)
        item("msrs_s", "sparsity", "MSRS-S sparsity >= 50 %", {k: 1 - s[k]["density"] for k in sorted(s)}, ">= 0.5")
    if d and s:
        sd = sorted(set(d) & set(s))
        if sd:
            # one-sided: the sparse model may cost at most 10 % relative WER (a better MSRS-S meets it too)
            item("msrs_s", "test_wer_vs_msrs_d", "MSRS-S test WER at most 10 % above MSRS-D's (paired ratio <= 1.1)",
                 clean(s, sd), "<= 1.1", clean(d, sd), not_judged=base_untrained)
    a = runs.get("asr_dense")
    if a and base:
        sd = sorted(set(a) & set(base))
        for snr in ("0", "-5"):
            if sd and all(snr in base[k]["test_wer"] and snr in a[k]["test_wer"] for k in sd):
                item(baseline, f"avsr_test_wer_{snr}dB_vs_asr", f"AVSR beats ASR at {snr} dB babble (test WER "
                     "AVSR / ASR < 1, paired ratio)", {k: base[k]["test_wer"][snr] for k in sd}, "< 1",
                     {k: a[k]["test_wer"][snr] for k in sd}, not_judged=base_untrained)
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
        better = None
        if base is not None:
            better = sum(v < b for v, b in zip(vals, base))
        lo, hi = r["interval"]
        out.append({"target": j["label"], "variant": j["variant"], "metric": j["metric"],
                    "value": f"{r['compared']:.3f} [{lo:.3f}, {hi:.3f}] ({r['judged_on']}, n={len(seeds)}, "
                             f"target {j['target']}"
                             + (f"; lower in {better} of {len(seeds)}" if better is not None else "")
                             + (f"; never reached in {j['never_reached']}" if j.get("never_reached") else "") + ")",
                    "compared": r["compared"], "interval": [lo, hi], "judged_on": r["judged_on"], "n": len(seeds),
                    "verdict": verdict})
    return out


def layer_density_summary(by_seed: dict[int, dict]) -> tuple[dict, dict] | None:
    """Mean per-layer density of the mask at the switch over seeds (with ERK at each seed's overall density,
    averaged) and the min-max spread: ``({name: {density, erk, numel}}, {name: (lo, hi)})``."""
    recs = [r["mask_layers"] for r in by_seed.values() if r.get("mask_layers")]
    if not recs:
        return None
    names = list(recs[0])
    mean = {n: {"density": sum(r[n]["density"] for r in recs) / len(recs),
                "erk": sum(r[n]["erk"] for r in recs) / len(recs), "numel": recs[0][n]["numel"]} for n in names}
    spread = {n: (min(r[n]["density"] for r in recs), max(r[n]["density"] for r in recs)) for n in names}
    return mean, spread


def _plots(runs: dict, out: Path) -> None:
    from .plots import (plot_curve, plot_grad_norms_grid, plot_layer_density, plot_mask_histogram,
                        plot_mask_timeline)

    curves = {}
    for n, by in runs.items():          # one line per run: the mean over its seeds at each evaluation step
        at: dict[int, list[float]] = {}
        for r in by.values():
            for v in r["val"]:
                at.setdefault(v["step"], []).append(v["wer"])
        curves[f"{n} ({len(by)} seed{'s' if len(by) > 1 else ''})"] = [
            {"time": st, "wer": sum(w) / len(w)} for st, w in sorted(at.items()) if len(w) == len(by)]
    plot_curve(curves, out / "val_wer.png", title="val WER, mean over seeds", xlabel="training steps")
    grads = {n: by[min(by)]["grad_norms"] for n, by in runs.items() if by[min(by)].get("grad_norms")}
    if grads:
        plot_grad_norms_grid(grads, out / "grad_norms.png", title="per-layer-group gradient norms (first seed)")
    for n, by in runs.items():
        r = by[min(by)]
        if r.get("mask_history") is not None and r.get("switch_step") is not None:
            plot_mask_timeline(r, out / f"mask_timeline_{n}.png", title=f"{n}, seed {min(by)}")
        if r.get("mask_histograms"):
            plot_mask_histogram(r["mask_histograms"], out / f"mask_histogram_{n}.png",
                                title=f"{n}, seed {min(by)}: mask at the switch (step {r.get('switch_step')})")
        ld = layer_density_summary(by)
        if ld:
            plot_layer_density(ld[0], out / f"layer_density_{n}.png", spread=ld[1],
                               title=f"{n}: per-layer density at the switch (mean over {len(by)} "
                                     f"seed{'s' if len(by) > 1 else ''}, min-max)")


def _snr_key(snr: str) -> float:
    """Clean first, then from the highest SNR down."""
    return float("-inf") if snr == "clean" else -float(snr)


def snr_table(res: dict, tset: str = "test") -> list[str]:
    """Markdown rows of ``tset`` WER (mean [95 % interval] over seeds) per run and SNR of babble; empty when every
    run was tested on clean audio only (VSR)."""
    snrs = sorted({k.split("@", 1)[1] for r in res["runs"].values() for k in r if k.startswith(f"{tset}_wer@")},
                  key=_snr_key)
    if snrs in ([], ["clean"]):
        return []
    head = " | ".join("clean" if s == "clean" else f"{s} dB" for s in snrs)
    lines = [f"{tset} WER by SNR of babble (mean [95 % interval] over seeds):", "", f"| run | {head} |",
             "|" + "---|" * (len(snrs) + 1)]
    for n, r in res["runs"].items():
        lines.append(f"| {n} | " + " | ".join(_fmt(r.get(f"{tset}_wer@{s}")) for s in snrs) + " |")
    return lines + [""]


def render(res: dict) -> str:
    """report.md's text: the run table, test WER per seed, the per-SNR tables, the verdicts."""
    lines = ["Mean [95 % t interval] over seeds (one seed: no interval, `(n=1)`); ratios and differences are paired by "
             "seed, over the seeds the baseline also has (`n=k` when fewer than the row's). Steps to dense's final val "
             "WER: a seed that never reaches it counts its whole run (a lower bound). Training CPU s: the loop's "
             "process time (forward, backward, optimizer, mask bookkeeping; no evaluation).", "",
             "| run | seeds | steps | test WER clean | minus dense (paired) | test_unseen WER clean | final val WER | "
             "steps to dense's final val WER (ratio) | training CPU s | mask starts (fraction) | switch (fraction) | "
             "forced | density at switch | density |", "|" + "---|" * 14]
    for n, r in res["runs"].items():
        k = len(r["seeds"])
        steps = sorted(set(r.get("steps_by_seed", {}).values()))
        lines.append(f"| {n} | {k}: {r['seeds']} | {'/'.join(map(str, steps)) or 'n/a'} | "
                     f"{_fmt(r.get('test_wer@clean'), k)} | "
                     f"{_fmt(r.get('test_wer_minus_baseline'), k)} | {_fmt(r.get('test_unseen_wer@clean'), k)} | "
                     f"{_fmt(r['final_val_wer'], k)} | {_fmt(r.get('steps_ratio_to_baseline'), k)} | "
                     f"{_fmt(r.get('train_cpu_s'), k)} | {_fmt(r.get('start_fraction'), k)} | "
                     f"{_fmt(r.get('switch_fraction'), k)} | {sum(r['forced']) if 'forced' in r else '-'} | "
                     f"{_fmt(r.get('density_at_switch'), k)} | {_fmt(r['density'], k)} |")
    lines.append("")
    seeds = sorted({s for r in res["runs"].values() for s in r["test_wer_by_seed"]}, key=int)
    lines += ["test WER (clean) per seed:", "", "| run | " + " | ".join(f"seed {s}" for s in seeds) + " |",
              "|" + "---|" * (len(seeds) + 1)]
    for n, r in res["runs"].items():
        by = {int(k): v for k, v in r["test_wer_by_seed"].items()}
        lines.append(f"| {n} | " + " | ".join("-" if by.get(int(s)) is None else f"{by[int(s)]:.3f}" for s in seeds)
                     + " |")
    lines.append("")
    lines += snr_table(res) + snr_table(res, "test_unseen")
    lines += ["| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {v['target']} | {v['value']} | {v['verdict']} |" for v in res["verdicts"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="the comparison set's --out folder")
    ap.add_argument("--baseline", default="dense")
    ap.add_argument("--learned", type=float, default=0.9, help="baseline final val WER below which it has learned")
    a = ap.parse_args(argv)
    runs = load_runs(a.out)
    res = summarize(runs, a.baseline, a.learned)
    text = render(res)
    atomic_write_text(a.out / "report.md", text)
    atomic_write_json(a.out / "report.json", res)
    _plots(runs, a.out)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
