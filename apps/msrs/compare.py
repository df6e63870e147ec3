"""Method comparison on one corpus: run (mode, method) pairs and score them against the issue's targets.

    python -m apps.msrs.compare run --out DIR --runs vsr:dense,vsr:msrs_s,... [-- hydra overrides ...]
    python -m apps.msrs.compare report --out DIR          # DIR/summary.json, DIR/summary.md, combined plots

``static``/``set``/``rigl`` runs use MSRS-S's final density when ``DIR/<mode>-msrs_s/results.json`` exists.
``analyze(results)`` is shared with ``benchmarks/suites/msrs.py``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

__all__ = ["load_config", "run_one", "analyze", "time_to_reach", "main"]

CONFIGS = str(Path(__file__).parent / "configs")


def load_config(overrides: list[str]) -> DictConfig:
    """The composed ``train.yaml`` with ``overrides`` (as on the command line)."""
    with initialize_config_dir(config_dir=CONFIGS, version_base=None):
        return compose("train", overrides=list(overrides))


def run_one(out: Path, mode: str, method: str, overrides: list[str]) -> dict:
    from .recipe import Recipe

    extra = []
    if method in ("static", "set", "rigl"):
        ref = out / f"{mode}-msrs_s" / "results.json"
        if ref.is_file():
            extra.append(f"sparse.density={json.loads(ref.read_text())['density']:.4f}")
    cfg = load_config([*overrides, f"mode={mode}", f"method={method}", f"out_dir={out}/{mode}-{method}", *extra])
    return Recipe(cfg).run()


def time_to_reach(val: list[dict], target: float, key: str = "wer") -> tuple[int | None, float | None]:
    """(steps, training seconds) of the first validation point with ``key`` <= target, else (None, None)."""
    for p in val:
        if p[key] <= target + 1e-12:
            return p["step"], p["time"]
    return None, None


def analyze(results: dict[tuple[str, str], dict]) -> list[dict]:
    """Rows ``{mode, method, metric, value, baseline, target, unit}`` for the issue's targets.

    Per mode with a dense run: steps and seconds each method needs to reach dense's final val WER (and CER),
    the time ratio to dense (MSRS target <= 0.5), final test WER; MSRS: stabilization step as a fraction of
    training (<= 0.2); MSRS-S: sparsity (>= 0.5) and test WER relative to MSRS-D (within 10%);
    AVSR vs ASR test WER at SNR <= 0 dB (ratio < 1).
    """
    rows = []

    def add(mode, method, metric, value, unit="", baseline=None, target=None):
        rows.append(dict(mode=mode, method=method, metric=metric, value=value, unit=unit, baseline=baseline,
                         target=target))

    for mode in sorted({m for m, _ in results}):
        dense = results.get((mode, "dense"))
        for (m, method), r in sorted(results.items()):
            if m != mode:
                continue
            add(mode, method, "test_wer_clean", r["test_wer"].get("clean"))
            add(mode, method, "test_cer_clean", r.get("test_cer", {}).get("clean"))
            add(mode, method, "train_time", r["train_time_s"], "s")
            if dense is not None and dense["val"]:
                for key in ("wer", "cer"):
                    goal = dense["val"][-1][key]
                    steps, secs = time_to_reach(r["val"], goal, key)
                    _, dsecs = time_to_reach(dense["val"], goal, key)
                    add(mode, method, f"steps_to_dense_val_{key}", steps, "steps")
                    tgt = "<= 0.5" if method.startswith("msrs") else None
                    add(mode, method, f"time_to_dense_val_{key}", secs, "s", baseline=dsecs, target=tgt)
            if method.startswith("msrs"):
                total = r["steps"]
                st = r.get("stable_step")
                add(mode, method, "stable_step_fraction", None if st is None else st / total, "", target="<= 0.2")
                add(mode, method, "switch_step", r.get("switch_step"), "steps")
                add(mode, method, "switch_forced", float(bool(r.get("switch_forced"))))
            if "density" in r:
                add(mode, method, "sparsity", 1.0 - r["density"], "", target=">= 0.5" if method == "msrs_s" else None)
        d, s = results.get((mode, "msrs_d")), results.get((mode, "msrs_s"))
        if d and s:
            add(mode, "msrs_s", "test_wer_vs_msrs_d", s["test_wer"]["clean"], baseline=d["test_wer"]["clean"],
                target="within 10%")
    asr, avsr = results.get(("asr", "dense")), results.get(("avsr", "dense"))
    if asr and avsr:
        for snr, w in avsr["test_wer"].items():
            if snr != "clean" and float(snr) <= 0 and snr in asr["test_wer"]:
                add("avsr", "dense", f"test_wer_{snr}dB_vs_asr", w, baseline=asr["test_wer"][snr], target="< 1")
                add("avsr", "dense", f"test_cer_{snr}dB_vs_asr", avsr["test_cer"][snr],
                    baseline=asr["test_cer"][snr], target="< 1")
    return rows


def _load(out: Path) -> dict[tuple[str, str], dict]:
    res = {}
    for f in sorted(out.glob("*/results.json")):
        r = json.loads(f.read_text())
        res[(r["mode"], r["method"])] = r
    return res


def _met(row) -> str:
    t, v, b = row["target"], row["value"], row["baseline"]
    if t is None:
        return ""
    if v is None:
        return "miss (not reached)"
    op, thr = t.split()
    if op == "within":
        ok = b not in (None, 0) and abs(v / b - 1) <= float(thr.rstrip("%")) / 100
    else:
        q = v / b if b not in (None,) else v
        if b == 0:
            return "n/a (baseline 0)"
        ok = {"<=": q <= float(thr), "<": q < float(thr), ">=": q >= float(thr), ">": q > float(thr)}[op]
    return "met" if ok else "miss"


def report(out: Path) -> list[dict]:
    from .plots import plot_curve, plot_grad_norms_grid

    results = _load(out)
    rows = analyze(results)
    for r in rows:
        r["verdict"] = _met(r)
    (out / "summary.json").write_text(json.dumps(rows, indent=1))
    lines = ["| mode | method | metric | value | baseline | target | verdict |", "|---|---|---|---|---|---|---|"]
    fmt = lambda x: "-" if x is None else (f"{x:.4g}" if isinstance(x, float) else str(x))  # noqa: E731
    for r in rows:
        lines.append(f"| {r['mode']} | {r['method']} | {r['metric']} | {fmt(r['value'])} | {fmt(r['baseline'])} | "
                     f"{r['target'] or ''} | {r['verdict']} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    for mode in sorted({m for m, _ in results}):
        curves = {meth: r["val"] for (m, meth), r in sorted(results.items()) if m == mode}
        plot_curve(curves, out / f"{mode}_val_wer_vs_time.png", title=f"{mode}: val WER vs training time")
        plot_curve(curves, out / f"{mode}_val_cer_vs_time.png", title=f"{mode}: val CER vs training time", key="cer")
        plot_grad_norms_grid({meth: r["grad_norms"] for (m, meth), r in sorted(results.items()) if m == mode},
                             out / f"{mode}_grad_norms.png", title=f"{mode}: per-layer gradient norms")
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=("run", "report"))
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--runs", default="", help="comma-separated mode:method pairs")
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    a = ap.parse_args(argv)
    a.overrides = overrides
    if a.cmd == "run":
        for pair in filter(None, a.runs.split(",")):
            mode, method = pair.split(":")
            run_one(a.out, mode, method, a.overrides)
    else:
        for r in report(a.out):
            print(r)


if __name__ == "__main__":
    main()
