"""The one boundary between a composed configuration and code: read every key once, validate it, and fail on
keys that nothing reads.

A recipe turns its composed config (a plain nested dict: ``OmegaConf.to_container(cfg, resolve=True)``) into
frozen settings dataclasses through a ``ConfigReader``. Every read names its key and validates the value at the
door (``ConfigError``, a ``ValueError``, naming ``section.key``); once the settings are built the recipe calls
``reader.check_consumed()``, which raises for every key that no setting read -- a typo such as
``trainer.eval_evry=7`` or a key an app has stopped using is an error, never a silent no-op::

    r = ConfigReader(plain_config)
    loop = LoopSettings.from_reader(r, prefix="trainer", run_dir=r.optional_str("run_dir"))
    lr = r.float("optim.lr", low=0.0, low_open=True)
    mode = r.choice("mode", ("vsr", "asr", "avsr"))
    r.check_consumed()                       # ConfigError: "config keys that nothing reads: optim.lrr ..."

Keys that identify a run rather than configure it (``run_dir``) are read like any other. Reads of a whole
section (``r.mapping("model")``) consume every key under it; use it only where the section is handed on
verbatim (e.g. a model's keyword arguments that the model itself validates).

This module is plain Python: ``core`` never imports Hydra or OmegaConf (``tests/test_boundaries.py``).
"""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from core.validation import check_number

__all__ = ["ConfigError", "ConfigReader", "MISSING", "flatten_keys"]


