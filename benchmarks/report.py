"""REPORT.md from a run folder: ``results.jsonl`` + ``run.json`` + PNGs under ``plots/`` -- nothing typed by hand.

Layout: the first line is the headline (run status; modules ok / failed / interrupted / skipped; targets
met / missed / within noise / not judged), then the headline plot of every app, the peers side by side,
the environment, the summary (per app: module status, wall time against budget, verdict counts; a failed,
interrupted or skipped module is a red line and its budget cell is never a ✔), modules that did not
finish, and one section per app: notes, the table (variant, metric, measured, baseline, ratio with its
interval, noise floor, target, verdict) and every PNG under ``plots/<app>/``.
"""
from __future__ import annotations

import json
from pathlib import Path

from benchmarks.context import HEADLINE_PNG, format_number
from benchmarks.plots import module_time_chart, target_chart
from core.metrics.stats import point_verdict
from core.training.results import RESULT_FIELDS, read_results

__all__ = ["render_report", "write_report", "app_order", "summarize", "row_contexts", "verdict_of", "headline",
           "GENERATED_DIR", "MODULE_STATUSES"]

MODULE_STATUSES = ("ok", "failed", "interrupted", "skipped")
VERDICT_MARK = {"met": "✔ met", "missed": "✘ missed", "within noise": "≈ within noise", "not judged": "not judged"}
_META_KINDS = ("module", "suite", "note", "headline")

GENERATED_DIR = "_run"            # plots/_run/: charts about the run itself (module wall times)
TARGETS_PNG = "_targets.png"      # plots/<app>/_targets.png: generated measured-vs-target chart


def _cell(x) -> str:
    return format_number(x).replace("|", "\\|").replace("\n", " ")


def verdict_of(rec: dict) -> str | None:
    """The record's verdict ("met" | "missed" | "within noise" | "not judged"), None without a target.

    Records written before verdicts existed are judged from ``met`` (None -> "not judged").
    """
    if not rec.get("target"):
        return None
    v = rec.get("verdict")
    return v if v in VERDICT_MARK else point_verdict(rec.get("met"))


def _met(rec: dict) -> str:
    v = verdict_of(rec)
    if v is None:
        return ""
    return VERDICT_MARK[v] + (" (indicative)" if rec.get("indicative") else "")


def _is_figure(rec: dict) -> bool:
    return rec.get("kind") not in _META_KINDS


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
    """Per app: figures, targets, verdict counts, module status, module wall time and budget."""
    out: dict[str, dict] = {}
    for r in records:
        app = r["app"]
        if r.get("kind") in ("suite", "note", "headline"):
            continue
        s = out.setdefault(app, {"figures": 0, "targets": 0, "met": 0, "missed": 0, "within noise": 0,
                                 "not judged": 0, "indicative": 0, "status": None, "wall_s": None, "error": ""})
        if r.get("kind") == "module":
            s["status"], s["wall_s"], s["error"] = r.get("status"), r.get("value"), r.get("error", "")
            s["module"] = r.get("module", app)
            s["budget"], s["in_budget"], s["cpu_s"] = r.get("target"), r.get("met"), r.get("cpu_s")
            continue
        s["figures"] += 1
        v = verdict_of(r)
        if v is not None:
            s["targets"] += 1
            s[v] += 1
            s["indicative"] += 1 if r.get("indicative") else 0
    return out


