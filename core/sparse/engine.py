"""DynamicSparsity: masks on weights, kept exact through training, with SET/RigL topology updates.

Usage::

    sparsity = DynamicSparsity(model, density=0.1, init="erk", grow="gradient", update_every=100, end_step=7500)
    sparsity.attach(optimizer)          # after every optimizer.step(): weights and optimizer state masked
    for batch in loader:
        optimizer.zero_grad(); loss(model, batch).backward(); optimizer.step()
        sparsity.step()                 # topology update when due

Targets are parameters (``core.sparse.targets``): Conv/Linear weights and attention's ``in_proj_weight`` by
default, any >= 2-D parameter by glob, optionally Q/K/V thirds as separate layers. What an update drops and grows
is decided by registered criteria (``core.sparse.criteria``); the exact-count step is ``core.sparse.topology``,
optimizer-state masking ``core.sparse.optimizer_masking``, the drop-fraction schedule ``core.sparse.drop_fraction``.

Invariants (tested): pruned weights are exactly zero after every step and their optimizer state
(SGD momentum, Adam moments, any state tensor of the weight's shape) is zero, so momentum cannot
revive them; per-layer active counts never change; regrown weights start at exactly zero with
zeroed optimizer state; a step the optimizer skipped (``GradScaler`` found inf/NaN) is not counted, and a
RigL update with non-finite gradients is skipped.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.distributed as dist
from torch import nn

from core.sparse import criteria as C
from core.sparse import topology as T
from core.sparse.density import allocate_densities, layer_counts
from core.sparse.drop_fraction import make_drop_fraction
from core.sparse.optimizer_masking import OptimizerMasking
from core.sparse.targets import SparseTarget, resolve_target, select_parameters
from core.validation import check_choice, check_fraction, check_nonneg_int, check_positive_int

__all__ = ["DynamicSparsity", "INITS", "make_drop_fraction"]   # make_drop_fraction: from core.sparse.drop_fraction

INITS = ("erk", "uniform", "dense_first_last")
_MAX_SEED = 2**62


class DynamicSparsity(OptimizerMasking):
    """Sparse masks on the target parameters (default: Conv*/Linear weights and attention ``in_proj_weight``),
    updated every ``update_every`` steps.

    Args:
        density: global fraction of active weights in (0, 1] (over the layers without a fixed density).
        init: per-layer densities: "erk" (RigL Erdős–Rényi-kernel), "uniform", "dense_first_last".
            Ignored when ``densities`` (``{name: density}``) is given.
        granularity: "weight" (one bit per weight) or "kernel" (one bit per (out, in) kernel of a ConvNd).
        prune: "magnitude". grow: "random" (SET), "gradient" (RigL), "none" (static masks). Names of registered
            criteria (``core.sparse.criteria``: a new one is a class plus ``@register_prune`` / ``@register_grow``)
            or criterion instances; ``.prune`` / ``.grow`` hold the names, ``.prune_criterion`` / ``.grow_criterion``
            the objects.
        drop_fraction: float, Schedule, schedule name or ``{"schedule": ..., "start": ..., "end": ...}``
            (fraction of each layer's active entries replaced at an update; default Cosine(0.3, 0, end_step)).
        update_every: steps between topology updates; end_step: last step that may update (None: never stop).
        targets: None, globs over parameter or module names, or ``callable(module_name, module)``
            (see ``core.sparse.targets.select_parameters``).
        split_qkv: an attention ``in_proj_weight`` becomes three layers ``[q]``, ``[k]``, ``[v]`` (own densities).
        first_layer_density, last_layer_density: RigL's ``first_layer_sparsity`` / ``last_layer_sparsity`` as
            densities: ``None`` (default) allocates the layer like the others; a number in (0, 1] fixes it
            (1.0: dense) and leaves it out of the budget (RigL's ``custom_sparsity_map``). First / last = first /
            last target in the model's parameter order.
        seed: seeds the generator of the initial masks and of every random draw of an update.
    """

    def __init__(
        self,
        model: nn.Module,
        density: float = 0.1,
        *,
        init: str = "erk",
        granularity: str = "weight",
        prune: str | C.PruneCriterion = "magnitude",
        grow: str | C.GrowCriterion = "random",
        drop_fraction=None,
        update_every: int = 100,
        end_step: int | None = None,
        targets: None | str | Sequence[str] | Callable[[str, nn.Module], bool] = None,
        seed: int = 0,
        densities: Mapping[str, float] | None = None,
        erk_power_scale: float = 1.0,
        split_qkv: bool = False,
        first_layer_density: float | None = None,
        last_layer_density: float | None = None,
        _targets: Mapping[str, SparseTarget] | None = None,      # from_masks: resolved targets
        _init_masks: Mapping[str, torch.Tensor] | None = None,  # from_masks: given masks instead of random ones
    ):
        # --- validate everything before touching the model ---
        self.target_density = check_fraction("density", density)
        self.init = check_choice("init", init, INITS)
        self.granularity = check_choice("granularity", granularity, T.GRANULARITIES)
        self.prune_criterion = C.make_prune(prune)
        self.grow_criterion = C.make_grow(grow)
        self.prune, self.grow = self.prune_criterion.name, self.grow_criterion.name
        self.update_every = check_positive_int("update_every", update_every)
        self.end_step = None if end_step is None else check_nonneg_int("end_step", end_step)
        self.drop_fraction = make_drop_fraction(drop_fraction, self.end_step)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed={seed!r} must be an int")
        self.seed = seed
        edge = {}
        for key, val in (("first_layer_density", first_layer_density), ("last_layer_density", last_layer_density)):
            if val is not None:
                edge[key] = check_fraction(key, val)
        if edge and (densities is not None or self.init == "dense_first_last"):
            raise ValueError(f"{', '.join(edge)} cannot be combined with "
                             f"{'densities' if densities is not None else 'init=dense_first_last'}; give one of them")
        self.model = model
        self.targets: dict[str, SparseTarget] = (dict(_targets) if _targets is not None
                                                 else select_parameters(model, targets, split_qkv=bool(split_qkv)))
        self.names = list(self.targets)
        self.modules = {n: t.module for n, t in self.targets.items()}  # owning modules (``.weight`` for most targets)
        self._pkeys: list[str] = []                  # parameter names, model order
        self._ptargets: dict[str, list[str]] = {}    # parameter name -> its target names
        for n, t in self.targets.items():
            if t.param_name not in self._ptargets:
                self._pkeys.append(t.param_name)
                self._ptargets[t.param_name] = []
            self._ptargets[t.param_name].append(n)
            if t.param.dim() < 2:
                raise ValueError(f"target {n!r} has shape {tuple(t.param.shape)}; masks need >= 2-D weights")
        shapes = {n: t.shape for n, t in self.targets.items()}
        if densities is not None:
            unknown = sorted(set(densities) - set(shapes))
            missing = sorted(set(shapes) - set(densities))
            if unknown or missing:
                raise ValueError(f"densities keys must be the target layers {self.names}; unknown: {unknown}, missing: {missing}")
            self.layer_densities = {n: check_fraction(f"densities[{n!r}]", densities[n]) for n in self.names}
        else:
            fixed = {}
            if "first_layer_density" in edge:
                fixed[self.names[0]] = edge["first_layer_density"]
            if "last_layer_density" in edge:
                if self.names[-1] in fixed and fixed[self.names[-1]] != edge["last_layer_density"]:
                    raise ValueError(f"the model has one target layer ({self.names[0]!r}): first_layer_density="
                                     f"{first_layer_density} and last_layer_density={last_layer_density} disagree")
                fixed[self.names[-1]] = edge["last_layer_density"]
            self.layer_densities = allocate_densities(shapes, self.target_density, self.init, fixed=fixed,
                                                      power_scale=erk_power_scale)
        self.first_layer_density = edge.get("first_layer_density")
        self.last_layer_density = edge.get("last_layer_density")

        # --- state ---
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self._step = 0
        self._hooks: list = []
        self._fired = 0            # optimizer steps (post-hook calls) since the last step()
        self.skipped_steps = 0     # step() calls after which no attached optimizer had stepped
        self.skipped_updates = 0   # due updates skipped because the gradients were not finite
        self._masks: dict[str, torch.Tensor] = {}
        self._fmasks: dict[str, torch.Tensor] = {}  # parameter name -> parameter-shaped float mask (the hook's)
        self._version = 0  # bumped whenever the float masks change (the hooks cache them)
        mshapes = {n: T.mask_shape(s, self.granularity) for n, s in shapes.items()}
        numels = {n: int(torch.Size(s).numel()) for n, s in mshapes.items()}
        if _init_masks is None:
            counts = layer_counts(numels, self.layer_densities)
            masks = {n: T.random_mask(mshapes[n], counts[n], self.generator, self.targets[n].param.device)
                     for n in self.names}
        else:
            masks = _init_masks
        self._set_masks(masks)
        self._broadcast_masks()
        self.apply_masks()

    # ------------------------------------------------------------------ masks
    def _param(self, pkey: str) -> torch.Tensor:
        return self.targets[self._ptargets[pkey][0]].param

    def _weight_view(self, name: str, mask: torch.Tensor) -> torch.Tensor:
        """Mask-shaped -> the target's weight shape (a broadcast view for "kernel")."""
        shape = self.targets[name].shape
        if tuple(mask.shape) == shape:
            return mask
        return mask.reshape(tuple(mask.shape) + (1,) * (len(shape) - mask.dim())).expand(shape)

    def _set_masks(self, masks: Mapping[str, torch.Tensor]) -> None:
        for name in self.names:
            self._masks[name] = masks[name].to(device=self.targets[name].param.device, dtype=torch.bool)
        for pkey in self._pkeys:
            w = self._param(pkey)
            tnames = self._ptargets[pkey]
            t0 = self.targets[tnames[0]]
            if len(tnames) == 1 and t0.rows is None:
                fm = self._weight_view(t0.name, self._masks[t0.name]).to(w.dtype).contiguous()
            else:  # row blocks (Q/K/V): rows no target covers stay unmasked
                fm = torch.ones_like(w, memory_format=torch.contiguous_format)
                for n in tnames:
                    self.targets[n].block(fm).copy_(self._weight_view(n, self._masks[n]))
            self._fmasks[pkey] = fm
        self._version += 1

    def _sync_devices(self) -> None:
        """Follow the weights if the model was moved (``model.to(...)``) after construction."""
        for pkey in self._pkeys:
            w = self._param(pkey)
            fm = self._fmasks[pkey]
            if fm.device != w.device or fm.dtype != w.dtype:
                for n in self._ptargets[pkey]:
                    self._masks[n] = self._masks[n].to(w.device)
                self._fmasks[pkey] = fm.to(device=w.device, dtype=w.dtype)
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

    def _canonical(self, name: str) -> str:
        """A target name from its name or its parameter name (``"fc1.weight"`` -> ``"fc1"``)."""
        if name in self.targets:
            return name
        for n, t in self.targets.items():
            if t.rows is None and t.param_name == name:
                return n
        raise ValueError(f"unknown layer {name!r}; valid choices: {', '.join(self.names)}")

    def weight_mask(self, name: str) -> torch.Tensor:
        """Bool mask of target ``name`` (or its parameter name) in the target's weight shape."""
        name = self._canonical(name)
        return self._weight_view(name, self._masks[name])

    def weight(self, name: str) -> torch.Tensor:
        """The weight of target ``name``: the parameter itself, or a view of its rows for a Q/K/V block."""
        t = self.targets[self._canonical(name)]
        return t.block(t.param)

    def parameter_masks(self) -> dict[str, torch.Tensor]:
        """``{parameter name: parameter-shaped bool mask}`` (Q/K/V blocks joined), e.g. for
        ``core.metrics.count_parameters(model, masks)``."""
        self._sync_devices()
        return {k: self._fmasks[k].bool() for k in self._pkeys}

    def float_mask(self, param: torch.Tensor) -> torch.Tensor | None:
        """Parameter-shaped float mask (1 active, 0 pruned) of ``param``, or None if it is not masked."""
        for k in self._pkeys:
            if self._param(k) is param:
                self._sync_devices()
                return self._fmasks[k]
        return None

    def masked_parameters(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``[(parameter, parameter-shaped float mask)]`` for every masked parameter, model order.

        Cached until the masks change (cheap enough to call every step, e.g. by ``clip_grad_norm_live``)."""
        cached = getattr(self, "_mp_cache", None)
        if (cached is None or cached[0] != self._version or cached[1][0][0] is not self._param(self._pkeys[0])
                or cached[1][0][0].device != cached[1][0][1].device or cached[1][0][0].dtype != cached[1][0][1].dtype):
            self._sync_devices()
            cached = (self._version, [(self._param(k), self._fmasks[k]) for k in self._pkeys])
            self._mp_cache = cached
        return list(cached[1])

    @torch.no_grad()
    def apply_masks(self) -> None:
        """``weight *= mask`` for every target (no grad)."""
        self._sync_devices()
        torch._foreach_mul_([self._param(k) for k in self._pkeys], [self._fmasks[k] for k in self._pkeys])

    # ------------------------------------------------------------------ topology
    @property
    def step_count(self) -> int:
        return self._step

    def is_update_step(self, step: int) -> bool:
        """Whether ``step`` (1-based count of optimizer steps) updates the topology."""
        if not self.grow_criterion.updates or step % self.update_every != 0:
            return False
        return self.end_step is None or step < self.end_step

    def _grads_finite(self) -> bool:
        grads = [self._param(k).grad for k in self._pkeys]
        grads = [g for g in grads if g is not None]
        if not grads:
            return True
        return bool(torch.isfinite(torch.stack([n.float() for n in torch._foreach_norm(grads, float("inf"))])).all())

    def step(self) -> bool:
        """Count one training step (call after ``optimizer.step()``); update the topology when due. True if it did.

        When attached, a call after which no attached optimizer stepped (``GradScaler`` skipped the step because
        of inf/NaN gradients) does not count: it returns False and adds one to ``skipped_steps``. A due update
        while any target's gradient is not finite is skipped (``skipped_updates``); the step still counts.
        """
        if self._hooks:
            if self._fired == 0:
                self.skipped_steps += 1
                return False
            self._fired = 0
        self._step += 1
        if not self.is_update_step(self._step):
            return False
        if not self._grads_finite():  # inf/NaN gradients: this step's weights and scores are not trustworthy
            self.skipped_updates += 1
            return False
        self.update_topology()
        return True

    @torch.no_grad()
    def update_topology(self, drop_fraction: float | None = None) -> dict[str, int]:
        """In every layer, drop the active entries the prune criterion scores lowest and grow as many inactive ones
        (inactive before this update) the grow criterion scores highest, or at random when it gives no scores;
        regrown weights and their optimizer state start at zero. Returns ``{name: n_replaced}``.

        Random draws (growth, ties) happen on each weight's device with a generator seeded by one draw from
        ``self.generator`` per update, so the engine's checkpointed CPU generator fixes them all."""
        if not self.grow_criterion.updates:
            return {n: 0 for n in self.names}
        self._sync_devices()
        f = self.drop_fraction(self._step) if drop_fraction is None else float(drop_fraction)
        seed = int(torch.randint(0, _MAX_SEED, (1,), generator=self.generator))
        gens: dict[torch.device, torch.Generator] = {}
        new_masks, replaced = {}, {}
        for name in self.names:
            t = self.targets[name]
            mask = self._masks[name]
            active = int(mask.sum())
            n_drop = min(int(round(f * active)), mask.numel() - active)
            if n_drop <= 0:
                new_masks[name], replaced[name] = mask, 0
                continue
            w = t.block(t.param)
            grad = None if t.param.grad is None else t.block(t.param.grad)
            if mask.device not in gens:
                gens[mask.device] = C.device_generator(seed, mask.device)
            p = self.prune_criterion.score(w, grad, self.granularity)
            g = self.grow_criterion.score(w, grad, self.granularity)
            new_masks[name] = T.prune_and_grow(mask, p, g, n_drop, generator=gens[mask.device])
            replaced[name] = n_drop
        old = dict(self._masks)
        self._set_masks(new_masks)
        self._broadcast_masks()
        for name in self.names:
            t = self.targets[name]
            w = t.param
            keep = self._weight_view(name, old[name] & self._masks[name]).to(w.dtype)
            t.block(w).mul_(keep)  # pruned and regrown entries -> exactly 0
            self._zero_state(name, keep)
        return replaced

    # ------------------------------------------------------------------ reports
    def report(self) -> list[dict]:
        """Per target: ``{name, param, shape, numel, nonzero, density}`` (nonzero = active weights under the mask)."""
        rows = []
        for n in self.names:
            t = self.targets[n]
            shape = t.shape
            numel = int(torch.Size(shape).numel())
            nz = int(self._weight_view(n, self._masks[n]).sum())
            rows.append(dict(name=n, param=t.param_name, shape=shape, numel=numel, nonzero=nz, density=nz / numel))
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
            "skipped_steps": self.skipped_steps,
            "skipped_updates": self.skipped_updates,
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Restore masks, step and generator; ValueError naming the layer if names or shapes differ.
        Mask keys may be target names or the parameters' names (``"fc1.weight"`` for ``"fc1"``)."""
        for key in ("masks", "step", "generator"):
            if key not in state:
                raise ValueError(f"sparsity state_dict lacks {key!r}; keys: {sorted(state)}")
        if state.get("granularity", self.granularity) != self.granularity:
            raise ValueError(f"state_dict granularity {state['granularity']!r} != this engine's {self.granularity!r}")
        alias = {t.param_name: n for n, t in self.targets.items() if t.rows is None}
        masks = {alias.get(k, k) if k not in self.targets else k: v for k, v in state["masks"].items()}
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
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.skipped_updates = int(state.get("skipped_updates", 0))
        self._fired = 0
        self.apply_masks()

    # ------------------------------------------------------------------ static masks
    @classmethod
    def from_masks(cls, model: nn.Module, masks: Mapping[str, torch.Tensor], *, grow: str = "none", **kw) -> "DynamicSparsity":
        """Sparsity from given bool masks, e.g. hardened soft masks. Keys: target names (a module name for its
        ``weight``, a parameter name such as ``"layers.0.self_attn.in_proj_weight"``, or ``"<param>[q|k|v]"``);
        values weight-shaped, or ``(out, in)`` with ``granularity="kernel"``. Static unless ``grow`` is given."""
        if not masks:
            raise ValueError("from_masks needs at least one mask")
        for bad in ("targets", "densities", "density", "init", "split_qkv", "first_layer_density", "last_layer_density"):
            if bad in kw:
                raise ValueError(f"from_masks takes the layers and densities from the masks; do not pass {bad!r}")
        targets: dict[str, SparseTarget] = {}
        given: dict[str, torch.Tensor] = {}
        for key, m in masks.items():
            try:
                t = resolve_target(model, key)
            except ValueError as e:
                raise ValueError(f"from_masks: {e}") from None
            if t.name in targets:
                raise ValueError(f"from_masks: {key!r} and another key name the same layer {t.name!r}")
            targets[t.name], given[t.name] = t, m
        by_param: dict[str, list[SparseTarget]] = {}
        for t in targets.values():
            by_param.setdefault(t.param_name, []).append(t)
        for pname, ts in by_param.items():
            if len(ts) > 1 and any(t.rows is None for t in ts):
                raise ValueError(f"from_masks: parameter {pname!r} is given both whole and as [q]/[k]/[v] blocks")
        gran = kw.get("granularity", "weight")
        check_choice("granularity", gran, T.GRANULARITIES)
        for n, m in given.items():
            want = T.mask_shape(targets[n].shape, gran)
            if tuple(m.shape) != want:
                raise ValueError(f"from_masks: mask {n!r} has shape {tuple(m.shape)}, granularity={gran!r} needs {want}")
        order = {pn: i for i, (pn, _) in enumerate(model.named_parameters())}
        names = sorted(targets, key=lambda n: (order.get(targets[n].param_name, 1 << 30),
                                               targets[n].rows or (0, 0)))
        targets = {n: targets[n] for n in names}
        dens = {n: min(max(float(given[n].float().mean()), 1e-12), 1.0) for n in names}
        obj = cls(model, 1.0, grow=grow, densities=dens, init="uniform", _targets=targets,
                  _init_masks={n: given[n].detach().clone() for n in names}, **kw)
        obj.target_density = obj.density()
        obj.layer_densities = obj.densities()
        return obj

    def __repr__(self) -> str:
        return (f"DynamicSparsity(layers={len(self.names)}, density={self.density():.4f}, granularity={self.granularity!r}, "
                f"grow={self.grow!r}, update_every={self.update_every}, end_step={self.end_step}, step={self._step})")
