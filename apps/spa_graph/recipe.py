"""Turns the Hydra config into a dataset, selectors and the protocol; runs the grid, writes results and plots."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from apps.spa_graph.data import lfr_graph, load_dataset, sbm_graph
from apps.spa_graph.data.datasets import FEATURES, row_normalized
from apps.spa_graph.experiment import expand_methods, format_table, run_grid, summarize
from apps.spa_graph.plots import draw_selection, plot_vs_budget
from apps.spa_graph.protocol import EVAL_ON, TrainConfig, check_epochs
from apps.spa_graph.models import MODELS
from apps.spa_graph.scan import check_scan_params, scan
from apps.spa_graph.selectors import SelectionContext, select
from core.training.results import ResultsWriter
from core.training.run import default_run_dir, flatten_config
from core.training.seeding import seed_everything

APP = "spa_graph"


def check_budget_value(b) -> int:
    """An integer >= 1 (2.5 or 40.7 is a ValueError, not silently truncated)."""
    if isinstance(b, bool) or not isinstance(b, (int, float, str)):
        raise ValueError(f"budget={b!r} must be an integer >= 1")
    try:
        v = float(b)
    except ValueError:
        raise ValueError(f"budget={b!r} must be an integer >= 1") from None
    if v != int(v) or int(v) < 1:
        raise ValueError(f"budget={b} must be an integer >= 1")
    return int(v)


class Recipe:
    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        c = cfg
        self.methods = expand_methods(list(c.methods) if c.methods is not None else c.method)
        if c.budgets is not None:
            raw = list(c.budgets)
        elif c.budget is not None:
            raw = [c.budget]
        else:
            pb = c.get("paper_budgets") or {}
            if str(c.dataset) not in pb:
                raise ValueError(f"budget/budgets not set and no paper_budgets entry for dataset={c.dataset!r}; "
                                 f"set budgets=[...]")
            raw = list(pb[str(c.dataset)])
        if not raw:
            raise ValueError("budgets is empty")
        self.budgets = [check_budget_value(b) for b in raw]
        if str(c.get("features", "raw")) not in FEATURES:
            raise ValueError(f"features={c.features!r}; choose one of {list(FEATURES)}")
        if c.eval_on not in EVAL_ON:
            raise ValueError(f"eval_on={c.eval_on!r}; choose one of {list(EVAL_ON)}")
        if c.model not in MODELS:
            raise ValueError(f"model={c.model!r}; choose one of {list(MODELS)}")
        if isinstance(c.seeds, bool) or int(c.seeds) != c.seeds or int(c.seeds) < 1:
            raise ValueError(f"seeds={c.seeds} must be an integer >= 1")
        check_epochs(c.epochs)
        check_scan_params(c.spa.eps, c.spa.mu)
        self.train = TrainConfig(model=c.model, hidden=int(c.hidden), lr=float(c.lr),
                                 weight_decay=float(c.weight_decay), epochs=int(c.epochs),
                                 dropout=float(c.get("dropout", 0.0)))
        self.spa_kw = dict(eps=float(c.spa.eps), mu=int(c.spa.mu), include_self=bool(c.spa.include_self),
                           damping=float(c.spa.damping), order=str(c.spa.order))

    def out_dir(self) -> Path:
        """``out_dir`` if set, else the shared run folder ``outputs/spa_graph/<time>-<config hash>`` (core.training)."""
        if self.cfg.out_dir:
            return Path(self.cfg.out_dir)
        plain = OmegaConf.to_container(self.cfg, resolve=True)
        for k in ("out_dir", "run_name", "plot", "threads", "draw_max_nodes", "hydra"):
            plain.pop(k, None)
        return default_run_dir(APP, flatten_config(plain))

    def load(self):
        c = self.cfg
        if c.dataset == "sbm":
            s = c.synthetic
            return sbm_graph(int(s.num_nodes), int(s.num_blocks), float(s.avg_degree), float(s.p_in_fraction),
                             seed=int(c.seed))
        if c.dataset == "lfr":
            return lfr_graph(int(c.synthetic.num_nodes), float(c.synthetic.lfr_mu), seed=int(c.seed))
        data = load_dataset(c.dataset, c.data_root)
        if str(c.get("features", "raw")) == "row_normalized":
            data = row_normalized(data)
        return data

    def run(self) -> list[dict]:
        c = self.cfg
        torch.set_num_threads(int(c.threads))
        seed_everything(int(c.seed))             # every selector and model also takes its own seed explicitly
        data = self.load()
        print(f"{data.name}: {data.num_nodes} nodes, {data.num_edges} edges, {data.num_classes} classes")
        for note in data.notes:
            print(f"  note: {note}")
        for b in self.budgets:
            if b > data.num_nodes:
                raise ValueError(f"budget={b} exceeds the {data.num_nodes} candidate nodes of {data.name}")
        out = self.out_dir()
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(OmegaConf.to_yaml(c))     # only once the config and data are valid
        writer = ResultsWriter(out / "results.jsonl")
        run_name = str(c.get("run_name") or "")

        def on_row(r):
            print(f"  {r['method']:<17} b={r['budget']:<4} seed={r['seed']}: acc {100 * r['accuracy']:.1f} "
                  f"F1 {100 * r['macro_f1']:.1f} grouped F1 {100 * r['grouped_macro_f1']:.1f} "
                  f"query {r['query_s']:.3f}s train {r['train_s']:.1f}s", flush=True)
            var = f"{c.model}/{r['dataset']}/{r['method']}/b{r['budget']}"
            common = dict(dataset=r["dataset"], method=r["method"], budget=r["budget"], model=c.model,
                          eval_on=c.eval_on, epochs=int(c.epochs), dropout=float(self.train.dropout))
            for metric in ("accuracy", "macro_f1", "grouped_macro_f1"):
                writer.write(APP, var, metric, r[metric], suite=run_name, seed=r["seed"], **common)
            writer.write(APP, var, "query_time", r["query_s"], "s", suite=run_name, seed=r["seed"], **common)

        ctx = SelectionContext(data, train=self.train)
        rows = run_grid(data, self.methods, self.budgets, int(c.seeds), self.train, seed=int(c.seed),
                        eval_on=c.eval_on, spa_kw=self.spa_kw, on_row=on_row, ctx=ctx)
        summary = summarize(rows)
        for s in summary:
            var = f"{c.model}/{s['dataset']}/{s['method']}/b{s['budget']}"
            for metric in ("accuracy", "macro_f1", "grouped_macro_f1", "query_s"):
                writer.write(APP, var, f"{metric}_mean", s[f"{metric}_mean"], suite=run_name, std=s[f"{metric}_std"],
                             n=s["n"], dataset=s["dataset"], method=s["method"], budget=s["budget"], model=c.model)
        table = format_table(summary)
        print(table)
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        (out / "table.txt").write_text(table + "\n")
        if c.plot:
            plot_vs_budget(summary, out / f"{data.name}_vs_budget.png", f"{data.name} ({c.model}, {c.eval_on})")
            if data.num_nodes <= int(c.draw_max_nodes):
                res = scan(data.adj, self.spa_kw["eps"], self.spa_kw["mu"], self.spa_kw["include_self"])
                m = next((m for m in self.methods if m.startswith("spa")), self.methods[0])
                picks = select(m, ctx, self.budgets[0], int(c.seed), **(self.spa_kw if m.startswith("spa") else {}))
                draw_selection(data.adj, res.labels, picks, out / f"{data.name}_communities_{m}.png",
                               f"{data.name}: {res.num_clusters} SCAN clusters, {m} b={self.budgets[0]}")
            else:
                print(f"  (communities drawing skipped: {data.num_nodes} nodes > draw_max_nodes={c.draw_max_nodes})")
        print(f"results: {out / 'results.jsonl'}")
        return rows
