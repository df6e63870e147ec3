"""Per-weight saliency |g * w| of the masked weights at initialisation, grid_cpu vs auto_avsr's width (VSR), on
random video batches: the ratio scales msrs.lam from one size to the other (the penalty's per-weight price must
stand in the same relation to the task's per-weight pull)."""
import json, sys
import torch
from apps.common.hydra_config import compose
from apps.msrs.recipe import settings_from_config, build_model, mask_targets
from core.sparse.targets import select_parameters



def main(path: str) -> None:
    torch.set_num_threads(1)
    out = {}
    for name, ov, frame in (("grid_cpu", ["preset=grid_cpu"], 44),
                            ("auto_avsr_2blocks", ["preset=auto_avsr", "model.layers=2", "model.decoder_layers=1"], 88)):
        s = settings_from_config(compose("msrs", ov + ["mode=vsr"]))
        vals = []
        for seed in range(3):
            torch.manual_seed(seed)
            m = build_model(s, 54, 1, 0)
            g = torch.Generator().manual_seed(100 + seed)
            T = 40
            batch = {"video": torch.randn(4, T, frame, frame, generator=g), "lengths": torch.tensor([T] * 4),
                     "targets": torch.randint(3, 54, (4, 6), generator=g), "target_lengths": torch.tensor([6] * 4)}
            m(batch)["loss"].backward()
            t = select_parameters(m, mask_targets(s, m))
            sal = torch.cat([(p.param.grad * p.param.detach()).abs().flatten() for p in t.values()])
            vals.append({"mean": float(sal.mean()), "median": float(sal.median()), "n": sal.numel()})
            print(name, seed, vals[-1], flush=True)
        out[name] = vals
    mean = lambda k, q: sum(v[q] for v in out[k]) / len(out[k])
    out["ratio_mean"] = mean("grid_cpu", "mean") / mean("auto_avsr_2blocks", "mean")
    out["ratio_median"] = mean("grid_cpu", "median") / mean("auto_avsr_2blocks", "median")
    print(json.dumps({k: v for k, v in out.items() if k.startswith("ratio")}))
    json.dump(out, open(path, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
