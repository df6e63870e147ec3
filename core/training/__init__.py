"""Training infrastructure shared by every app: distributed helpers, seeding, checkpoints, progress, results."""
from core.training.checkpoint import (
    UnsafeFileError, capture_state, latest_checkpoint, load_checkpoint, restore_state, safe_torch_load, save_checkpoint,
)
from core.training.distributed import (
    DistInfo, all_gather_cat, all_reduce_sum, barrier, broadcast_, broadcast_object, cleanup,
    get_rank, get_world_size, init_distributed, is_distributed, is_main_process,
)
from core.training.progress import progress
from core.training.results import RESULT_FIELDS, ResultsWriter, git_commit, read_results
from core.training.seeding import get_rng_state, seed_everything, set_rng_state

__all__ = [
    "UnsafeFileError", "capture_state", "latest_checkpoint", "load_checkpoint", "restore_state", "safe_torch_load",
    "save_checkpoint",
    "DistInfo", "all_gather_cat", "all_reduce_sum", "barrier", "broadcast_", "broadcast_object",
    "cleanup", "get_rank", "get_world_size", "init_distributed", "is_distributed", "is_main_process",
    "progress", "RESULT_FIELDS", "ResultsWriter", "git_commit", "read_results",
    "get_rng_state", "seed_everything", "set_rng_state",
]
