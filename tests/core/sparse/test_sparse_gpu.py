"""The engine on CUDA: masks, generator and optimizer state on the device (run with -m gpu on a GPU machine)."""
import pytest
import torch

from core.sparse import DynamicSparsity
from sparse_testutils import batch, cnn, loss_fn


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("grow", ["random", "gradient"])
def test_cuda_training_keeps_masks_exact(grow):
    model = cnn().cuda()
    sp = DynamicSparsity(model, density=0.2, grow=grow, granularity="kernel" if grow == "random" else "weight",
                         update_every=3, end_step=20)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sp.attach(opt)
    counts = {n: int(m.sum()) for n, m in sp.masks.items()}
    for step in range(12):
        opt.zero_grad()
        x, y = [t.cuda() for t in batch(step)]
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sp.step()
        for n in sp.names:
            w, wm = sp.weight(n), sp.weight_mask(n)
            assert wm.device.type == "cuda" and int(sp.masks[n].sum()) == counts[n]
            assert torch.all(w[~wm] == 0)
            for v in opt.state[w].values():
                if v.shape == w.shape:
                    assert torch.all(v[~wm] == 0)
    # moving back to CPU: the hook follows the weights
    model.cpu()
    opt2 = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sp.attach(opt2)
    opt2.zero_grad()
    loss_fn(model, 0).backward()
    opt2.step()
    assert all(torch.all(sp.weight(n)[~sp.weight_mask(n).cpu()] == 0) for n in sp.names)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_regrowth_and_ties_drawn_on_device_and_attention_masked():
    from core.testing import TinyTransformer

    torch.manual_seed(0)
    model = TinyTransformer().cuda()
    sp = DynamicSparsity(model, density=0.1, grow="random", seed=3)
    assert "encoder.layers.0.self_attn.in_proj_weight" in sp.names
    cpu_state = torch.get_rng_state()
    counts = {n: int(m.sum()) for n, m in sp.masks.items()}
    before = {n: m.clone() for n, m in sp.masks.items()}
    sp.update_topology(drop_fraction=0.3)
    assert torch.equal(cpu_state, torch.get_rng_state())
    assert {n: int(m.sum()) for n, m in sp.masks.items()} == counts
    assert any(not torch.equal(before[n], sp.masks[n]) for n in sp.names)
    # same seed on CPU and GPU: same initial masks (drawn on CPU), a valid (not necessarily equal) update on GPU
    mats = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith(("embed", "pos"))]
    nz = sum(int((p != 0).sum()) for p in mats) / sum(p.numel() for p in mats)
    assert nz <= sp.density() + 1e-12 and abs(sp.density() - 0.1) < 1e-3
