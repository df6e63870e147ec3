"""Run a comparison set (``configs/sets/*.yaml``) in one process, and summarise it against full data.

    python -m apps.asr_ddp.experiments apps/asr_ddp/configs/sets/digits.yaml --out outputs/asr_ddp/digits \
        [--seeds 0,1,2] [--only full,dynamic_random0.7] [hydra overrides for every run]

Same set files, folders and ``summaries.jsonl`` as the shared driver (``python -m core.training.experiments``),
which starts one process per run; this one runs them in-process so that the corpus' features are extracted
once per invocation (a few CPU minutes saved per run on a 2-core machine). Each (run, seed) trains through the
normal recipe into ``<out>/<run>/seed<k>``; a finished run folder is not trained again (its summary is read
back), a killed one resumes from its newest checkpoint. ``<out>/comparison.json`` holds the per-variant table
(:func:`summarise`). Nothing here defines a variant: the experiment configs and the set file do.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from core.training.atomic import atomic_write_json
from core.training.experiments import finished_runs, finished_summary, first_at_or_below, load_set, write_summaries

__all__ = ["CONFIG_DIR", "compose", "run_experiments", "load_results", "summarise", "first_reach", "format_table", "main"]

CONFIG_DIR = str(Path(__file__).parent / "configs")


def compose(overrides: list[str]) -> dict:
    """The composed ``train`` config with ``overrides``, as a plain dict."""
    from hydra import compose as hcompose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = hcompose(config_name="train", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


def _store_key(cfg: dict) -> str:
    return json.dumps({"data": {k: v for k, v in cfg["data"].items() if k not in ("on_error",)},
                       "subsampling": cfg["model"].get("subsampling", 4)}, sort_keys=True)


def run_experiments(set_path: str | Path, out: str | Path, *, seeds: list[int] | None = None,
                    only: list[str] | None = None, extra: list[str] = (), log=print) -> dict[str, dict[int, dict]]:
    """Train (or read back) every (run, seed) of the set; returns {run name: {seed: summary + dev curve}}."""

    from apps.asr_ddp.data.corpora import load_splits, make_tokenizer
    from apps.asr_ddp.recipe import Recipe, validate

    cs = load_set(set_path)
    if any(r.needs for r in cs.runs.values()):
        raise ValueError(f"{set_path}: runs with 'needs' are for python -m core.training.experiments")
    names = only or list(cs.runs)
    bad = [n for n in names if n not in cs.runs]
    if bad:
        raise ValueError(f"unknown run(s) {bad}; {set_path} defines {list(cs.runs)}")
    seeds = list(seeds) if seeds is not None else cs.seeds
    out = Path(out)
    cfgs = {}
    for n in names:                               # compose and validate everything before any work
        for s in seeds:
            c = compose([*cs.common, *cs.runs[n].overrides, *extra, f"{cs.seed_key}={s}",
                         f"{cs.run_dir_key}={out / n / f'seed{s}'}"])
            validate(c)
            cfgs[(n, s)] = c
    stores: dict[str, dict] = {}
    results: dict[str, dict[int, dict]] = {}
    for (n, s), c in cfgs.items():
        run_dir = Path(c["run_dir"])
        summary = finished_summary(run_dir)
        if summary is None:
            key = _store_key(c)
            if key not in stores:
                stores[key] = load_splits(c["data"], make_tokenizer(c["data"]), int(c["model"].get("subsampling", 4)))
            summary = Recipe(c, stores=stores[key]).run()
        results.setdefault(n, {})[s] = dict(summary, dev_curve=_dev_curve(run_dir))
        log(f"{n} seed {s}: test WER {summary.get('test_wer', float('nan')):.4f} "
            f"cpu {summary.get('train_cpu_s', 0):.0f}s steps {summary.get('steps')}")
        write_summaries(cs, out)
    atomic_write_json(out / "comparison.json", {"set": str(set_path), "seeds": seeds, "extra": list(extra),
                                                "table": summarise(results)})
    from apps.asr_ddp.plots import plot_wer_vs_time

    s0 = min(seeds)
    plot_wer_vs_time({n: r[s0]["dev_curve"] for n, r in results.items() if s0 in r}, out / "dev_wer_vs_cpu.png",
                     title=f"dev WER vs training CPU seconds (seed {s0})", x_key="train_cpu_s")
    return results


def load_results(out: str | Path) -> dict[str, dict[int, dict]]:
    """Every finished ``<out>/<run>/seed<k>`` as {run: {seed: summary + dev curve}} (nothing is trained)."""
    out = Path(out)
    return {n: {s: dict(summary, dev_curve=_dev_curve(out / n / f"seed{s}")) for s, summary in seeds.items()}
            for n, seeds in finished_runs(out).items()}


def _dev_curve(run_dir: Path) -> list[dict]:
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
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not xs:
        return float("nan"), float("nan")
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def summarise(results: dict[str, dict[int, dict]], baseline: str = "full") -> dict[str, dict]:
    """Per variant: test WER mean/std, relative WER vs ``baseline`` paired by seed, CPU s, steps, audio fraction,
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
               "audio_fraction": _ms([runs[s].get("audio_fraction") for s in seeds])}
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
    head = ("| variant | seeds | test WER % (mean ± sd) | rel. WER vs full (paired) | train CPU s | steps | "
            "audio used | CPU s (steps) to full's final dev WER |\n|---|---|---|---|---|---|---|---|\n")
    lines = []
    for v, r in sorted(table.items(), key=lambda kv: kv[0] != "full"):     # full data first
        m, sd = r["test_wer"]
        rel = r.get("rel_wer_vs_full")
        rel_s = "" if rel is None or v == "full" else f"{100 * rel[0]:+.1f}% ± {100 * rel[1]:.1f}"
        reach = r.get("cpu_to_full_dev_wer") or []
        steps = r.get("steps_to_full_dev_wer") or [None] * len(reach)
        reach_s = ", ".join("never" if x is None else f"{x:.0f}" + ("" if k is None else f" ({k})")
                            for x, k in zip(reach, steps))
        lines.append(f"| {v} | {len(r['seeds'])} | {100 * m:.2f} ± {100 * sd:.2f} | {rel_s} | "
                     f"{r['train_cpu_s'][0]:.0f} | {r['steps'][0]:.0f} | {r['audio_fraction'][0]:.2f} | {reach_s} |")
    return head + "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set", help="a comparison set: apps/asr_ddp/configs/sets/<name>.yaml")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", default=None, help="comma-separated (default: the set's)")
    ap.add_argument("--only", default=None, help="comma-separated run names (default: all, in the set's order)")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides applied to every run")
    a = ap.parse_intermixed_args(argv)
    import torch

    torch.set_num_threads(1)
    res = run_experiments(a.set, a.out, seeds=[int(s) for s in a.seeds.split(",")] if a.seeds else None,
                          only=a.only.split(",") if a.only else None, extra=a.overrides,
                          log=lambda m: print(m, flush=True))
    print(format_table(summarise(res)))


if __name__ == "__main__":
    main()
