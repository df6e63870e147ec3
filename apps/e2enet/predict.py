"""sparselab-e2enet-predict: segment NIfTI volumes with a trained model; label maps keep the input's affine.

    sparselab-e2enet-predict --model RUN/model_final.pt --input img.nii.gz|folder --output out/ [--tta]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from core.training.checkpoint import safe_torch_load

__all__ = ["predict_files", "main"]


def _inputs(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted([*path.glob("*.nii.gz"), *path.glob("*.nii")])
        if not files:
            raise FileNotFoundError(f"no .nii / .nii.gz files in {path}")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"input {path} does not exist")
    return [path]


def predict_files(model_path: str | Path, inputs: str | Path, output: str | Path, *, tta: bool = False, overlap: float = 0.5,
                  device: str = "cpu") -> list[Path]:
    """Segment every volume in ``inputs``; write ``<output>/<name>`` (uint8 labels, same shape and affine as the input)."""
    import nibabel as nib
    from monai.transforms import Invertd

    from apps.e2enet.data.transforms import preprocess_transforms
    from apps.e2enet.inference import predict_volume
    from apps.e2enet.recipe import build_model

    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"model file {model_path} not found (a run writes <run_dir>/model_final.pt)")
    ck = safe_torch_load(model_path, map_location="cpu", what="e2enet model file")
    for key in ("model", "model_cfg", "in_channels", "num_classes", "patch_size", "preprocess"):
        if key not in ck:
            raise ValueError(f"{model_path} is not an e2enet model file: no {key!r}")
    model = build_model(ck["model_cfg"], ck["in_channels"], ck["num_classes"])
    model.load_state_dict(ck["model"])
    model.to(device).eval()
    pre = preprocess_transforms(with_label=False, **ck["preprocess"])
    inv = Invertd(keys="pred", transform=pre, orig_keys="image", nearest_interp=True)
    out_dir = Path(output)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for f in _inputs(Path(inputs)):
        src = nib.load(str(f))
        data = pre({"image": str(f)})
        if data["image"].shape[0] != ck["in_channels"]:
            raise ValueError(f"{f} has {data['image'].shape[0]} channel(s); the model expects {ck['in_channels']}")
        prob = predict_volume(model, data["image"][None], ck["patch_size"], overlap=overlap, tta=tta)
        pred = data["image"].clone()[:1]  # MetaTensor carrying the preprocessing history
        pred.array = prob.argmax(1).float().cpu()  # (1, X, Y, Z)
        data["pred"] = pred
        back = inv(data)["pred"]
        lab = np.rint(np.asarray(back[0])).astype(np.uint8)
        if lab.shape != src.shape[:3]:
            raise RuntimeError(f"inverted prediction shape {lab.shape} != input shape {src.shape[:3]} for {f}")
        p = out_dir / f.name
        nib.save(nib.Nifti1Image(lab, src.affine, header=None), str(p))
        written.append(p)
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="sparselab-e2enet-predict", description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model_final.pt written by sparselab-e2enet")
    ap.add_argument("--input", required=True, help="a NIfTI file or a folder of them")
    ap.add_argument("--output", required=True, help="folder for the label maps")
    ap.add_argument("--tta", action="store_true", help="mirror test-time augmentation (8 flips)")
    ap.add_argument("--overlap", type=float, default=0.5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args(argv)
    for p in predict_files(a.model, a.input, a.output, tta=a.tta, overlap=a.overlap, device=a.device):
        print(p)


if __name__ == "__main__":
    main()
