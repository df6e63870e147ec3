"""Merge comparison results (results.jsonl from one or more ``compare`` runs) into a markdown table + one plot.

    python -m apps.asr_ddp.report outputs/asr_ddp/compare_A outputs/asr_ddp/rescored/rescored.jsonl --plot apps/asr_ddp/dev_wer_vs_time.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from apps.asr_ddp.plots import plot_wer_vs_time

__all__ = ["load_results", "markdown_table"]


def load_results(paths: list[str | Path]) -> dict[str, dict]:
    """Merge JSON-lines result files (a folder means its results.jsonl); a later line for a variant wins."""
    out: dict[str, dict] = {}
    for d in paths:
        p = Path(d) / "results.jsonl" if Path(d).is_dir() else Path(d)
        if not p.is_file():
            raise FileNotFoundError(f"no results file {p}")
        for line in p.read_text().splitlines():
            r = json.loads(line)
            out[r["variant"]] = r
    return out


def markdown_table(res: dict[str, dict]) -> str:
    full = res.get("full")
    rows = ["| variant | test WER | test CER | rel. WER vs full | dev WER | train wall (s) | train CPU (s) | "
            "speed-up wall | speed-up CPU | audio used | steps |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        rel = f"{(r['test_wer'] / full['test_wer'] - 1) * 100:+.1f}%" if full and full["test_wer"] else "-"
        sw = f"{full['train_s'] / r['train_s']:.2f}x" if full else "-"
        sc = f"{full['train_cpu_s'] / r['train_cpu_s']:.2f}x" if full else "-"
        rows.append(f"| {name} | {r['test_wer'] * 100:.1f}% | {r['test_cer'] * 100:.1f}% | {rel} | "
                    f"{r['dev_wer'] * 100:.1f}% | {r['train_s']:.0f} | {r['train_cpu_s']:.0f} | {sw} | {sc} | "
                    f"{r['audio_fraction'] * 100:.1f}% | {r['steps']} |")
    return "\n".join(rows)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--plot", default=None)
    a = ap.parse_args(argv)
    res = load_results(a.dirs)
    order = ["full", "static_random0.7", "dynamic_random0.7", "easy_to_hard0.7", "infobatch",
             "dynamic_random0.7x0.7chunk", "dynamic_random0.7x0.7chunk5", "dynamic_random0.7x0.7point",
             "dynamic_random0.5"]
    res = {k: res[k] for k in order if k in res} | {k: v for k, v in res.items() if k not in order}
    print(markdown_table(res))
    if a.plot:
        hist = {k: v["history"] for k, v in res.items() if "history" in v}
        plot_wer_vs_time(hist, a.plot, title="embedded corpus: dev WER vs training wall-clock")
        plot_wer_vs_time(hist, str(a.plot).replace(".png", "_cpu.png"), title="embedded corpus: dev WER vs training CPU",
                         x_key="train_cpu_s")


if __name__ == "__main__":
    main()