def headline(records: list[dict], meta: dict | None = None) -> str:
    """The report's first line: run status, module counts by status, target counts by verdict."""
    summary = summarize(records)
    suite_rec = next((r for r in reversed(records) if r.get("kind") == "suite"), None)
    mods = [s["status"] for s in summary.values() if s["status"] is not None]
    counts = {k: sum(1 for m in mods if m == k) for k in MODULE_STATUSES}
    other = len(mods) - sum(counts.values())
    t = {v: sum(s[v] for s in summary.values()) for v in VERDICT_MARK}
    n_ind = sum(s["indicative"] for s in summary.values())
    interrupted = counts["interrupted"] > 0 or (suite_rec or {}).get("status") == "interrupted" or \
        (meta or {}).get("status") == "interrupted"
    if interrupted:
        state = "INTERRUPTED"
    elif suite_rec is None:
        state = "INCOMPLETE (no end-of-run record: the run did not finish)"
    elif counts["failed"] or other:
        state = "FAILED"
    elif not mods:
        state = "EMPTY (no module ran)"
    else:
        state = "complete"
    suite = (meta or {}).get("suite") or next((r.get("suite") for r in records if r.get("suite")), "?")
    mod_txt = ", ".join(f"{counts[k]} {k}" for k in MODULE_STATUSES) + (f", {other} unknown" if other else "")
    tgt_txt = ", ".join(f"{t[v]} {v}" for v in VERDICT_MARK) + (f" ({n_ind} indicative)" if n_ind else "")
    return f"# sparselab bench `{suite}`: {state} · modules: {mod_txt} · targets: {tgt_txt}"


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


_STANDARD = set(RESULT_FIELDS) | {"ratio", "met", "higher_is_better", "time", "kind", "compared", "verdict", "interval",
                                   "ratio_interval", "interval_coverage", "noise_floor", "noise_interval",
                                   "wall_ratio", "wall_noise_floor", "judged_on", "per_seed", "seeds",
                                   "baseline_per_seed", "indicative", "not_judged_reason", "std", "baseline_std",
                                   "n_seeds"}


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


def _measured(r: dict) -> str:
    if r.get("n_seeds"):
        return f"{_cell(r.get('value'))} ± {_cell(r.get('std'))} (n={r['n_seeds']})"
    return _cell(r.get("value"))


def _ratio(r: dict) -> str:
    if r.get("ratio") is None:
        return "—"
    iv = r.get("ratio_interval") or (r.get("interval") if r.get("judged_on") == "paired ratio" else None)
    txt = _cell(r.get("ratio"))
    if iv:
        txt += f" [{_cell(iv[0])}, {_cell(iv[1])}]"
    return txt


def _judged(r: dict) -> str:
    """Noise floor / judged interval / reason column."""
    parts = []
    if r.get("noise_floor") is not None:
        parts.append(f"noise floor {_cell(r['noise_floor'])}")
    if r.get("interval") and r.get("judged_on"):
        lo, hi = r["interval"]
        parts.append(f"{r['judged_on']} in [{_cell(lo)}, {_cell(hi)}]")
    if r.get("not_judged_reason"):
        parts.append(_cell(r["not_judged_reason"]))
    return "; ".join(parts)


