"""Tiny models and a local multi-process runner reused by the tests of every part."""
from core.testing.distributed import free_port, run_distributed
from core.testing.models import TinyCNN, TinyTransformer

__all__ = ["free_port", "run_distributed", "TinyCNN", "TinyTransformer"]