class ConfigError(ValueError):
    """A configuration value is missing, mistyped, out of range, or read by nothing. The message names the key."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def flatten_keys(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1, 2], "d": {}}`` -> ``{"a.b": 1, "c": [1, 2], "d": {}}`` (lists and empty
    mappings are leaves)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten_keys(v, key + "."))
        else:
            out[key] = v
    return out


class ConfigReader:
    """Reads a plain nested mapping key by key (``"section.key"``), validating each value and recording the read.

    ``ignore``: glob patterns of keys that are never reported as unused (e.g. ``"hydra.*"`` when a config
    carries Hydra's own node). ``source`` names the config in messages.
    """

    def __init__(self, tree: Mapping, *, ignore: Iterable[str] = (), source: str = "config") -> None:
        if not isinstance(tree, Mapping):
            raise ConfigError(f"{source} must be a mapping of keys to values, got {type(tree).__name__}")
        self._tree = tree
        self._leaves = flatten_keys(tree)
        self._read: set[str] = set()
        self._ignore = tuple(ignore)
        self.source = source

    # ---- raw access -------------------------------------------------------------------------------------------
    def has(self, key: str) -> bool:
        """Whether ``key`` (a leaf or a section) is present (does not count as a read)."""
        return key in self._leaves or any(k.startswith(key + ".") for k in self._leaves)

    def _node(self, key: str) -> Any:
        node: Any = self._tree
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return MISSING
            node = node[part]
        return node

    def _mark(self, key: str) -> None:
        if key in self._leaves:
            self._read.add(key)
        pre = key + "."
        self._read.update(k for k in self._leaves if k.startswith(pre))

    def get(self, key: str, default: Any = MISSING) -> Any:
        """The raw value (a leaf, or a whole section as a plain dict); ``ConfigError`` if absent and no default."""
        v = self._node(key)
        if v is MISSING:
            if default is MISSING:
                raise ConfigError(f"{key} is required but not set{self._hint(key)}")
            return default
        self._mark(key)
        return _plain(v)

    def mapping(self, key: str, default: Any = MISSING) -> dict:
        """A whole section as a plain dict (every key under it counts as read)."""
        v = self.get(key, default)
        if v is None:
            return {}
        if not isinstance(v, Mapping):
            raise ConfigError(f"{key}={v!r} must be a mapping of keys to values")
        return dict(v)

    def mark_read(self, *keys: str) -> None:
        """Declare keys (or sections) as consumed without reading them through this reader -- only for values
        another validated reader handles (say so where it is called)."""
        for k in keys:
            self._mark(k)

    # ---- typed reads ------------------------------------------------------------------------------------------
    def int(self, key: str, default: Any = MISSING, *, low: int | None = None, high: int | None = None) -> int:
        return _number(key, self.get(key, default), integer=True, low=low, high=high)

    def optional_int(self, key: str, default: Any = None, *, low: int | None = None, high: int | None = None) -> int | None:
        v = self.get(key, default)
        return None if v is None else _number(key, v, integer=True, low=low, high=high)

    def float(self, key: str, default: Any = MISSING, *, low: float | None = None, high: float | None = None,
              low_open: bool = False, high_open: bool = False) -> float:
        return float(_number(key, self.get(key, default), low=low, high=high, low_open=low_open, high_open=high_open))

    def optional_float(self, key: str, default: Any = None, *, low: float | None = None, high: float | None = None,
                       low_open: bool = False, high_open: bool = False) -> float | None:
        v = self.get(key, default)
        return None if v is None else float(_number(key, v, low=low, high=high, low_open=low_open, high_open=high_open))

    def fraction(self, key: str, default: Any = MISSING, *, low_open: bool = True, high_closed: bool = True) -> float:
        """A number in (0, 1] (by default)."""
        return self.float(key, default, low=0.0, high=1.0, low_open=low_open, high_open=not high_closed)

    def bool(self, key: str, default: Any = MISSING) -> bool:
        v = self.get(key, default)
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false", "on", "off", "yes", "no"):
            return v.lower() in ("true", "on", "yes")
        raise ConfigError(f"{key}={v!r} must be true or false")

    def str(self, key: str, default: Any = MISSING) -> str:
        v = self.get(key, default)
        if isinstance(v, (Mapping, list, tuple)) or v is None:
            raise ConfigError(f"{key}={v!r} must be a string")
        return str(v)

    def optional_str(self, key: str, default: Any = None) -> str | None:
        v = self.get(key, default)
        if v is None or v == "":
            return None
        if isinstance(v, (Mapping, list, tuple)):
            raise ConfigError(f"{key}={v!r} must be a string")
        return str(v)

    def choice(self, key: str, choices: Sequence, default: Any = MISSING) -> Any:
        v = self.get(key, default)
        if v not in tuple(choices):
            raise ConfigError(f"{key}={v!r}; valid choices: {', '.join(map(str, choices))}")
        return v

    def list(self, key: str, default: Any = MISSING, *, length: int | None = None, item: str | None = None,
             low: float | None = None) -> list:
        """A list (a scalar is not promoted); ``item``: "int" | "float" | "str" checks each entry."""
        v = self.get(key, default)
        if not isinstance(v, (list, tuple)):
            raise ConfigError(f"{key}={v!r} must be a list")
        if length is not None and len(v) != length:
            raise ConfigError(f"{key}={list(v)!r} must have {length} entries")
        out = list(v)
        if item in ("int", "float"):
            out = [_number(f"{key}[{i}]", x, integer=item == "int", low=low) for i, x in enumerate(out)]
        elif item == "str":
            out = [str(x) for x in out]
        return out

    # ---- the end of the boundary ------------------------------------------------------------------------------
    def unused(self) -> list[str]:
        """Keys present in the config that nothing has read (ignored patterns left out)."""
        return sorted(k for k in self._leaves if k not in self._read
                      and not any(fnmatch.fnmatchcase(k, p) for p in self._ignore))

    def check_consumed(self) -> None:
        """``ConfigError`` listing every key nothing read, with the keys that were read nearby as a hint."""
        left = self.unused()
        if not left:
            return
        lines = []
        for k in left:
            sec = k.rsplit(".", 1)[0] if "." in k else ""
            near = sorted(r.rsplit(".", 1)[-1] for r in self._read if (r.rsplit(".", 1)[0] if "." in r else "") == sec)
            hint = f" (read keys of {sec or 'the top level'}: {', '.join(near[:12])}{' ...' if len(near) > 12 else ''})" \
                if near else ""
            lines.append(f"{k}{hint}")
        raise ConfigError(f"{self.source} keys that nothing reads (a typo, or a setting this app does not have): "
                          + "; ".join(lines))

    def _hint(self, key: str) -> str:
        sec = key.rsplit(".", 1)[0] if "." in key else ""
        near = sorted(k.rsplit(".", 1)[-1] for k in self._leaves if (k.rsplit(".", 1)[0] if "." in k else "") == sec)
        return f" (keys present under {sec or 'the top level'}: {', '.join(near[:12])})" if near else ""


def _plain(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _number(key: str, value: Any, *, integer: bool = False, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False) -> float | int:
    """``core.validation.check_number`` (the one number check), raising ``ConfigError``."""
    try:
        return check_number(key, value, integer=integer, low=low, high=high, low_open=low_open, high_open=high_open)
    except ValueError as e:
        raise ConfigError(str(e)) from None
