"""What the loop shows on a terminal (issue 33) and that the regularizer's penalty reaches the loss (issue 27)."""
import re

import pytest
import torch
from torch import nn

from core.training.loop import StepOutput, Task, TrainLoop
from core.training.progress import format_eval_line, progress_enabled
from core.training.run import LoopSettings, prepare_run

from loop_fixtures import build_and_run

LINE = re.compile(r"^\[toy v\] step (\d+)/14 · epoch (\d+) · val_mse [0-9.e+-]+ · train loss [0-9.e+-]+ · \d+s$")


def _eval_lines(err: str) -> list[str]:
    return [ln.strip() for ln in re.split(r"[\r\n]", err) if ln.strip().startswith("[toy v] step")]


def test_forced_on_the_loop_prints_one_line_per_evaluation(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SPARSELAB_PROGRESS", raising=False)
    monkeypatch.setattr("loop_fixtures.LoopSettings", _with_progress(True))
    build_and_run(tmp_path, max_steps=14)                 # eval_every=4: steps 4, 8, 12 and the last, 14
    lines = _eval_lines(capsys.readouterr().err)
    assert [int(LINE.match(ln).group(1)) for ln in lines] == [4, 8, 12, 14], lines
    assert all(LINE.match(ln) for ln in lines)


def test_the_environment_forces_it_on_and_off_is_quiet(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SPARSELAB_PROGRESS", "1")
    monkeypatch.setattr("loop_fixtures.LoopSettings", _with_progress(None))
    build_and_run(tmp_path / "a", max_steps=8)
    assert len(_eval_lines(capsys.readouterr().err)) == 2
    monkeypatch.setattr("loop_fixtures.LoopSettings", _with_progress(False))    # trainer.progress=off wins
    build_and_run(tmp_path / "b", max_steps=8)
    assert _eval_lines(capsys.readouterr().err) == []


def test_quiet_when_stderr_is_not_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SPARSELAB_PROGRESS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    assert not progress_enabled(None)                      # capsys' stderr is not a TTY
    monkeypatch.setattr("loop_fixtures.LoopSettings", _with_progress(None))
    build_and_run(tmp_path, max_steps=8)
    assert _eval_lines(capsys.readouterr().err) == []


def test_progress_switches():
    assert progress_enabled(True) and not progress_enabled(False)
    import os

    old = os.environ.get("SPARSELAB_PROGRESS")
    try:
        for v, on in (("1", True), ("on", True), ("0", False), ("off", False)):
            os.environ["SPARSELAB_PROGRESS"] = v
            assert progress_enabled(None) is on
    finally:
        os.environ.pop("SPARSELAB_PROGRESS", None) if old is None else os.environ.__setitem__("SPARSELAB_PROGRESS", old)
    line = format_eval_line("asr dyn07", step=120, epoch=3, metrics={"val_wer": 0.41234, "note": "x"}, max_steps=2000,
                            epochs=20, loss=0.5321, elapsed=83.2)
    assert line == "[asr dyn07] step 120/2000 · epoch 3/20 · val_wer 0.4123 · train loss 0.5321 · 1m23s"


def _with_progress(value):
    real = LoopSettings

    def make(**kw):
        kw["progress"] = value
        return real(**kw)

    return make


# ---- the regularizer slot: its penalty is part of the loss the loop back-propagates ------------------------------

class _Zero(Task):
    """A task whose own loss has zero gradient: any weight change comes from the regularizer's penalty."""

    def epoch_batches(self, epoch):
        return [0]

    def training_step(self, model, batch, step):
        return StepOutput((model(torch.ones(1, 3)) * 0.0).sum())


class _Penalty:
    """penalty = lam * sum(w): its gradient is lam everywhere."""

    def __init__(self, weight: torch.Tensor, lam: float):
        self.weight, self.lam, self.steps = weight, lam, 0

    def penalty(self):
        return self.lam * self.weight.sum()

    def step(self):
        self.steps += 1

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, sd):
        self.steps = sd["steps"]


def test_the_loop_adds_the_regularizer_penalty_to_the_loss(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(3, 2, bias=False)
    w0 = model.weight.detach().clone()
    run = prepare_run(LoopSettings(run_dir=tmp_path, max_steps=1, progress=False, grad_clip=None), app="toy")
    reg = _Penalty(model.weight, lam=0.5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    TrainLoop(run, model, opt, _Zero(), regularizer=reg).run()
    # one SGD step on task loss (gradient 0) + 0.5 * sum(w): every weight moved by exactly -lr * lam = -0.05
    expected = w0 - 0.1 * 0.5
    assert torch.allclose(model.weight.detach(), expected, atol=1e-7, rtol=0), "the penalty did not reach the loss"
    assert not torch.allclose(model.weight.detach(), w0)
    assert reg.steps == 1
