"""Shared helpers for the asr_ddp tests: a tiny LibriSpeech tree and composed configs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

CONFIG_DIR = str(Path(__file__).resolve().parents[3] / "apps" / "asr_ddp" / "configs")

TEXTS = ["HELLO WORLD", "A CAT SAT", "THE DOG RAN", "GOOD DAY", "NO WAY", "BIG RED BUS"]


def write_librispeech(root: Path, split: str = "train-clean-100", n: int = 6, seed: int = 0, sr: int = 16000) -> Path:
    """<root>/<split>/19/198/19-198-000i.flac + 19-198.trans.txt (tones + noise, 0.6-1.0 s)."""
    rng = np.random.default_rng(seed)
    d = root / split / "19" / "198"
    d.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        uid = f"19-198-{i:04d}"
        dur = 0.6 + 0.4 * rng.random()
        t = np.arange(int(dur * sr)) / sr
        wav = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.05 * rng.standard_normal(t.size)
        sf.write(d / f"{uid}.flac", wav.astype(np.float32), sr)
        lines.append(f"{uid} {TEXTS[i % len(TEXTS)]}")
    (d / "19-198.trans.txt").write_text("\n".join(lines) + "\n")
    return d


def compose(overrides: list[str]):
    from apps.common.hydra_config import compose as app_compose

    return app_compose("asr_ddp", overrides)


def libri_overrides(root: Path, run_dir: Path, *extra: str) -> list[str]:
    return ["trainer=quick", "trainer.epochs=3", "train.warmup_steps=10", "data=librispeech", f"data.root={root}",
            "data.train=[train-clean-100]",
            "data.dev=[train-clean-100]", "data.test=[train-clean-100]", f"run_dir={run_dir}",
            "trainer.progress=off", "train.frame_budget=400", "model.d_model=32", "model.heads=2",
            "model.layers=1", "model.ffn=64", *extra]
