"""Two gloo ranks that start from different weights, seeds and data end every update with identical masks."""
import pytest
import torch

from core.testing import run_distributed


def _worker(rank, world_size):
    from torch.nn.parallel import DistributedDataParallel as DDP

    from core.sparse import DynamicSparsity
    from sparse_testutils import cnn, loss_fn

    model = cnn(seed=rank)  # different weights on purpose
    sp = DynamicSparsity(model, density=0.2, grow="random", update_every=3, end_step=100, seed=rank)  # different seeds
    init_masks = {n: m.clone() for n, m in sp.masks.items()}
    ddp = DDP(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    sp.attach(opt)
    history = []
    for step in range(9):
        opt.zero_grad()
        loss_fn(ddp, 2 * step + rank).backward()  # different data per rank
        opt.step()
        if sp.step():
            history.append({n: m.clone() for n, m in sp.masks.items()})
    return {"init": init_masks, "history": history, "weights": {k: v.clone() for k, v in model.state_dict().items()}}


@pytest.mark.distributed
def test_two_ranks_agree_on_masks():
    r0, r1 = run_distributed(_worker, 2)
    assert len(r0["history"]) == len(r1["history"]) == 3
    for n in r0["init"]:
        assert torch.equal(r0["init"][n], r1["init"][n])
    for h0, h1 in zip(r0["history"], r1["history"]):
        for n in h0:
            assert torch.equal(h0[n], h1[n])
    assert any(not torch.equal(r0["init"][n], r0["history"][-1][n]) for n in r0["init"])
    for k in r0["weights"]:
        assert torch.equal(r0["weights"][k], r1["weights"][k]), k