def _app_table(recs: list[dict]) -> list[str]:
    ctx = row_contexts(recs)
    show_ctx = any(ctx)
    head = ("| variant | metric |" + (" context |" if show_ctx else "")
            + " measured | unit | baseline | ratio [interval] | judged on | target | verdict |")
    rule = "|---|---|" + ("---|" if show_ctx else "") + "---:|---|---:|---:|---|---|---|"
    lines = [head, rule]
    for r, c in zip(recs, ctx):
        cells = [_cell(r.get("variant")), _cell(r.get("metric"))] + ([_cell(c)] if show_ctx else [])
        cells += [_measured(r), _cell(r.get("unit") or ""), _cell(r.get("baseline")), _ratio(r), _judged(r),
                  _cell(r.get("target") or ""), _met(r)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _peer_rows(figures: list[dict]) -> list[str]:
    rows = [r for r in figures if r.get("peer")]
    if not rows:
        return []
    lines = ["", "## Peers side by side", "",
             "Measured in this run (timings interleaved in one process; quality figures are means over the same "
             "seeds): ratio = ours / peer; for a time, below 1 means ours is faster.", "",
             "| app | comparison | ours | peer | ours: value | peer: value | unit | ratio [interval] | noise floor | "
             "target | verdict |",
             "|---|---|---|---|---:|---:|---|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {_cell(r['app'])} | {_cell(r['variant'])} / {_cell(r['metric'])} | "
                     f"{_cell(r.get('candidate_name') or 'sparselab')} | {_cell(r['peer'])} | {_measured(r)} | "
                     f"{_cell(r.get('baseline'))} | {_cell(r.get('unit') or '')} | {_ratio(r)} | "
                     f"{_cell(r.get('noise_floor'))} | {_cell(r.get('target') or '')} | {_met(r)} |")
    return lines


def render_report(out_dir: str | Path, *, make_plots: bool = True) -> str:
    """The markdown of ``out_dir``'s report (generated charts are (re)drawn under plots/ when ``make_plots``)."""
    out_dir = Path(out_dir)
    records = read_results(out_dir / "results.jsonl") if (out_dir / "results.jsonl").is_file() else []
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

    lines = [headline(records, meta), "",
             "Generated by `benchmarks/report.py` from `results.jsonl`, `run.json` and the PNGs under `plots/`; "
             "every figure comes from this run. Verdicts: *met* / *missed* when the whole interval of the judged "
             "quantity is on one side of the target, *within noise* when it straddles it, *not judged* when the "
             "module says its size cannot stand for the claim; *indicative* = fewer than 3 seeds."]

    heads = [(app, plots_dir / app / HEADLINE_PNG) for app in apps if (plots_dir / app / HEADLINE_PNG).is_file()]
    if heads:
        lines += ["", "## Headline per app", ""]
        for app, png in heads:
            lines += [f"![{app}: headline]({png.relative_to(out_dir).as_posix()})", ""]
        lines.pop()
    lines += _peer_rows(figures)

    lines += ["", "## Environment", ""]
    lines += _env_section(meta, suite_rec) if meta or suite_rec else ["(no run.json)"]

    lines += ["", "## Summary", "",
              "| app | module | status | wall time [s] (CPU time of the process) (budget) | figures | "
              "met / missed / within noise / not judged |",
              "|---|---|---|---:|---:|---:|"]
    for app in apps:
        s = summary.get(app, {"figures": 0, "status": None, "wall_s": None, **{v: 0 for v in VERDICT_MARK}})
        st = s["status"]
        status = {"ok": "ok", None: "—"}.get(st, f"🔴 **{str(st).upper()}**")
        wall = "—" if s["wall_s"] is None else f"{s['wall_s']:.1f}"
        if s.get("cpu_s") is not None:
            wall += f" (CPU {s['cpu_s']:.1f})"
        if s.get("budget"):
            if st != "ok":
                wall += f" ({s['budget']}: not judged, module {st})"
            else:
                wall += f" ({s['budget']} {'✔' if s.get('in_budget') else '✘'})"
        counts = " / ".join(str(s[v]) for v in VERDICT_MARK)
        lines.append(f"| [{app}](#{_anchor(app)}) | {_cell(s.get('module', '—'))} | {status} | {wall} | "
                     f"{s['figures']} | {counts} |")
    run_png = plots_dir / GENERATED_DIR / "module_times.png"
    if run_png.is_file():
        lines += ["", f"![module wall times]({run_png.relative_to(out_dir).as_posix()})"]
    bad = [a for a, s in summary.items() if s["status"] not in (None, "ok")]
    if bad:
        lines += ["", "## Modules that did not finish", ""]
        lines += [f"- 🔴 **{summary[a].get('module', a)}** {str(summary[a]['status']).upper()}: "
                  f"`{summary[a]['error'] or 'unknown error'}`"
                  + (" (full traceback in the run's console output)" if summary[a]["status"] == "failed" else "")
                  for a in bad]

    for app in apps:
        recs = [r for r in figures if r["app"] == app]
        notes = [r for r in records if r["app"] == app and r.get("kind") == "note"]
        lines += ["", f"## {app}", ""]
        s = summary.get(app)
        if s and s["status"] not in (None, "ok"):
            lines += [f"🔴 Module **{str(s['status']).upper()}**: `{s['error']}`; figures below are those recorded "
                      f"before it stopped.", ""]
        for n in notes:
            lines += [f"> {_cell(n.get('text'))}", ""]
        lines += _app_table(recs) if recs else ["(no figures recorded)"]
        app_dir = plots_dir / app
        pngs = sorted(app_dir.glob("*.png"), key=lambda p: (p.name == TARGETS_PNG, p.name)) if app_dir.is_dir() else []
        for p in pngs:
            if p.name == HEADLINE_PNG:
                continue  # shown at the top
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
