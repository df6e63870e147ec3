"""REPORT.md rendered from small result files: per-app tables, summary counts, plots embedded or absent."""
import json

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks.report import render_report, summarize, write_report
from core.training.results import ResultsWriter


def write_run(out, *, failed=False):
    w = ResultsWriter(out / "results.jsonl")
    w.write("pruner", "infobatch", "setup_time", 0.5, "s", suite="quick", target="<= 1.0", met=True)
    w.write("pruner", "ucb", "setup_time", 1.5, "s", suite="quick", target="<= 1.0", met=False)
    w.write("pruner", "scaling", "setup_time", 0.01, "s", suite="quick", items=1000)
    w.write("pruner", "(module)", "wall_time", 12.0, "s", suite="quick", target="<= 90", met=True, kind="module",
            module="core_pruning", status="ok", error="")
    w.write("asr", "pruned", "wer", 0.21, "", suite="quick", baseline=0.20, target="<= 1.1", ratio=1.05, met=True)
    w.write("asr", "(module)", "wall_time", 3.0, "s", suite="quick", target="<= 90", met=True, kind="module",
            module="asr_ddp", status="failed" if failed else "ok", error="RuntimeError: boom" if failed else "")
    w.write("(suite)", "(all modules)", "wall_time", 15.0, "s", suite="quick", target="<= 600", met=True, kind="suite")
    (out / "run.json").write_text(json.dumps({"suite": "quick", "device": "cpu", "device_name": "TestCPU",
                                               "torch": "2.x", "cpu_count": 2, "commit": "abc1234", "seed": 0}))


def test_tables_and_summary_counts(tmp_path):
    write_run(tmp_path)
    md = render_report(tmp_path)
    assert md.splitlines()[0] == ("# sparselab bench `quick`: complete · modules: 2 ok, 0 failed, 0 interrupted, "
                                  "0 skipped · targets: 2 met, 1 missed, 0 within noise, 0 not judged")
    assert "TestCPU" in md and "abc1234" in md
    assert "| [pruner](#pruner) | core_pruning | ok | 12.0 (<= 90 ✔) | 3 | 1 / 1 / 0 / 0 |" in md
    assert "| [asr](#asr) | asr_ddp | ok | 3.0 (<= 90 ✔) | 1 | 1 / 0 / 0 / 0 |" in md
    assert "| infobatch | setup_time | 0.5 | s | — | — |  | <= 1.0 | ✔ met |" in md
    assert "| ucb | setup_time | 1.5 | s | — | — |  | <= 1.0 | ✘ missed |" in md
    assert "| pruned | wer | 0.21 |  | 0.2 | 1.05 |  | <= 1.1 | ✔ met |" in md
    assert "| scaling | setup_time | 0.01 | s | — | — |  |  |  |" in md
    assert "15.0 s (target <= 600 s: ✔ met)" in md
    assert md.index("## pruner") < md.index("## asr")  # module order
    assert "(module)" not in md.split("## pruner")[1]  # module rows are summarised, not tabled


def test_failed_module_and_counts(tmp_path):
    write_run(tmp_path, failed=True)
    s = summarize(json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines())
    assert s["asr"]["status"] == "failed" and s["pruner"] == {**s["pruner"], "figures": 3, "targets": 2, "met": 1,
                                                              "missed": 1}
    md = render_report(tmp_path)
    assert md.startswith("# sparselab bench `quick`: FAILED · modules: 1 ok, 1 failed, 0 interrupted, 0 skipped")
    assert "## Modules that did not finish" in md and "RuntimeError: boom" in md and "🔴 **FAILED**" in md
    row = next(line for line in md.splitlines() if line.startswith("| [asr]"))
    assert "✔" not in row and "not judged, module failed" in row   # a failed module's budget cell is never a tick


def test_plots_embedded_and_missing_plots_fine(tmp_path):
    write_run(tmp_path)
    d = tmp_path / "plots" / "pruner"
    d.mkdir(parents=True)
    fig = Figure()
    FigureCanvasAgg(fig)
    fig.savefig(d / "setup_scaling.png")
    (tmp_path / "plots" / "other_app").mkdir()
    fig.savefig(tmp_path / "plots" / "other_app" / "curve.png")
    path = write_report(tmp_path)
    md = path.read_text()
    assert path == tmp_path / "REPORT.md"
    assert "![pruner: setup scaling](plots/pruner/setup_scaling.png)" in md
    # two targets with positive thresholds in 'pruner' -> generated chart; 'asr' has one -> none
    assert (tmp_path / "plots" / "pruner" / "_targets.png").is_file()
    assert "plots/pruner/_targets.png" in md and not (tmp_path / "plots" / "asr").exists()
    assert "![module wall times](plots/_run/module_times.png)" in md
    assert "## other_app" in md and "plots/other_app/curve.png" in md and "(no figures recorded)" in md
    # every embedded image exists
    for line in md.splitlines():
        if line.startswith("!["):
            assert (tmp_path / line.split("](")[1].rstrip(")")).is_file()


def test_report_without_run_json_or_plots(tmp_path):
    w = ResultsWriter(tmp_path / "results.jsonl")
    w.write("x", "v", "m", 2.0, "", suite="smoke", target=">= 1", met=True)
    md = render_report(tmp_path, make_plots=False)
    assert md.startswith("# sparselab bench `smoke`: INCOMPLETE") and "targets: 1 met, 0 missed" in md
    assert "![" not in md


def test_context_column_tells_scaling_points_apart(tmp_path):
    w = ResultsWriter(tmp_path / "results.jsonl")
    for n, t in ((100, 0.1), (1000, 0.9)):
        w.write("x", "scaling", "time", t, "s", suite="smoke", items=n, median_s=t * 1.1)
    w.write("x", "headline", "time", 0.5, "s", suite="smoke", items=7)
    md = render_report(tmp_path, make_plots=False)
    assert "| variant | metric | context | measured |" in md
    assert "| scaling | time | items=100 | 0.1 | s |" in md and "| scaling | time | items=1000 | 0.9 | s |" in md
    assert "| headline | time |  | 0.5 | s |" in md  # a unique row needs no context


def test_peer_rows_headline_plot_and_notes_at_the_top(tmp_path):
    w = ResultsWriter(tmp_path / "results.jsonl")
    w.write("core", "(module)", "wall_time", 5.0, "s", suite="quick", kind="module", module="core", status="ok")
    w.write("core", "vs_ao", "step_time", 0.9, "s", suite="quick", baseline=1.0, ratio=0.9, interval=[0.8, 1.0],
            ratio_interval=[0.85, 0.95], judged_on="median paired ratio", noise_floor=1.01, peer="torch.ao.pruning")
    w.write("core", "(note)", "note1", None, "", suite="quick", kind="note", text="no conv row: 2-D weights only")
    w.write("(suite)", "(all modules)", "wall_time", 6.0, "s", suite="quick", kind="suite", status="complete")
    d = tmp_path / "plots" / "core"
    d.mkdir(parents=True)
    fig = Figure()
    FigureCanvasAgg(fig)
    fig.savefig(d / "headline.png")
    md = render_report(tmp_path, make_plots=False)
    assert md.index("## Headline per app") < md.index("## Peers side by side") < md.index("## Environment")
    assert "| core | vs_ao / step_time | sparselab | torch.ao.pruning | 0.9 | 1 | s | 0.9 [0.85, 0.95] | 1.01 |" in md
    assert "> no conv row: 2-D weights only" in md and md.count("plots/core/headline.png") == 1
