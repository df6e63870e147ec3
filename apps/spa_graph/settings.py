"""The typed settings of a spa_graph run: frozen dataclasses built once from the composed config by
``recipe.settings_from_config`` (the one reader of the config). Each dataclass validates its own fields in
``__post_init__`` -- the one validation of each key, whose message names the config key -- so a value is checked the
same way whether it comes from the command line, a comparison set, the benchmark or Python.

Defaults live in the yaml (``configs/train.yaml`` and ``configs/data/*.yaml``) and nowhere else on the config path:
these dataclasses have none (``TrainConfig`` in ``protocol.py`` keeps keyword defaults for library callers; a test
holds them equal to the yaml).
"""
from __future__ import annotations

from dataclasses import dataclass

from apps.spa_graph.protocol import EVAL_ON, TrainConfig
from apps.spa_graph.scan import check_scan_params
from core.settings import ConfigError

__all__ = ["FIDELITY", "SPA_ORDERS", "SpaParams", "SyntheticSettings", "DataSettings", "GridSettings",
           "OutputSettings", "SpaGraphSettings", "DATA_NAMES"]

FIDELITY = ("official", "corrected")
SPA_ORDERS = ("size", "mass")
DATA_NAMES = ("citeseer", "cora", "pubmed", "minesweeper", "tolokers", "corafull", "wikics", "sbm", "lfr", "file")


def _int(key: str, v, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ConfigError(f"{key}={v!r} must be an integer >= {low}")
    return v


@dataclass(frozen=True)
class SpaParams:
    """SPA's parameters (the ``spa`` section): SCAN's eps and mu, its neighbourhood convention, PageRank's damping
    and, for ``spa_ranked``, the community order. eps's one validation is ``scan.check_scan_params``."""
    eps: float
    mu: int
    include_self: bool
    damping: float
    order: str

    def __post_init__(self):
        try:
            check_scan_params(self.eps, self.mu)
        except ValueError as e:
            raise ConfigError(f"spa.{e}") from None
        if not (0.0 <= self.damping < 1.0):
            raise ConfigError(f"spa.damping={self.damping} must be in [0, 1)")
        if self.order not in SPA_ORDERS:
            raise ConfigError(f"spa.order={self.order!r}; valid choices: {', '.join(SPA_ORDERS)}")


@dataclass(frozen=True)
class SyntheticSettings:
    """``data=sbm`` / ``data=lfr``: the generator's sizes (labels = planted blocks / communities)."""
    num_nodes: int
    num_blocks: int | None = None        # sbm only
    avg_degree: float | None = None      # sbm only
    p_in_fraction: float | None = None   # sbm only
    mu: float | None = None              # lfr only (mixing parameter)

    def __post_init__(self):
        _int("data.num_nodes", self.num_nodes, 2)
        if self.num_blocks is not None:
            _int("data.num_blocks", self.num_blocks, 1)
            if self.num_blocks > self.num_nodes:
                raise ConfigError(f"data.num_blocks={self.num_blocks} must be <= data.num_nodes={self.num_nodes}")
        if self.avg_degree is not None and not self.avg_degree > 0:
            raise ConfigError(f"data.avg_degree={self.avg_degree} must be > 0")
        if self.p_in_fraction is not None and not (0.0 <= self.p_in_fraction <= 1.0):
            raise ConfigError(f"data.p_in_fraction={self.p_in_fraction} must be in [0, 1]")
        if self.mu is not None and not (0.0 < self.mu < 1.0):
            raise ConfigError(f"data.mu={self.mu} must be in (0, 1)")


@dataclass(frozen=True)
class DataSettings:
    """Which graph (the ``data`` group): a packaged / PyG-layout dataset (``root``), your own file (``path``), or a
    synthetic graph; ``features`` raw or row-normalized; the paper's budgets for it (None: none)."""
    name: str
    root: str | None
    allow_symlinks: bool
    path: str | None
    features: str
    paper_budgets: tuple[int, ...] | None
    synthetic: SyntheticSettings | None

    def __post_init__(self):
        if self.name not in DATA_NAMES:
            raise ConfigError(f"data.name={self.name!r}; valid choices: {', '.join(DATA_NAMES)}")
        from apps.spa_graph.data.datasets import FEATURES

        if self.features not in FEATURES:
            raise ConfigError(f"features={self.features!r}; valid choices: {', '.join(FEATURES)}")
        if self.paper_budgets is not None:
            for b in self.paper_budgets:
                _int("data.paper_budgets[]", b, 1)
        if (self.name in ("sbm", "lfr")) != (self.synthetic is not None):
            raise ConfigError(f"data={self.name}: synthetic sizes are for sbm / lfr only")


@dataclass(frozen=True)
class GridSettings:
    """The comparison: methods, budgets, seeds (selection seed = model seed = seed + i), baseline fidelity,
    evaluation set."""
    methods: tuple[str, ...]
    budgets: tuple[int, ...] | None      # None: not set and the data has no paper budgets (Recipe asks for it)
    seeds: int
    seed: int
    fidelity: str
    eval_on: str

    def __post_init__(self):
        from apps.spa_graph.selectors import METHODS

        if not self.methods:
            raise ConfigError("methods is empty")
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ConfigError(f"methods: {bad} unknown; valid: {', '.join(METHODS)} or the aliases spa, paper, "
                              f"baselines, all")
        if self.budgets is not None and not self.budgets:
            raise ConfigError("budget is empty")
        for b in self.budgets or ():
            _int("budget", b, 1)
        _int("seeds", self.seeds, 1)
        _int("seed", self.seed, 0)
        if self.fidelity not in FIDELITY:
            raise ConfigError(f"fidelity={self.fidelity!r}; valid choices: {', '.join(FIDELITY)}")
        if self.eval_on not in EVAL_ON:
            raise ConfigError(f"eval_on={self.eval_on!r}; valid choices: {', '.join(EVAL_ON)}")


@dataclass(frozen=True)
class OutputSettings:
    """Where and how a run reports: the run folder (None: a unique outputs/spa_graph/<time>-<fingerprint>), the
    results rows' run name, plots, the largest graph drawn, torch threads."""
    run_dir: str | None
    run_name: str
    plot: bool
    draw_max_nodes: int
    threads: int

    def __post_init__(self):
        _int("draw_max_nodes", self.draw_max_nodes, 0)
        _int("threads", self.threads, 1)


@dataclass(frozen=True)
class SpaGraphSettings:
    data: DataSettings
    grid: GridSettings
    train: TrainConfig
    spa: SpaParams
    output: OutputSettings
    fingerprint: tuple = ()          # ((flat key, value), ...) of what identifies the run (run_fingerprint)

    def __post_init__(self):
        if "spa_official" in self.grid.methods and self.spa.include_self:
            raise ConfigError("spa.include_self=true: spa_official follows cdlib's convention (a node is not its own "
                              "eps-neighbour); use it with spa_ranked / spa_random_order only")
