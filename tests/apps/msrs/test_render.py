import numpy as np
import pytest

from apps.msrs.data import VISEME_SHAPES, VISEMES, make_speaker, render_mouth, shapes_for, viseme_of


def test_viseme_table_is_many_to_one():
    assert 12 <= len(VISEMES) <= 15
    assert viseme_of("p") == viseme_of("b") == viseme_of("m") == VISEMES.index("bilabial")
    assert viseme_of("aI") == VISEMES.index("open_v")
    assert viseme_of("u:") == viseme_of("oU") == VISEMES.index("round_v")
    assert viseme_of("_") == VISEMES.index("sil")


def test_renderer_deterministic_and_shape():
    shapes = VISEME_SHAPES[[0, 1, 11, 12]]
    spk = make_speaker(3)
    a = render_mouth(shapes, spk, seed=5)
    b = render_mouth(shapes, spk, seed=5)
    assert a.shape == (4, 88, 88) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, render_mouth(shapes, spk, seed=6))


def test_open_and_closed_visemes_differ_in_the_mouth():
    spk = make_speaker(0)
    closed = VISEME_SHAPES[VISEMES.index("bilabial")][None]
    opened = VISEME_SHAPES[VISEMES.index("open_v")][None]
    f_closed = render_mouth(closed, spk, seed=0, head_motion=0, jitter=0, noise=0)[0].astype(float)
    f_open = render_mouth(opened, spk, seed=0, head_motion=0, jitter=0, noise=0)[0].astype(float)
    centre = (slice(40, 60), slice(34, 54))
    # open mouth shows a dark cavity: the mouth region is much darker than with closed lips
    assert f_open[centre].mean() < f_closed[centre].mean() - 20
    # far from the mouth the frames agree (same speaker, no motion)
    np.testing.assert_allclose(f_open[:10], f_closed[:10], atol=2)


def test_shapes_follow_phoneme_timing_with_coarticulation():
    phon = [("m", 0.0, 0.2), ("aI", 0.2, 0.6)]
    ids, raw = shapes_for(phon, 20, 25.0, coarticulation=0.0)
    assert ids[0] == VISEMES.index("bilabial") and ids[8] == VISEMES.index("open_v")
    assert ids[-1] == VISEMES.index("sil")          # after the last phoneme
    _, smooth = shapes_for(phon, 20, 25.0, coarticulation=1.5)
    # smoothing blends across the m -> aI boundary (frame 4 is the last m frame)
    assert raw[4, 0] < smooth[4, 0] < raw[6, 0]


def test_renderer_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(T, 5\)"):
        render_mouth(np.zeros((3, 4)), make_speaker(0))
