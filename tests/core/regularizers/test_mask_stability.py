"""MaskStability and mask_distance: converged masks are stable, changing ones are not."""
import pytest
import torch

from core.regularizers import MaskStability, mask_distance, plot_mask_distance


def _masks(seed, n=100, flip=0):
    g = torch.Generator().manual_seed(0)
    base = {"a": torch.rand(10, 5, generator=g) > 0.5, "b": torch.rand(n - 50, generator=g) > 0.5}
    if flip:
        gf = torch.Generator().manual_seed(seed)
        idx = torch.randperm(50, generator=gf)[:flip]
        base["a"].view(-1)[idx] ^= True
    return base


def test_mask_distance():
    a = {"x": torch.tensor([1, 0, 1, 1], dtype=torch.bool), "y": torch.zeros(6, dtype=torch.bool)}
    b = {"x": torch.tensor([1, 1, 1, 0], dtype=torch.bool), "y": torch.ones(6, dtype=torch.bool)}
    assert mask_distance(a, a) == 0.0
    assert mask_distance(a, b) == pytest.approx(8 / 10)
    with pytest.raises(ValueError, match="different layers"):
        mask_distance(a, {"x": a["x"]})
    with pytest.raises(ValueError, match="shapes"):
        mask_distance(a, {"x": a["x"], "y": torch.zeros(5, dtype=torch.bool)})


def test_constant_masks_become_stable_after_window():
    st = MaskStability(window=3, tol=0.0)
    results = [st.update(_masks(0)) for _ in range(5)]
    assert results == [False, False, True, True, True]
    assert st.stable_at == 2 and st.distances == [0.0] * 4


def test_changing_masks_are_not_stable_then_settle():
    st = MaskStability(window=4, tol=0.02)
    for i in range(6):
        assert not st.update(_masks(i, flip=10))  # each update differs in ~ up to 20 of 100 entries
    assert all(d > 0.02 for d in st.distances)
    assert st.stable_at is None
    flags = [st.update(_masks(99)) for _ in range(5)]  # converged from now on
    assert flags == [False, False, False, True, True]  # the window must first be free of the last jump
    assert st.stable_at == 9


def test_state_dict_round_trip(tmp_path):
    a = MaskStability(window=3, tol=0.05)
    for i in range(4):
        a.update(_masks(i, flip=i))
    torch.save(a.state_dict(), tmp_path / "s.pt")
    b = MaskStability(window=3, tol=0.05)
    b.load_state_dict(torch.load(tmp_path / "s.pt"))
    for i in range(4, 7):
        assert a.update(_masks(i, flip=1)) == b.update(_masks(i, flip=1))
    assert a.distances == b.distances and a.stable_at == b.stable_at
    with pytest.raises(ValueError, match="window=3"):
        MaskStability(window=4).load_state_dict(a.state_dict())


def test_plot(tmp_path):
    st = MaskStability(window=2, tol=0.01)
    for i in range(5):
        st.update(_masks(i, flip=max(0, 3 - i)))
    p = plot_mask_distance(st.distances, st.stable_at, tmp_path / "d.png", tol=st.tol)
    assert p.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("kwargs, match", [
    (dict(window=1), "window=1"),
    (dict(window=2.5), "window=2.5"),
    (dict(tol=-0.1), "tol=-0.1"),
    (dict(tol=1.5), "tol=1.5"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MaskStability(**kwargs)


def _thinning(step, n=1000):
    """Masks that keep ``1 - step/100`` of 1000 entries (nested: each check drops 1 % more)."""
    m = torch.ones(n, dtype=torch.bool)
    m[: int(n * step / 100)] = False
    return {"w": m}


def test_steadily_thinning_mask_is_not_stable_under_density_tol():
    plain = MaskStability(window=4, tol=0.02)
    strict = MaskStability(window=4, tol=0.02, density_tol=0.01)
    for s in range(10):
        plain.update(_thinning(s))
        strict.update(_thinning(s))
    assert plain.stable and plain.stable_at == 3      # 1 % per check passes the distance test alone
    assert not strict.stable and strict.stable_at is None
    for _ in range(4):                                   # thinning stops: settles after a full window
        strict.update(_thinning(10))
    assert strict.stable and strict.stable_at == 13
    assert strict.densities[-1] == pytest.approx(0.9)


def test_untouched_mask_has_no_topology_and_is_never_stable():
    """An L1 weight of 0 leaves the mask (nearly) full: it must not read as a settled topology."""
    st = MaskStability(window=3, tol=0.01, density_tol=0.01, max_density=0.95)
    full = {"w": torch.ones(50, dtype=torch.bool), "v": torch.ones(3, 4, dtype=torch.bool)}
    assert not any(st.update(full) for _ in range(20))
    assert st.distances == [0.0] * 19 and st.stable_at is None
    assert MaskStability(window=3, tol=0.01).update(full) is False  # (plain criterion: stable after 3)


def test_distances_to_final_mask():
    st = MaskStability(window=2, tol=0.0, keep_history=True)
    for s in (0, 5, 8, 10):
        st.update(_thinning(s))
    assert st.distances_to(_thinning(10)) == pytest.approx([0.10, 0.05, 0.02, 0.0])
    b = MaskStability(window=2, tol=0.0, keep_history=True)
    b.load_state_dict(st.state_dict())
    assert b.distances_to(_thinning(10)) == st.distances_to(_thinning(10)) and b.densities == st.densities
    with pytest.raises(ValueError, match="keep_history"):
        MaskStability(window=2).distances_to(_thinning(1))
    with pytest.raises(ValueError, match="density_tol=2"):
        MaskStability(density_tol=2)
