"""The one place the config meets code: ``settings_from_config`` reads every key once into frozen settings
(``settings.py``); ``Recipe`` loads the graph, builds the selectors and runs the grid from those settings only,
and writes the run folder (config.yaml, results.jsonl, summary.json, table.txt, plots), atomically.

The walk of ``spa.eps`` (config -> use), for example: ``configs/train.yaml`` ``spa.eps: 0.5`` (its one default) ->
``settings_from_config``: ``SpaParams(eps=r.float("spa.eps"))``, validated once in ``SpaParams.__post_init__`` (by
``scan.check_scan_params``) -> ``SpaSelector(mode, params)`` (built in ``Recipe.__init__``) -> ``scan`` /
``cdlib_scan_communities(adj, params.eps, ...)`` in ``SpaSelector.select``.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch
import yaml

from apps.spa_graph.data import lfr_graph, load_dataset, load_graph_file, sbm_graph
from apps.spa_graph.data.datasets import row_normalized
from apps.spa_graph.experiment import expand_methods, format_table, run_grid, summarize
from apps.spa_graph.protocol import TrainConfig, majority_macro_f1
from apps.spa_graph.selectors import SPA_METHODS, SelectionContext, build_selector
from apps.spa_graph.settings import (DataSettings, GridSettings, OutputSettings, SpaGraphSettings, SpaParams,
                                     SyntheticSettings)
from core.settings import ConfigError, ConfigReader
from core.training.atomic import atomic_write_json, atomic_write_text
from core.training.results import ResultsWriter
from core.training.run import default_run_dir, fingerprint_hash, run_fingerprint
from core.training.seeding import seed_everything

__all__ = ["APP", "FINGERPRINT_EXCLUDE", "settings_from_config", "default_settings", "Recipe", "row_variant"]

APP = "spa_graph"
# keys that do not change what is computed: where it goes, how it is reported, threads, where the data lives
FINGERPRINT_EXCLUDE = ("run_dir", "run_name", "plot", "draw_max_nodes", "threads", "data.root", "data.allow_symlinks")


def _budgets(r: ConfigReader, paper) -> tuple[int, ...] | None:
    raw = r.get("budget")
    if raw is None:
        return None if paper is None else tuple(paper)          # None: Recipe asks for budget=... (data=file)
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for b in items:
        if isinstance(b, bool) or not isinstance(b, (int, float)) or float(b) != int(b):
            raise ConfigError(f"budget={raw!r} must be an integer >= 1 or a list of them")
        out.append(int(b))
    return tuple(out)


def _methods(r: ConfigReader) -> tuple[str, ...]:
    raw = r.get("methods")
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(m, str) for m in items):
        raise ConfigError(f"methods={raw!r} must be a method name or a list of names")
    try:
        return tuple(expand_methods(items))
    except ValueError as e:
        raise ConfigError(f"methods: {e}") from None


def _data(r: ConfigReader) -> DataSettings:
    name = r.str("data.name")
    paper = r.get("data.paper_budgets")
    if paper is not None and not isinstance(paper, list):
        raise ConfigError(f"data.paper_budgets={paper!r} must be a list of budgets or null")
    synthetic = None
    if name == "sbm":
        synthetic = SyntheticSettings(num_nodes=r.int("data.num_nodes"), num_blocks=r.int("data.num_blocks"),
                                      avg_degree=r.float("data.avg_degree"), p_in_fraction=r.float("data.p_in_fraction"))
    elif name == "lfr":
        synthetic = SyntheticSettings(num_nodes=r.int("data.num_nodes"), mu=r.float("data.mu"))
    root = r.optional_str("data.root") if name not in ("sbm", "lfr", "file") else None
    allow = r.bool("data.allow_symlinks") if name not in ("sbm", "lfr", "file") else False
    path = r.optional_str("data.path") if name == "file" else None
    return DataSettings(name=name, root=root, allow_symlinks=allow, path=path, features=r.str("features"),
                        paper_budgets=None if paper is None else tuple(
                            r.list("data.paper_budgets", item="int", low=1)), synthetic=synthetic)


def settings_from_config(cfg) -> SpaGraphSettings:
    """The composed config (a DictConfig or a plain nested dict) -> frozen ``SpaGraphSettings``; every key read once
    and validated (``ConfigError`` naming the key); a key nothing reads is an error. Touches no data."""
    from apps.common.hydra_config import to_plain

    plain = to_plain(cfg)
    r = ConfigReader(plain, source="spa_graph config")
    data = _data(r)
    grid = GridSettings(methods=_methods(r), budgets=_budgets(r, data.paper_budgets), seeds=r.int("seeds"),
                        seed=r.int("seed"), fidelity=r.str("fidelity"), eval_on=r.str("eval_on"))
    train = TrainConfig(model=r.str("model"), hidden=r.int("hidden"), lr=r.float("lr"),
                        weight_decay=r.float("weight_decay"), epochs=r.int("epochs"), dropout=r.float("dropout"))
    spa = SpaParams(eps=r.float("spa.eps"), mu=r.int("spa.mu"), include_self=r.bool("spa.include_self"),
                    damping=r.float("spa.damping"), order=r.str("spa.order"))
    output = OutputSettings(run_dir=r.optional_str("run_dir"), run_name=r.str("run_name"), plot=r.bool("plot"),
                            draw_max_nodes=r.int("draw_max_nodes"), threads=r.int("threads"))
    r.check_consumed()
    fp = run_fingerprint(plain, exclude=FINGERPRINT_EXCLUDE)
    return SpaGraphSettings(data=data, grid=grid, train=train, spa=spa, output=output,
                            fingerprint=tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in fp.items())))


def default_settings(*overrides: str) -> SpaGraphSettings:
    """The settings of ``configs/train.yaml`` composed with ``overrides`` (the library's way to the yaml's defaults)."""
    from apps.common.hydra_config import compose

    return settings_from_config(compose(APP, list(overrides)))


def row_variant(model: str, dataset: str, method: str, fidelity: str, budget: int) -> str:
    """The results rows' variant: ``gcn/citeseer/spa_official/b40``, baselines ``gcn/citeseer/pagerank@official/b40``."""
    return f"{model}/{dataset}/{method}{'@' + fidelity if fidelity else ''}/b{budget}"


