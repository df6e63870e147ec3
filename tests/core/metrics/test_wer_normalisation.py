"""WER/CER normalisation as jiwer's defaults (wer_default / cer_default), values worked out by hand."""
from core.metrics import cer, wer


def test_wer_ignores_repeated_and_edge_spaces():
    assert wer(["one  two three "], [" one two  three"]) == 0.0
    assert wer(["one two three"], ["one three"]) == 1 / 3


def test_cer_strips_ends_but_counts_inner_spaces():
    assert cer(["  ab c "], ["ab c"]) == 0.0                       # jiwer: Strip() first
    assert cer(["ab c"], ["ab  c"]) == 1 / 4                       # an extra inner space is one insertion
    assert cer(["ab c", "d"], ["ab c", "x"]) == 1 / 5               # corpus level: edits / reference chars
