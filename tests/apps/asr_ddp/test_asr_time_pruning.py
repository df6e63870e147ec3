import pytest
import torch

from apps.asr_ddp.data.time_pruning import min_input_frames, prune_time, time_keep_index
from core.speech.model import subsampled_length


@pytest.mark.parametrize("unit", ["point", "chunk"])
def test_time_pruning_really_shortens(unit):
    g = torch.Generator().manual_seed(0)
    f = torch.arange(200.0)[:, None].repeat(1, 3)
    out = prune_time(f, 0.7, unit, chunk_frames=20, generator=g)
    assert out.shape[1] == 3 and out.shape[0] == 140
    vals = out[:, 0]
    assert torch.all(vals[1:] > vals[:-1])                          # order kept, no duplicates
    if unit == "chunk":                                             # whole 20-frame chunks survive
        starts = vals[torch.cat([torch.tensor([True]), vals[1:] - vals[:-1] > 1])]
        assert all(int(s) % 20 == 0 for s in starts)
        assert out.shape[0] % 20 == 0


@pytest.mark.parametrize("unit", ["point", "chunk"])
def test_ctc_guard_keeps_enough_frames(unit):
    need_enc = 30                                                   # CTC needs 30 encoder frames
    floor = min_input_frames(need_enc, 4)
    assert subsampled_length(floor, 4) >= need_enc > subsampled_length(floor - 1, 4)
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        idx = time_keep_index(150, 0.3, unit, chunk_frames=20, min_frames=floor, generator=g)
        assert idx.numel() >= floor and subsampled_length(idx.numel(), 4) >= need_enc
        assert idx.numel() < 150                                    # still pruned
    # shorter than the floor: untouched
    assert time_keep_index(50, 0.5, unit, min_frames=80).numel() == 50


def test_time_pruning_deterministic_and_validated():
    a = time_keep_index(100, 0.5, "chunk", generator=torch.Generator().manual_seed(3))
    b = time_keep_index(100, 0.5, "chunk", generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert time_keep_index(100, 1.0, "point").numel() == 100
    with pytest.raises(ValueError, match="valid choices"):
        time_keep_index(100, 0.5, "frame")
    with pytest.raises(ValueError, match="time_keep"):
        time_keep_index(100, 0.0, "point")


def test_covered_words_are_those_with_every_frame_dropped():
    from apps.asr_ddp.data.time_pruning import covered_words

    keep = torch.cat([torch.arange(0, 10), torch.arange(30, 40)])          # frames 10-29 and 40-49 dropped
    words = [(0, 0, 12), (1, 12, 28), (2, 25, 35), (3, 40, 50), (4, 60, 70)]
    assert covered_words(keep, 50, words) == [1, 3]                        # 4 lies past the end: never reported


def test_aligned_chunks_drop_the_words_they_cover():
    from types import SimpleNamespace

    from apps.asr_ddp.task import ASRTask, TaskSettings
    from core.speech.word_tokenizer import WordTokenizer

    tok = WordTokenizer(["one", "two", "three"])
    n = 100
    train = SimpleNamespace(lengths=[n], tokens=[tok.encode("one two three")], texts=["one two three"],
                            words=[[(0, 0, 10), (1, 10, 20), (2, 20, 100)]], frame_s=0.01, feats=[torch.zeros(n, 4)])
    task = object.__new__(ASRTask)
    task.s = TaskSettings(epochs=1, time_keep=0.5, time_unit="chunk_aligned", chunk_ms=100)
    task.train, task.tok, task.chunk_frames, task.min_frames = train, tok, 10, [1]
    task.module = SimpleNamespace(model=SimpleNamespace(encoder=SimpleNamespace(subsampling=1)))
    seen = set()
    for epoch in range(20):
        idx, tokens = task._pruned(0, epoch)
        kept = set(idx.tolist())
        expect = [w for w, (_, s, e) in zip(["one", "two", "three"], train.words[0]) if kept & set(range(s, e))]
        assert tok.decode(tokens) == " ".join(expect)
        seen.add(len(expect))
    assert len(seen) > 1                                                   # some epochs really dropped words
