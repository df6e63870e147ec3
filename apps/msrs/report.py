"""Read a comparison set's runs (``core.training.experiments`` writes ``<out>/<run>/seed<k>/summary.json``) and
give the issue's figures with their spread over seeds.

``python -m apps.msrs.report OUT [--baseline dense]`` writes ``OUT/report.md`` and ``OUT/report.json`` and the
plots ``OUT/val_wer_vs_cpu.png``, ``OUT/grad_norms.png``, ``OUT/mask_distance.png``. Per run (mean +- sample
std over seeds, n = seeds): test WER per test set and SNR, final val WER, training CPU seconds, steps and CPU
seconds to reach the baseline's final val WER of the *same seed* (paired ratio to the baseline), the MSRS
switch (stable step as a fraction of training, forced or not, density at the switch), final density.
Verdicts (targets of issue 15) are printed with the interval they rest on; "not judged" when the baseline has
not learned (final val WER >= ``--learned``).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

__all__ = ["load_runs", "steps_to_reach", "summarize", "main"]


def load_runs(out: Path) -> dict[str, dict[int, dict]]:
    """``{run: {seed: summary}}`` of every finished run under ``out``."""
    runs: dict[str, dict[int, dict]] = {}
    for f in sorted(Path(out).glob("*/seed*/summary.json")):
        s = json.loads(f.read_text())
        if s.get("status") != "finished":
            continue
        runs.setdefault(f.parent.parent.name, {})[int(f.parent.name[4:])] = s
    if not runs:
        raise FileNotFoundError(f"no finished runs (<run>/seed<k>/summary.json) under {out}")
    return runs


def steps_to_reach(val: list[dict], goal: float, key: str = "wer") -> tuple[int | None, float | None]:
    """(step, training CPU seconds) of the first validation point with ``key <= goal``; (None, None) if never."""
    for p in val:
        if p[key] <= goal + 1e-12:
            return p["step"], p["train_cpu_s"]
    return None, None


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
            steps, cpu, ratio = [], [], []
            for s in seeds:
                if s not in base:
                    continue
                goal = base[s]["val"][-1]["wer"]
                st, c = steps_to_reach(by_seed[s]["val"], goal)
                _, bc = steps_to_reach(base[s]["val"], goal)
                steps.append(st)
                cpu.append(c)
                ratio.append(None if c is None or not bc else c / bc)
            r["steps_to_baseline_final_val_wer"] = _ms(steps)
            r["cpu_s_to_baseline_final_val_wer"] = _ms(cpu)
            r["cpu_ratio_to_baseline"] = _ms(ratio)
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
    return {"runs": rows, "verdicts": _verdicts(rows, baseline, learned)}


def _iv(m: dict) -> str:
    if not m or m.get("mean") is None:
        return "n/a"
    return f"{m['mean']:.3f} +- {m['std']:.3f} (n={m['n']}{', ' + str(m['missing']) + ' not reached' if m.get('missing') else ''})"


_EPS = 1e-9   # figures such as 80/400 are compared with their exact thresholds


def _verdicts(rows: dict, baseline: str, learned: float) -> list[dict]:
    out = []
    b = rows.get(baseline)
    if b is None:
        return out
    base_learned = b["final_val_wer"]["mean"] is not None and b["final_val_wer"]["mean"] < learned
    tw = b.get("test_wer@clean")
    out.append({"target": "dense converges with test WER <= 0.40", "value": _iv(tw),
                "verdict": "met" if tw and tw["mean"] is not None and tw["mean"] + tw["std"] <= 0.40 + _EPS else
                ("miss" if tw and tw["mean"] is not None and tw["mean"] - tw["std"] > 0.40 else "inside the spread")})
    for m in ("msrs_d", "msrs_s"):
        r = rows.get(m)
        if r is None:
            continue
        q = r.get("cpu_ratio_to_baseline", {})
        if not base_learned:
            v = "not judged (baseline has not learned)"
        elif q.get("missing"):
            v = "miss (baseline's final val WER not reached in some seeds)"
        elif q.get("mean") is None:
            v = "n/a"
        else:
            v = "met" if q["mean"] + q["std"] <= 0.5 + _EPS else (
                "miss" if q["mean"] - q["std"] > 0.5 + _EPS else "inside the spread")
        out.append({"target": f"{m}: CPU s to dense's final val WER <= 0.5x dense (paired)", "value": _iv(q), "verdict": v})
        sf = r.get("stable_fraction", {})
        forced = r.get("forced", [])
        v = "miss (never stable: forced)" if sf.get("mean") is None else (
            "met" if sf["mean"] + sf["std"] <= 0.2 + _EPS and not any(forced) and not sf.get("missing") else "miss")
        out.append({"target": f"{m}: mask stable within the first 20 % without forcing", "value":
                    f"{_iv(sf)}; forced in {sum(forced)}/{len(forced)}", "verdict": v})
    a = rows.get("asr_dense")
    for snr in ("0", "-5"):             # AVSR (the baseline run) against ASR dense, paired by seed, in babble noise
        if not a or snr not in b.get("test_wer_by_snr_seed", {}) or snr not in a.get("test_wer_by_snr_seed", {}):
            continue
        av, au = b["test_wer_by_snr_seed"][snr], a["test_wer_by_snr_seed"][snr]
        common = [k for k in sorted(set(av) & set(au)) if av[k] is not None and au[k] is not None]
        if not common:
            continue
        diff = _ms([av[k] - au[k] for k in common])
        v = ("met" if diff["mean"] + diff["std"] < 0 else "miss" if diff["mean"] - diff["std"] >= 0
             else "inside the spread")
        if not base_learned:
            v = "not judged (baseline has not learned)"
        out.append({"target": f"AVSR beats ASR at {snr} dB (test WER AVSR - ASR, paired)",
                    "value": f"{_iv(diff)}; AVSR {_iv(b.get(f'test_wer@{snr}'))}, ASR {_iv(a.get(f'test_wer@{snr}'))}",
                    "verdict": v + (" (one seed: indicative)" if len(common) == 1 else "")})
    d, s = rows.get("msrs_d"), rows.get("msrs_s")
    if d and s:
        common = sorted(set(d["test_wer_by_seed"]) & set(s["test_wer_by_seed"]))
        common = [k for k in common if d["test_wer_by_seed"][k] and s["test_wer_by_seed"][k] is not None]
        if common:
            sp = _ms([1 - s["density_by_seed"][k] for k in common])
            rel = _ms([s["test_wer_by_seed"][k] / d["test_wer_by_seed"][k] - 1 for k in common])
            ok = sp["mean"] >= 0.5 and rel["mean"] + rel["std"] <= 0.10 + _EPS
            out.append({"target": "MSRS-S at >= 50 % sparsity within 10 % relative WER of MSRS-D (paired)",
                        "value": f"sparsity {_iv(sp)}; relative WER {_iv(rel)} on seeds {common}",
                        "verdict": ("met" if ok else "miss") + (" (one seed: indicative)" if len(common) == 1 else "")})
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="the comparison set's --out folder")
    ap.add_argument("--baseline", default="dense")
    ap.add_argument("--learned", type=float, default=0.9, help="baseline final val WER below which it has learned")
    a = ap.parse_args(argv)
    runs = load_runs(a.out)
    res = summarize(runs, a.baseline, a.learned)
    lines = ["| run | seeds | test WER clean | minus dense (paired) | test_unseen WER clean | final val WER | CPU s | "
             "CPU s to dense's final val WER (ratio) | stable at (fraction) | forced | density |", "|" + "---|" * 11]
    for n, r in res["runs"].items():
        lines.append(f"| {n} | {r['seeds']} | {_iv(r.get('test_wer@clean'))} | {_iv(r.get('test_wer_minus_baseline'))} | "
                     f"{_iv(r.get('test_unseen_wer@clean'))} | "
                     f"{_iv(r['final_val_wer'])} | {_iv(r['train_cpu_s'])} | {_iv(r.get('cpu_ratio_to_baseline'))} | "
                     f"{_iv(r.get('stable_fraction'))} | {r.get('forced', '-')} | {_iv(r['density'])} |")
    lines += ["", "| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {v['target']} | {v['value']} | {v['verdict']} |" for v in res["verdicts"]]
    text = "\n".join(lines) + "\n"
    (a.out / "report.md").write_text(text)
    (a.out / "report.json").write_text(json.dumps(res, indent=1))
    _plots(runs, a.out)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