class Recipe:
    """``Recipe(cfg_or_settings).run()``: everything is checked in ``__init__`` (settings, selectors) and at the
    start of ``run`` (the graph, the budgets against it) before the run folder is made."""

    def __init__(self, cfg):
        self.settings = cfg if isinstance(cfg, SpaGraphSettings) else settings_from_config(cfg)
        s = self.settings
        if s.grid.budgets is None:
            raise ConfigError(f"budget is not set and data={s.data.name} has no paper budgets: set budget=N or "
                              f"budget=[N1,N2]")
        if s.data.name == "file" and s.data.path is None:
            raise ConfigError("data=file needs data.path=PATH (a .pt or .npz graph, or a folder with edges.csv, "
                              "features.csv, labels.csv)")
        try:
            self.selectors = [build_selector(m, s.spa, s.grid.fidelity) for m in s.grid.methods]
        except ValueError as e:
            raise ConfigError(str(e)) from None

    def load(self):
        d, seed = self.settings.data, self.settings.grid.seed
        if d.name == "sbm":
            g = d.synthetic
            data = sbm_graph(g.num_nodes, g.num_blocks, g.avg_degree, g.p_in_fraction, seed=seed)
        elif d.name == "lfr":
            data = lfr_graph(d.synthetic.num_nodes, d.synthetic.mu, seed=seed)
        elif d.name == "file":
            data = load_graph_file(d.path, name=Path(d.path).stem or "file")
        else:
            data = load_dataset(d.name, d.root, allow_symlinks=d.allow_symlinks)
        if d.features == "row_normalized":
            data = row_normalized(data)
        return data

    def grid(self, data=None, on_row=None) -> tuple[list[dict], SelectionContext]:
        """Run the grid the settings describe on ``data`` (default: ``load()``) without writing anything -> (one row
        per (budget, method, seed), the selection context). The CLI (``run``) and the benchmark both come here."""
        s = self.settings
        data = self.load() if data is None else data
        for b in s.grid.budgets:
            if b > data.num_labelled:
                raise ConfigError(f"budget={b} exceeds the {data.num_labelled} nodes with a label in {data.name}")
        ctx = SelectionContext(data, train=s.train)
        rows = run_grid(data, self.selectors, s.grid.budgets, s.grid.seeds, s.train, seed=s.grid.seed,
                        eval_on=s.grid.eval_on, on_row=on_row, ctx=ctx)
        return rows, ctx

    def run_dir(self) -> Path:
        o = self.settings.output
        if o.run_dir:
            return Path(o.run_dir)
        return default_run_dir(APP, dict(self.settings.fingerprint))

    def run(self) -> list[dict]:
        from apps.common.cli import print_summary
        from apps.spa_graph.plots import draw_selection, plot_vs_budget
        from apps.spa_graph.scan import scan

        s = self.settings
        torch.set_num_threads(s.output.threads)
        seed_everything(s.grid.seed)             # every selector and model also takes its own seed explicitly
        data = self.load()
        print(f"{data.name}: {data.num_nodes} nodes ({data.num_labelled} with a label), {data.num_edges} edges, "
              f"{data.num_classes} classes", flush=True)
        for note in data.notes:
            print(f"  note: {note}")
        for b in s.grid.budgets:
            if b > data.num_labelled:
                raise ConfigError(f"budget={b} exceeds the {data.num_labelled} nodes with a label in {data.name}")
        out = self.run_dir()
        out.mkdir(parents=True, exist_ok=True)      # only once the config and the data are valid
        plain = {k: json.loads(v) for k, v in s.fingerprint}
        used = json.loads(json.dumps({k: v for k, v in dataclasses.asdict(s).items() if k != "fingerprint"}))
        atomic_write_text(out / "config.yaml", "# the settings this run used (budgets and method aliases resolved)\n"
                          + yaml.safe_dump(used, sort_keys=False))
        writer = ResultsWriter(out / "results.jsonl")
        rows_out: list[dict] = []
        model = s.train.model

        def on_row(r):
            name = r["method"] + (f"@{r['fidelity']}" if r["fidelity"] else "")
            print(f"  {name:<24} b={r['budget']:<4} seed={r['seed']}: grouped F1 {100 * r['grouped_macro_f1']:.1f} "
                  f"F1 {100 * r['macro_f1']:.1f} acc {100 * r['accuracy']:.1f} query {r['query_s']:.3f}s "
                  f"train {r['train_s']:.1f}s", flush=True)
            var = row_variant(model, r["dataset"], r["method"], r["fidelity"], r["budget"])
            common = dict(dataset=r["dataset"], method=r["method"], fidelity=r["fidelity"], budget=r["budget"],
                          model=model, eval_on=s.grid.eval_on, epochs=s.train.epochs, dropout=s.train.dropout)
            for metric in ("accuracy", "macro_f1", "grouped_macro_f1"):
                rows_out.append(dict(app=APP, variant=var, metric=metric, value=r[metric], suite=s.output.run_name,
                                     seed=r["seed"], **common))
            rows_out.append(dict(app=APP, variant=var, metric="query_time", value=r["query_s"], unit="s",
                                 suite=s.output.run_name, seed=r["seed"], **common))

        t0 = time.perf_counter()
        rows, ctx = self.grid(data, on_row)
        summary = summarize(rows)
        for c in summary:
            var = row_variant(model, c["dataset"], c["method"], c["fidelity"], c["budget"])
            for metric in ("accuracy", "macro_f1", "grouped_macro_f1", "query_s"):
                rows_out.append(dict(app=APP, variant=var, metric=f"{metric}_mean", value=c[f"{metric}_mean"],
                                     suite=s.output.run_name, std=c[f"{metric}_std"], n=c["n"], dataset=c["dataset"],
                                     method=c["method"], fidelity=c["fidelity"], budget=c["budget"], model=model))
        writer.write_records(rows_out)
        table = format_table(summary)
        print(table)
        chance = majority_macro_f1(data)
        best = max(summary, key=lambda c: c["macro_f1_mean"])
        atomic_write_json(out / "summary.json", {
            "status": "finished", "app": APP, "dataset": data.name, "model": model, "fidelity": s.grid.fidelity,
            "budgets": list(s.grid.budgets), "methods": list(s.grid.methods), "seeds": s.grid.seeds,
            "seed": s.grid.seed, "wall_s": time.perf_counter() - t0, "majority_macro_f1": chance,
            "fingerprint_hash": fingerprint_hash(plain), "cells": summary})
        atomic_write_text(out / "table.txt", table + "\n")
        # the nodes each method picked (the ones to label), one line per (method, budget, seed)
        atomic_write_text(out / "selections.jsonl", "".join(
            json.dumps({k: r[k] for k in ("dataset", "method", "fidelity", "budget", "seed", "selected")}) + "\n"
            for r in rows))
        if s.output.plot:
            plot_vs_budget(summary, out / f"{data.name}_vs_budget.png", f"{data.name} ({model}, {s.grid.eval_on})")
            if data.num_nodes <= s.output.draw_max_nodes:
                res = scan(data.adj, s.spa.eps, s.spa.mu, s.spa.include_self)
                sel = next((x for x in self.selectors if x.name in SPA_METHODS), self.selectors[0])
                picks = sel.select(ctx, s.grid.budgets[0], s.grid.seed)
                draw_selection(data.adj, res.labels, picks, out / f"{data.name}_communities_{sel.name}.png",
                               f"{data.name}: {res.num_clusters} SCAN clusters, {sel.name} b={s.grid.budgets[0]}")
            else:
                print(f"  (communities drawing skipped: {data.num_nodes} nodes > draw_max_nodes="
                      f"{s.output.draw_max_nodes})")
        spa = [c for c in summary if c["method"] == "spa_official"]
        metrics = {"best": f"{best['method']} b={best['budget']} macro-F1 {100 * best['macro_f1_mean']:.1f}"}
        if spa:
            last = spa[-1]
            metrics[f"spa_official b={last['budget']} grouped macro-F1"] = round(100 * last["grouped_macro_f1_mean"], 1)
        print_summary("spa", run_dir=out, metrics=metrics,
                      next_step=f"python -m apps.spa_graph.report {out / 'results.jsonl'}",
                      not_learned=None if best["macro_f1_mean"] > chance + 1e-9 else
                      f"no method beat the majority-class macro-F1 ({100 * chance:.1f}): the models learned nothing "
                      f"at this size (more epochs or a larger budget?)")
        return rows
