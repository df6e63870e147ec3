"""``PrunerSettings``: a pruning config section (``core/configs/pruning/<policy>.yaml``) read and validated once.

    r = ConfigReader(plain_config)
    ps = PrunerSettings.from_reader(r, "pruning")         # reads pruning.policy, the shared keys, the policy's own
    pruner = ps.build(num_items, num_epochs=E, seed_offset=trainer_seed)

The section's keys: ``policy`` (a registered name), the schedule every policy shares (``keep``, ``warmup_epochs``,
``anneal``, ``seed``), for score policies ``ema``, ``score_pass``, ``rescore_every``, ``rescore_fraction``, and the
policy's own parameters (its dataclass fields: ``epsilon``, ``ucb_c``, ``infobatch_ratio``). Every key is required
(the yaml holds the one default) and validated once, by the object that uses it (``DataPruner`` / the policy), with
the error naming ``pruning.<key>``. A key another policy has (``pruning.epsilon`` under ``dynamic_random``) is
left unread, so ``check_consumed`` names it: a setting is used or rejected. ``keep`` must be 1.0 for the policies
that decide their own kept count (``full``, ``infobatch``).
"""
from __future__ import annotations

from dataclasses import dataclass

from core.settings import ConfigError, ConfigReader

from .policies import Policy, get_policy, policy_names
from .pruner import DataPruner

__all__ = ["PrunerSettings"]

_SCORED_KEYS = ("ema", "score_pass", "rescore_every", "rescore_fraction")


@dataclass(frozen=True)
class PrunerSettings:
    policy: Policy
    keep: float
    warmup_epochs: int
    anneal: float
    seed: int
    ema: float | None = None
    score_pass: bool = False
    rescore_every: int = 0
    rescore_fraction: float = 0.0

    @classmethod
    def from_reader(cls, r: ConfigReader, prefix: str = "pruning") -> PrunerSettings:
        p = f"{prefix}." if prefix else ""
        name = r.choice(f"{p}policy", policy_names())
        pcls = get_policy(name)
        params = {k: r.get(f"{p}{k}") for k in pcls.param_names()}
        common = {k: r.get(f"{p}{k}") for k in ("keep", "warmup_epochs", "anneal", "seed")}
        scored = {k: r.get(f"{p}{k}") for k in _SCORED_KEYS} if pcls.uses_scores else {}
        try:
            policy = pcls(**params)
            s = cls(policy=policy, **common, **scored)
            s.build(2, num_epochs=max(2, int(s.warmup_epochs) + 2))     # validates every value (no data touched)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{p}{e}") from None
        if not policy.keeps_exactly or name == "full":
            if s.keep != 1.0:
                raise ConfigError(f"{p}keep={s.keep!r}: policy {name!r} decides its own kept count; set {p}keep=1.0")
        return s

    def build(self, num_items: int, *, num_epochs: int | None, seed_offset: int = 0) -> DataPruner:
        """The pruner for ``num_items`` items (its seed: ``seed + seed_offset``, e.g. the run's seed)."""
        return DataPruner(num_items, self.keep, self.policy, num_epochs=num_epochs, anneal=self.anneal,
                          warmup_epochs=self.warmup_epochs, seed=int(self.seed) + int(seed_offset), ema=self.ema,
                          score_pass=bool(self.score_pass), rescore_every=self.rescore_every or 0,
                          rescore_fraction=self.rescore_fraction or 0.0)

    @property
    def name(self) -> str:
        return self.policy.name
