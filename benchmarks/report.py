"""REPORT.md from a run folder: ``results.jsonl`` + ``run.json`` + PNGs under ``plots/`` -- nothing typed by hand.

Layout: environment, summary (per app: module status, wall time, targets met / total), failed modules,
then one section per app with its table (variant, metric, measured, unit, baseline, ratio, target, met)
and every PNG under ``plots/<app>/`` (plus a generated measured-vs-target chart).
"""
from __future__ import annotations

import json
from pathlib import Path

from benchmarks.context import format_number
from benchmarks.plots import module_time_chart, target_chart
from core.training.results import RESULT_FIELDS, read_results

__all__ = ["render_report", "write_report", "app_order", "summarize", "row_contexts", "GENERATED_DIR"]

GENERATED_DIR = "_run"            # plots/_run/: charts about the run itself (module wall times)
TARGETS_PNG = "_targets.png"      # plots/<app>/_targets.png: generated measured-vs-target chart


def _cell(x) -> str:
    return format_number(x).replace("|", "\\|").replace("\n", " ")


def _met(rec: dict) -> str:
    if not rec.get("target"):
        return ""
    met = rec.get("met")
    return "✔" if met is True else ("✘" if met is False else "n/a")


def _is_figure(rec: dict) -> bool:
    return rec.get("kind") not in ("module", "suite")


def app_order(records: list[dict], meta: dict | None, plots_dir: Path | None = None) -> list[str]:
    """Apps in the order their modules ran, then any other app seen in records or in plots/."""
    order: list[str] = []
    for r in records:
        if r.get("kind") == "module" and r["app"] not in order:
            order.append(r["app"])
    for r in records:
        if _is_figure(r) and r["app"] not in order:
            order.append(r["app"])
    if plots_dir is not None and plots_dir.is_dir():
        for d in sorted(p for p in plots_dir.iterdir() if p.is_dir() and p.name != GENERATED_DIR):
            if d.name not in order:
                order.append(d.name)
    return order


def summarize(records: list[dict]) -> dict[str, dict]:
    """Per app: figures, targets, targets met, module status, module wall time."""
    out: dict[str, dict] = {}
    for r in records:
        app = r["app"]
        if r.get("kind") == "suite":
            continue
        s = out.setdefault(app, {"figures": 0, "targets": 0, "met": 0, "status": None, "wall_s": None, "error": ""})
        if r.get("kind") == "module":
            s["status"], s["wall_s"], s["error"] = r.get("status"), r.get("value"), r.get("error", "")
            s["module"] = r.get("module", app)
            s["budget"], s["in_budget"] = r.get("target"), r.get("met")
            continue
        s["figures"] += 1
        if r.get("target"):
            s["targets"] += 1
            s["met"] += 1 if r.get("met") is True else 0
    return out


