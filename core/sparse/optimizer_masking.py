"""Masks kept exact through the optimizer: a step post-hook multiplies the masked weights and every optimizer state
tensor of a weight's shape (momentum, Adam moments, ...) by the mask, so a pruned weight cannot be revived.

``OptimizerMasking`` is a mixin of ``DynamicSparsity`` (it uses the engine's parameter keys and float masks).
"""
from __future__ import annotations

import torch

__all__ = ["OptimizerMasking"]


class OptimizerMasking:
    """``attach(optimizer)`` / ``detach()`` and the state zeroing a topology update needs."""

    def _check_state(self, optimizer, pkey: str, p: torch.Tensor, st) -> None:
        """ValueError for state the engine cannot mask (tensors neither weight-shaped nor scalar)."""
        for key, v in (st.items() if st else ()):
            if isinstance(v, torch.Tensor) and v.shape != p.shape and v.numel() > 1:
                raise ValueError(
                    f"optimizer {type(optimizer).__name__} keeps state {key!r} of shape {tuple(v.shape)} for the "
                    f"masked parameter {pkey!r} of shape {tuple(p.shape)}; DynamicSparsity can only zero optimizer "
                    f"state of the weight's shape (SGD, Adam, AdamW, RMSprop, Adagrad, ...), so pruned weights "
                    f"could be revived through it. Use such an optimizer, or keep these parameters out of the targets")

    def attach(self, optimizer: torch.optim.Optimizer) -> "DynamicSparsity":
        """Register a step post-hook on ``optimizer``: after every ``optimizer.step()`` the masked weights
        and every optimizer state tensor of a weight's shape (momentum_buffer, exp_avg, exp_avg_sq,
        max_exp_avg_sq, ...) are multiplied by the mask. ValueError if the optimizer holds no target weight, or
        keeps state that is not weight-shaped (factored moments such as Adafactor's ``row_var``/``col_var``:
        checked now for known classes and existing state, else at the first step)."""
        if any(opt is optimizer for opt, _, _ in self._hooks):
            return self  # already attached: one hook per optimizer
        by_id = {id(self._param(k)): k for k in self._pkeys}
        mine = []
        for group in optimizer.param_groups:
            for p in group["params"]:
                if id(p) in by_id:
                    mine.append((by_id[id(p)], p))
        if not mine:
            raise ValueError(f"optimizer {type(optimizer).__name__} holds none of the target weights {self.names}")
        factored = tuple(c for c in (getattr(torch.optim, "Adafactor", None),) if c is not None)
        if factored and isinstance(optimizer, factored):
            raise ValueError(
                f"optimizer {type(optimizer).__name__} keeps factored second moments (row_var / col_var), which "
                f"DynamicSparsity cannot mask; use SGD, Adam, AdamW, RMSprop, Adagrad, ... for masked parameters")
        for k, p in mine:
            self._check_state(optimizer, k, p, optimizer.state.get(p))
        keys = [k for k, _ in mine]
        params = [p for _, p in mine]
        # The tensor lists are rebuilt only when the masks change or any state tensor object is new or gone
        # (first steps, optimizer.load_state_dict, an optimizer that replaces its state): checked by identity.
        cache = {"version": -1, "masks": [], "ids": None, "tensors": [], "fmasks": []}

        def hook(opt, args, kwargs) -> None:
            # hot path (every step): one fused in-place multiply over weights and their state tensors
            self._fired += 1
            state = opt.state  # not captured: load_state_dict replaces the optimizer's state dict
            sts = [state.get(p) for p in params]
            ids = [tuple(map(id, st.values())) if st else () for st in sts]
            if (cache["version"] != self._version or ids != cache["ids"]
                    or params[0].device != cache["masks"][0].device):
                self._sync_devices()
                pmasks = [self._fmasks[k] for k in keys]
                tensors, masks = list(params), list(pmasks)
                for k, p, m, st in zip(keys, params, pmasks, sts):
                    self._check_state(opt, k, p, st)
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

        self._hooks.append((optimizer, keys, optimizer.register_step_post_hook(hook)))
        return self

    def detach(self) -> None:
        """Remove every optimizer hook."""
        for _, _, h in self._hooks:
            h.remove()
        self._hooks.clear()

    @torch.no_grad()
    def _zero_state(self, name: str, keep: torch.Tensor) -> None:
        """Multiply the optimizer state of target ``name`` by the target-shaped float ``keep``."""
        t = self.targets[name]
        p = t.param
        for opt, _, _ in self._hooks:
            st = opt.state.get(p)
            if st:
                for v in st.values():
                    if isinstance(v, torch.Tensor) and v.shape == p.shape:
                        t.block(v).mul_(keep.to(v.dtype))
