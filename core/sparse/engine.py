"""DynamicSparsity: masks on weights, kept exact through training, with SET/RigL topology updates.

Usage::

    sparsity = DynamicSparsity(model, density=0.1, init="erk", grow="gradient", update_every=100, end_step=7500)
    sparsity.attach(optimizer)          # after every optimizer.step(): weights and optimizer state masked
    for batch in loader:
        optimizer.zero_grad(); loss(model, batch).backward(); optimizer.step()
        sparsity.step()                 # topology update when due

Invariants (tested): pruned weights are exactly zero after every step and their optimizer state
(SGD momentum, Adam moments, any state tensor of the weight's shape) is zero, so momentum cannot
revive them; per-layer active counts never change; regrown weights start at exactly zero with
zeroed optimizer state.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.distributed as dist
from torch import nn

from core.schedules import SCHEDULES, Constant, Cosine, Schedule, make_schedule
from core.sparse import criteria as C
from core.sparse.density import dense_first_last_densities, erk_densities, layer_counts, uniform_densities
from core.sparse.targets import select_targets
from core.validation import check_choice, check_fraction, check_nonneg_int, check_positive_int

__all__ = ["DynamicSparsity", "INITS", "make_drop_fraction"]

INITS = ("erk", "uniform", "dense_first_last")


def make_drop_fraction(drop_fraction, end_step: int | None) -> Schedule:
    """float | Schedule | schedule name | ``{"schedule": name, **kw}`` -> Schedule.

    A name or mapping without ``total_steps`` runs over ``end_step`` steps. ``None`` gives the RigL default
    ``Cosine(0.3, 0.0, end_step)`` (``Constant(0.3)`` without an end step).
    """
    if drop_fraction is None:
        return Cosine(0.3, 0.0, end_step) if end_step else Constant(0.3)
    if isinstance(drop_fraction, Schedule):
        return drop_fraction
    if isinstance(drop_fraction, bool):
        raise ValueError(f"drop_fraction={drop_fraction!r} must be a number in [0, 1], a schedule name or a Schedule")
    if isinstance(drop_fraction, (int, float)):
        return Constant(check_fraction("drop_fraction", drop_fraction, low_open=False))
    if isinstance(drop_fraction, str):
        drop_fraction = {"schedule": drop_fraction}
    if isinstance(drop_fraction, Mapping):
        kw = dict(drop_fraction)
        name = kw.pop("schedule", kw.pop("name", None))
        check_choice("drop_fraction schedule", name, tuple(SCHEDULES))
        if name == "constant":
            kw.setdefault("value", kw.get("start", 0.3))
        else:
            kw.setdefault("start", 0.3)
            kw.setdefault("end", 0.0)
            if "total_steps" not in kw:
                if not end_step:
                    raise ValueError(f"drop_fraction schedule {name!r} needs end_step (or total_steps) to be set")
                kw["total_steps"] = end_step
        for key in ("value", "start", "end"):
            if key in kw:
                check_fraction(f"drop_fraction {key}", kw[key], low_open=False)
        return make_schedule(name, **kw)
    raise ValueError(
        f"drop_fraction={drop_fraction!r} must be a number in [0, 1], a schedule name "
        f"({', '.join(SCHEDULES)}), a mapping {{schedule: ..., start: ..., end: ...}} or a Schedule"
    )


class DynamicSparsity:
    """Sparse masks on the weights of ``targets`` (default: all Conv*/Linear), updated every ``update_every`` steps.

    Args:
        density: global fraction of active weights in (0, 1].
        init: per-layer densities: "erk" (RigL Erdős–Rényi-kernel), "uniform", "dense_first_last".
            Ignored when ``densities`` (``{name: density}``) is given.
        granularity: "weight" (one bit per weight) or "kernel" (one bit per (out, in) kernel of a ConvNd).
        prune: "magnitude". grow: "random" (SET), "gradient" (RigL), "none" (static masks).
        drop_fraction: float, Schedule, schedule name or ``{"schedule": ..., "start": ..., "end": ...}``
            (fraction of each layer's active entries replaced at an update; default Cosine(0.3, 0, end_step)).
        update_every: steps between topology updates; end_step: last step that may update (None: never stop).
        seed: seeds the generator of the initial masks and of random growth.
    """

    def __init__(
        self,
        model: nn.Module,
        density: float = 0.1,
        *,
        init: str = "erk",
        granularity: str = "weight",
        prune: str = "magnitude",
        grow: str = "random",
        drop_fraction=None,
        update_every: int = 100,
        end_step: int | None = None,
        targets: None | str | Sequence[str] | Callable[[str, nn.Module], bool] = None,
        seed: int = 0,
        densities: Mapping[str, float] | None = None,
        erk_power_scale: float = 1.0,
        _init_masks: Mapping[str, torch.Tensor] | None = None,  # from_masks: given masks instead of random ones
    ):
        # --- validate everything before touching the model ---
        self.target_density = check_fraction("density", density)
        self.init = check_choice("init", init, INITS)
        self.granularity = check_choice("granularity", granularity, C.GRANULARITIES)
        self.prune = check_choice("prune", prune, C.PRUNE_CRITERIA)
        self.grow = check_choice("grow", grow, C.GROW_CRITERIA)
        self.update_every = check_positive_int("update_every", update_every)
        self.end_step = None if end_step is None else check_nonneg_int("end_step", end_step)
        self.drop_fraction = make_drop_fraction(drop_fraction, self.end_step)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed={seed!r} must be an int")
        self.seed = seed
        self.model = model
        self.modules = select_targets(model, targets)
        self.names = list(self.modules)
        for name, m in self.modules.items():
            if self.granularity == "kernel" and m.weight.dim() < 2:
                raise ValueError(f"granularity='kernel' needs weights with >= 2 dims; {name!r} has shape {tuple(m.weight.shape)}")
        shapes = {n: tuple(m.weight.shape) for n, m in self.modules.items()}
        if densities is not None:
            unknown = sorted(set(densities) - set(shapes))
            missing = sorted(set(shapes) - set(densities))
            if unknown or missing:
                raise ValueError(f"densities keys must be the target layers {self.names}; unknown: {unknown}, missing: {missing}")
            self.layer_densities = {n: check_fraction(f"densities[{n!r}]", densities[n]) for n in self.names}
        elif self.init == "erk":
            self.layer_densities = erk_densities(shapes, self.target_density, power_scale=erk_power_scale)
        elif self.init == "uniform":
            self.layer_densities = uniform_densities(shapes, self.target_density)
        else:
            self.layer_densities = dense_first_last_densities(shapes, self.target_density)

        # --- state ---
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self._step = 0
        self._hooks: list = []
        self._masks: dict[str, torch.Tensor] = {}
        self._fmasks: dict[str, torch.Tensor] = {}  # weight-shaped, weight dtype: what the hook multiplies by
        self._version = 0  # bumped whenever the float masks change (the hooks cache them)
        mshapes = {n: C.mask_shape(s, self.granularity) for n, s in shapes.items()}
        numels = {n: int(torch.Size(s).numel()) for n, s in mshapes.items()}
        if _init_masks is None:
            counts = layer_counts(numels, self.layer_densities)
            masks = {n: C.random_mask(mshapes[n], counts[n], self.generator, self.modules[n].weight.device)
                     for n in self.names}
        else:
            masks = _init_masks
        self._set_masks(masks)
        self._broadcast_masks()
        self.apply_masks()

    # ------------------------------------------------------------------ masks
    def _weight_view(self, name: str, mask: torch.Tensor) -> torch.Tensor:
        """Mask-shaped -> weight-shaped (a broadcast view for "kernel")."""
        w = self.modules[name].weight
        if mask.shape == w.shape:
            return mask
        return mask.reshape(tuple(mask.shape) + (1,) * (w.dim() - mask.dim())).expand_as(w)

    def _set_masks(self, masks: Mapping[str, torch.Tensor]) -> None:
        for name in self.names:
            w = self.modules[name].weight
            m = masks[name].to(device=w.device, dtype=torch.bool)
            self._masks[name] = m
            self._fmasks[name] = self._weight_view(name, m).to(w.dtype).contiguous()
        self._version += 1

    def _sync_devices(self) -> None:
        """Follow the weights if the model was moved (``model.to(...)``) after construction."""
        for name in self.names:
            w = self.modules[name].weight
            fm = self._fmasks[name]
            if fm.device != w.device or fm.dtype != w.dtype:
                self._masks[name] = self._masks[name].to(w.device)
                self._fmasks[name] = fm.to(device=w.device, dtype=w.dtype)
                self._version += 1

    def _broadcast_masks(self) -> None:
        """Rank 0's masks on every rank (one flat uint8 broadcast); no-op without a process group."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return
        from core.training.distributed import broadcast_

        flat = torch.cat([self._masks[n].reshape(-1).to(torch.uint8).cpu() for n in self.names])
        broadcast_(flat, src=0)
        out, i = {}, 0
        for n in self.names:
            m = self._masks[n]
            out[n] = flat[i : i + m.numel()].view(m.shape).bool()
            i += m.numel()
        self._set_masks(out)

    @property
    def masks(self) -> dict[str, torch.Tensor]:
        """``{name: bool mask}``: weight-shaped ("weight") or ``(out, in)`` ("kernel"). Do not modify in place."""
        return dict(self._masks)

    def weight_mask(self, name: str) -> torch.Tensor:
        """Weight-shaped bool mask of layer ``name``."""
        if name not in self._masks:
            raise ValueError(f"unknown layer {name!r}; valid choices: {', '.join(self.names)}")
        return self._weight_view(name, self._masks[name])

    @torch.no_grad()
    def apply_masks(self) -> None:
        """``weight *= mask`` for every target (no grad)."""
        self._sync_devices()
        ws = [self.modules[n].weight for n in self.names]
        torch._foreach_mul_(ws, [self._fmasks[n] for n in self.names])

    # ------------------------------------------------------------------ optimizer
    def attach(self, optimizer: torch.optim.Optimizer) -> "DynamicSparsity":
        """Register a step post-hook on ``optimizer``: after every ``optimizer.step()`` the masked weights
        and every optimizer state tensor of a weight's shape (momentum_buffer, exp_avg, exp_avg_sq,
        max_exp_avg_sq, ...) are multiplied by the mask. ValueError if the optimizer holds no target weight."""
        if any(opt is optimizer for opt, _, _ in self._hooks):
            return self  # already attached: one hook per optimizer
        by_id = {id(self.modules[n].weight): n for n in self.names}
        mine = []
        for group in optimizer.param_groups:
            for p in group["params"]:
                if id(p) in by_id:
                    mine.append((by_id[id(p)], p))
        if not mine:
            raise ValueError(f"optimizer {type(optimizer).__name__} holds none of the target weights {self.names}")
        names = [n for n, _ in mine]
        params = [p for _, p in mine]
        # The tensor lists are rebuilt only when the masks change or any state tensor object is new or gone
        # (first steps, optimizer.load_state_dict, an optimizer that replaces its state): checked by identity.
        cache = {"version": -1, "masks": [], "ids": None, "tensors": [], "fmasks": []}

        def hook(opt, args, kwargs) -> None:
            # hot path (every step): one fused in-place multiply over weights and their state tensors
            state = opt.state  # not captured: load_state_dict replaces the optimizer's state dict
            sts = [state.get(p) for p in params]
            ids = [tuple(map(id, st.values())) if st else () for st in sts]
            if (cache["version"] != self._version or ids != cache["ids"]
                    or params[0].device != cache["masks"][0].device):
                self._sync_devices()
                pmasks = [self._fmasks[n] for n in names]
                tensors, masks = list(params), list(pmasks)
                for p, m, st in zip(params, pmasks, sts):
                    for v in (st.values() if st else ()):
                        if isinstance(v, torch.Tensor) and v.shape == p.shape:
                            tensors.append(v)
                            masks.append(m if v.dtype == m.dtype else m.to(v.dtype))
                cache.update(version=self._version, masks=pmasks, ids=ids, tensors=tensors, fmasks=masks)
            prev = torch.is_grad_enabled()
            torch._C._set_grad_enabled(False)
            try:
                torch._foreach_mul_(cache["tensors"], cache["fmasks"])
            finally:
                torch._C._set_grad_enabled(prev)

        self._hooks.append((optimizer, names, optimizer.register_step_post_hook(hook)))
        return self

    def detach(self) -> None:
        """Remove every optimizer hook."""
        for _, _, h in self._hooks:
            h.remove()
        self._hooks.clear()

    @torch.no_grad()
    def _zero_state(self, name: str, keep: torch.Tensor) -> None:
        """Multiply the optimizer state of layer ``name`` by the weight-shaped float ``keep``."""
        p = self.modules[name].weight
        for opt, _, _ in self._hooks:
            st = opt.state.get(p)
            if st:
                for v in st.values():
                    if isinstance(v, torch.Tensor) and v.shape == p.shape:
                        v.mul_(keep.to(v.dtype))

    # ------------------------------------------------------------------ topology
    @property
    def step_count(self) -> int:
        return self._step

    def is_update_step(self, step: int) -> bool:
        """Whether ``step`` (1-based count of optimizer steps) updates the topology."""
        if self.grow == "none" or step % self.update_every != 0:
            return False
        return self.end_step is None or step < self.end_step

    def step(self) -> bool:
        """Count one training step (call after ``optimizer.step()``); update the topology when due. True if it did."""
        self._step += 1
        if not self.is_update_step(self._step):
            return False
        self.update_topology()
        return True

    @torch.no_grad()
    def update_topology(self, drop_fraction: float | None = None) -> dict[str, int]:
        """Drop the smallest-magnitude active entries and regrow as many (random or by |grad|) in every
        layer; regrown weights and their optimizer state start at zero. Returns ``{name: n_replaced}``."""
        if self.grow == "none":
            return {n: 0 for n in self.names}
        self._sync_devices()
        f = self.drop_fraction(self._step) if drop_fraction is None else float(drop_fraction)
        new_masks, replaced = {}, {}
        for name in self.names:
            w = self.modules[name].weight
            mask = self._masks[name]
            active = int(mask.sum())
            n_drop = min(int(round(f * active)), mask.numel() - active)
            if self.grow == "random":  # draw even when n_drop == 0 so the generator advances identically
                g = C.random_score(tuple(mask.shape), self.generator, mask.device)
            if n_drop <= 0:
                new_masks[name], replaced[name] = mask, 0
                continue
            if self.grow == "gradient":
                g = C.gradient_score(w, self.granularity)
            p = C.magnitude_score(w, self.granularity)
            new_masks[name] = C.prune_and_grow(mask, p, g, n_drop)
            replaced[name] = n_drop
        old = dict(self._masks)
        self._set_masks(new_masks)
        self._broadcast_masks()
        for name in self.names:
            keep = self._weight_view(name, old[name] & self._masks[name]).to(self.modules[name].weight.dtype)
            self.modules[name].weight.mul_(keep)  # pruned and regrown entries -> exactly 0
            self._zero_state(name, keep)
        return replaced

    # ------------------------------------------------------------------ reports
    def report(self) -> list[dict]:
        """Per layer: ``{name, shape, numel, nonzero, density}`` (nonzero = active weights under the mask)."""
        rows = []
        for n in self.names:
            w = self.modules[n].weight
            nz = int(self._weight_view(n, self._masks[n]).sum())
            rows.append(dict(name=n, shape=tuple(w.shape), numel=w.numel(), nonzero=nz, density=nz / w.numel()))
        return rows

    def densities(self) -> dict[str, float]:
        return {r["name"]: r["density"] for r in self.report()}

    def density(self) -> float:
        """Global fraction of active weights over all targets."""
        rows = self.report()
        return sum(r["nonzero"] for r in rows) / sum(r["numel"] for r in rows)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {
            "masks": {n: m.detach().cpu().clone() for n, m in self._masks.items()},
            "step": self._step,
            "generator": self.generator.get_state(),
            "granularity": self.granularity,
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Restore masks, step and generator; ValueError naming the layer if names or shapes differ."""
        for key in ("masks", "step", "generator"):
            if key not in state:
                raise ValueError(f"sparsity state_dict lacks {key!r}; keys: {sorted(state)}")
        if state.get("granularity", self.granularity) != self.granularity:
            raise ValueError(f"state_dict granularity {state['granularity']!r} != this engine's {self.granularity!r}")
        masks = state["masks"]
        unknown = sorted(set(masks) - set(self.names))
        missing = sorted(set(self.names) - set(masks))
        if unknown or missing:
            raise ValueError(f"sparsity state_dict does not match this model: unknown layers {unknown}, missing layers {missing}")
        for n in self.names:
            if tuple(masks[n].shape) != tuple(self._masks[n].shape):
                raise ValueError(
                    f"sparsity state_dict layer {n!r} has mask shape {tuple(masks[n].shape)}, "
                    f"this model needs {tuple(self._masks[n].shape)}"
                )
        self._set_masks(masks)
        self._step = int(state["step"])
        self.generator.set_state(state["generator"])
        self.apply_masks()

    # ------------------------------------------------------------------ static masks
    @classmethod
    def from_masks(cls, model: nn.Module, masks: Mapping[str, torch.Tensor], *, grow: str = "none", **kw) -> "DynamicSparsity":
        """Sparsity from given bool masks (``{module name: mask}``, weight-shaped, or ``(out, in)`` with
        ``granularity="kernel"``), e.g. hardened soft masks. Static unless ``grow`` is given."""
        if not masks:
            raise ValueError("from_masks needs at least one mask")
        modules = dict(model.named_modules())
        unknown = [n for n in masks if n not in modules or not isinstance(getattr(modules[n], "weight", None), nn.Parameter)]
        if unknown:
            names = [n for n, m in modules.items() if n and isinstance(getattr(m, "weight", None), nn.Parameter)]
            raise ValueError(f"from_masks: no module with a weight named {unknown}; modules with weights: {names[:12]}")
        for bad in ("targets", "densities", "density", "init"):
            if bad in kw:
                raise ValueError(f"from_masks takes the layers and densities from the masks; do not pass {bad!r}")
        gran = kw.get("granularity", "weight")
        check_choice("granularity", gran, C.GRANULARITIES)
        for n, m in masks.items():
            want = C.mask_shape(modules[n].weight.shape, gran)
            if tuple(m.shape) != want:
                raise ValueError(f"from_masks: mask {n!r} has shape {tuple(m.shape)}, granularity={gran!r} needs {want}")
        names = set(masks)
        dens = {n: max(float(m.float().mean()), 1e-12) for n, m in masks.items()}
        obj = cls(model, 1.0, grow=grow, targets=lambda n, m: n in names, densities={n: min(d, 1.0) for n, d in dens.items()},
                  init="uniform", _init_masks={n: m.detach().clone() for n, m in masks.items()}, **kw)
        obj.target_density = obj.density()
        obj.layer_densities = obj.densities()
        return obj

    def __repr__(self) -> str:
        return (f"DynamicSparsity(layers={len(self.names)}, density={self.density():.4f}, granularity={self.granularity!r}, "
                f"grow={self.grow!r}, update_every={self.update_every}, end_step={self.end_step}, step={self._step})")