def _env_section(meta: dict, suite_rec: dict | None) -> list[str]:
    rows = [("suite", meta.get("suite")), ("device", meta.get("device")), ("device name", meta.get("device_name")),
            ("torch", meta.get("torch")), ("CUDA (torch build)", meta.get("cuda")), ("python", meta.get("python")),
            ("platform", meta.get("platform")), ("CPU count", meta.get("cpu_count")),
            ("torch threads", meta.get("torch_threads")), ("commit", meta.get("commit")), ("seed", meta.get("seed")),
            ("started", meta.get("started")), ("finished", meta.get("finished"))]
    if suite_rec is not None:
        total = f"{suite_rec['value']:.1f} s" if suite_rec.get("value") is not None else "—"
        if suite_rec.get("target"):
            total += f" (target {suite_rec['target']} s: {_met(suite_rec)})"
        rows.append(("total wall time", total))
    lines = ["| | |", "|---|---|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in rows if v is not None]
    if meta.get("argv"):
        cmd = " ".join(str(a) for a in meta["argv"]).replace("|", "\\|").replace("`", "'")
        lines.append(f"| command | `{cmd}` |")
    return lines


_STANDARD = set(RESULT_FIELDS) | {"ratio", "met", "higher_is_better", "time", "kind", "compared"}


def row_contexts(recs: list[dict], max_keys: int = 3) -> list[str]:
    """Per record, the extra keys that tell apart rows sharing (variant, metric), e.g. a scaling curve's sizes.

    Integer-valued keys that differ within the group are preferred (sizes); else any differing scalar key.
    """
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(recs):
        groups.setdefault((r.get("variant"), r.get("metric")), []).append(i)
    out = [""] * len(recs)
    for idx in groups.values():
        if len(idx) < 2:
            continue
        keys = [k for k in recs[idx[0]] if k not in _STANDARD]
        differing = [k for k in keys if len({json.dumps(recs[i].get(k), sort_keys=True, default=str) for i in idx}) > 1]
        ints = [k for k in differing if all(isinstance(recs[i].get(k), int) and not isinstance(recs[i].get(k), bool)
                                            for i in idx)]
        chosen = (ints or differing)[:max_keys]
        for i in idx:
            out[i] = ", ".join(f"{k}={format_number(recs[i].get(k))}" for k in chosen)
    return out


def _app_table(recs: list[dict]) -> list[str]:
    ctx = row_contexts(recs)
    show_ctx = any(ctx)
    head = "| variant | metric |" + (" context |" if show_ctx else "") + " measured | unit | baseline | ratio | target | met |"
    rule = "|---|---|" + ("---|" if show_ctx else "") + "---:|---|---:|---:|---|:-:|"
    lines = [head, rule]
    for r, c in zip(recs, ctx):
        cells = [_cell(r.get("variant")), _cell(r.get("metric"))] + ([_cell(c)] if show_ctx else [])
        cells += [_cell(r.get("value")), _cell(r.get("unit") or ""), _cell(r.get("baseline")), _cell(r.get("ratio")),
                  _cell(r.get("target") or ""), _met(r)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_report(out_dir: str | Path, *, make_plots: bool = True) -> str:
    """The markdown of ``out_dir``'s report (generated charts are (re)drawn under plots/ when ``make_plots``)."""
    out_dir = Path(out_dir)
    records = read_results(out_dir / "results.jsonl")
    meta_path = out_dir / "run.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    plots_dir = out_dir / "plots"
    suite_rec = next((r for r in reversed(records) if r.get("kind") == "suite"), None)
    apps = app_order(records, meta, plots_dir)
    summary = summarize(records)
    figures = [r for r in records if _is_figure(r)]

    if make_plots:
        for app in apps:
            png = plots_dir / app / TARGETS_PNG
            if target_chart(app, figures, png) is None and png.is_file():
                png.unlink()  # stale chart of an earlier rendering
        module_time_chart(records, plots_dir / GENERATED_DIR / "module_times.png")

    suite = meta.get("suite") or next((r.get("suite") for r in records if r.get("suite")), "?")
    lines = [f"# sparselab benchmark report: suite `{suite}`", "",
             "Generated by `benchmarks/report.py` from `results.jsonl`, `run.json` and the PNGs under `plots/`; "
             "every figure comes from this run.", "", "## Environment", ""]
    lines += _env_section(meta, suite_rec) if meta or suite_rec else ["(no run.json)"]

    n_t = sum(s["targets"] for s in summary.values())
    n_m = sum(s["met"] for s in summary.values())
    failed = [a for a, s in summary.items() if s["status"] not in (None, "ok")]
    lines += ["", "## Summary", "", f"**{n_m} / {n_t} targets met**; "
              f"{sum(1 for s in summary.values() if s['status'] == 'ok')} module(s) ok, {len(failed)} failed.", "",
              "| app | module | status | wall time [s] (budget) | figures | targets met / total |",
              "|---|---|---|---:|---:|---:|"]
    for app in apps:
        s = summary.get(app, {"figures": 0, "targets": 0, "met": 0, "status": None, "wall_s": None})
        status = {"ok": "ok", None: "—"}.get(s["status"], f"**{str(s['status']).upper()}**")
        wall = "—" if s["wall_s"] is None else f"{s['wall_s']:.1f}"
        if s.get("budget"):
            wall += f" ({s['budget']} {'✔' if s.get('in_budget') else '✘'})"
        lines.append(f"| [{app}](#{_anchor(app)}) | {_cell(s.get('module', '—'))} | {status} | {wall} | "
                     f"{s['figures']} | {s['met']} / {s['targets']} |")
    run_png = plots_dir / GENERATED_DIR / "module_times.png"
    if run_png.is_file():
        lines += ["", f"![module wall times]({run_png.relative_to(out_dir).as_posix()})"]
    if failed:
        lines += ["", "## Failed modules", ""]
        lines += [f"- **{summary[a].get('module', a)}**: `{summary[a]['error'] or 'unknown error'}` "
                  f"(full traceback in the run's console output)" for a in failed]

    for app in apps:
        recs = [r for r in figures if r["app"] == app]
        lines += ["", f"## {app}", ""]
        s = summary.get(app)
        if s and s["status"] not in (None, "ok"):
            lines += [f"Module **FAILED**: `{s['error']}`; figures below are those recorded before the failure.", ""]
        lines += _app_table(recs) if recs else ["(no figures recorded)"]
        app_dir = plots_dir / app
        pngs = sorted(app_dir.glob("*.png"), key=lambda p: (p.name == TARGETS_PNG, p.name)) if app_dir.is_dir() else []
        for p in pngs:
            title = "measured vs target" if p.name == TARGETS_PNG else p.stem.replace("_", " ")
            lines += ["", f"![{app}: {title}]({p.relative_to(out_dir).as_posix()})"]
    return "\n".join(lines) + "\n"


def _anchor(title: str) -> str:
    """GitHub-style heading anchor."""
    keep = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return keep.replace(" ", "-")


def write_report(out_dir: str | Path, *, make_plots: bool = True) -> Path:
    """Render and write ``out_dir/REPORT.md``; returns its path."""
    out_dir = Path(out_dir)
    path = out_dir / "REPORT.md"
    path.write_text(render_report(out_dir, make_plots=make_plots), encoding="utf-8")
    return path
