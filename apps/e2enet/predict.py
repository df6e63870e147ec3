"""sparselab-e2enet-predict: segment NIfTI volumes with a trained model; label maps keep the input's grid and header.

    sparselab-e2enet-predict --model RUN/model_final.pt --input img.nii.gz|folder --output out/ [--tta]

Inputs: one NIfTI file (3D, or 4D with the channels last), or a folder of them. nnU-Net's per-channel naming
is understood: ``<case>_0000.nii.gz``, ``<case>_0001.nii.gz``, ... are the channels of one case, written out as
``<case>.nii.gz``. The output folder must not hold any input (the label maps would replace the images).
"""
from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.training.checkpoint import safe_torch_load

__all__ = ["predict_files", "find_cases", "PredictCase", "main"]

_CHANNEL_RE = re.compile(r"^(?P<case>.+)_(?P<ch>\d{4})(?P<ext>\.nii(?:\.gz)?)$")


@dataclass
class PredictCase:
    name: str            # output file name (with extension)
    images: list[Path]   # one file, or one per channel (nnU-Net _0000, _0001, ...)


def _nifti_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and (p.name.endswith(".nii.gz") or p.name.endswith(".nii")))


def find_cases(inputs: str | Path) -> list[PredictCase]:
    """A file or folder -> cases. Files named ``<case>_XXXX.nii[.gz]`` are grouped by case (channels in index
    order; indices must run 0..n-1); other files are one case each. A single ``_0000`` file brings its
    sibling channels."""
    path = Path(inputs)
    if path.is_dir():
        files = _nifti_files(path)
        if not files:
            raise FileNotFoundError(f"no .nii / .nii.gz files in {path}")
    elif path.is_file():
        m = _CHANNEL_RE.match(path.name)
        files = [path]
        if m:
            files = [p for p in _nifti_files(path.parent) if (mm := _CHANNEL_RE.match(p.name)) and mm["case"] == m["case"]
                     and mm["ext"] == m["ext"]]
    else:
        raise FileNotFoundError(f"input {path} does not exist")
    groups: dict[str, dict[int, Path]] = {}
    cases: list[PredictCase] = []
    for f in files:
        m = _CHANNEL_RE.match(f.name)
        if m is None:
            cases.append(PredictCase(f.name, [f]))
            continue
        key = m["case"] + m["ext"]
        groups.setdefault(key, {})[int(m["ch"])] = f
    for key, chans in groups.items():
        idx = sorted(chans)
        if idx != list(range(len(idx))):
            raise ValueError(f"case {key!r}: channel files {[chans[i].name for i in idx]} do not run _0000.._{len(idx) - 1:04d}")
        cases.append(PredictCase(key, [chans[i] for i in idx]))
    names = [c.name for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"two inputs would write the same output file(s) {dup}; rename one of them")
    return sorted(cases, key=lambda c: c.name)


def _check_output(out_dir: Path, cases: list[PredictCase]) -> None:
    """Refuse an output folder that holds (or is above) any input file: predictions would overwrite or mix with it."""
    out = out_dir.resolve()
    for c in cases:
        for f in c.images:
            parent = f.resolve().parent
            if parent == out or out in parent.parents:
                raise ValueError(f"--output {out_dir} contains the input {f}: the label maps would be written beside "
                                 f"(or over) the images; choose a separate output folder")


def _save_like(lab: np.ndarray, src, path: Path) -> None:
    """Write ``lab`` (uint8, the source's grid) with the source's header: affine, qform/sform and their codes."""
    import nibabel as nib

    hdr = src.header.copy()
    img = nib.Nifti1Image(lab, src.affine, header=hdr)
    img.set_data_dtype(np.uint8)
    img.header.set_slope_inter(1.0, 0.0)
    img.header.set_qform(src.header.get_qform(), code=int(src.header["qform_code"]))
    img.header.set_sform(src.header.get_sform(), code=int(src.header["sform_code"]))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{''.join(path.suffixes)}")
    nib.save(img, str(tmp))
    tmp.replace(path)


def predict_files(model_path: str | Path, inputs: str | Path, output: str | Path, *, tta: bool = False, overlap: float = 0.5,
                  device: str = "cpu") -> list[Path]:
    """Segment every case in ``inputs``; write ``<output>/<case name>`` (uint8 labels in the input's grid, with its header)."""
    import nibabel as nib
    from monai.transforms import Invertd

    from apps.e2enet.data.transforms import preprocess_transforms
    from apps.e2enet.inference import predict_volume
    from apps.e2enet.recipe import build_model

    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"model file {model_path} not found (a run writes <run_dir>/model_final.pt)")
    cases = find_cases(inputs)
    out_dir = Path(output)
    _check_output(out_dir, cases)
    ck = safe_torch_load(model_path, map_location="cpu", what="e2enet model file")
    for key in ("model", "model_cfg", "in_channels", "num_classes", "patch_size", "preprocess"):
        if key not in ck:
            raise ValueError(f"{model_path} is not an e2enet model file: no {key!r}")
    for c in cases:
        for f in c.images:
            try:
                shape = nib.load(str(f)).shape
            except Exception as e:   # nibabel raises several types for unreadable files
                raise ValueError(f"{f}: cannot read as NIfTI ({type(e).__name__}: {e})") from None
            if len(shape) not in ((3, 4) if len(c.images) == 1 else (3,)):
                raise ValueError(f"{f}: a {len(shape)}-D image (shape {tuple(shape)}); sparselab-e2enet-predict needs "
                                 f"3-D volumes (a 4-D file holds channels last)")
        n = len(c.images) if len(c.images) > 1 else (nib.load(str(c.images[0])).shape + (1,))[3]
        if n != ck["in_channels"]:
            raise ValueError(f"case {c.name!r} ({', '.join(p.name for p in c.images)}) has {n} channel(s); the model expects "
                             f"{ck['in_channels']} (per-channel files are named <case>_0000.nii.gz, <case>_0001.nii.gz, ...)")
    model = build_model(ck["model_cfg"], ck["in_channels"], ck["num_classes"])
    model.load_state_dict(ck["model"])
    model.to(device).eval()
    pre = preprocess_transforms(with_label=False, **ck["preprocess"])
    inv = Invertd(keys="pred", transform=pre, orig_keys="image", nearest_interp=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for c in cases:
        src = nib.load(str(c.images[0]))
        data = pre({"image": [str(p) for p in c.images] if len(c.images) > 1 else str(c.images[0])})
        prob = predict_volume(model, data["image"][None], ck["patch_size"], overlap=overlap, tta=tta)
        pred = data["image"].clone()[:1]  # MetaTensor carrying the preprocessing history
        pred.array = prob.argmax(1).float().cpu()  # (1, X, Y, Z)
        data["pred"] = pred
        back = inv(data)["pred"]
        lab = np.rint(np.asarray(back[0])).astype(np.uint8)
        if lab.shape != src.shape[:3]:
            raise RuntimeError(f"inverted prediction shape {lab.shape} != input shape {src.shape[:3]} for {c.name}")
        p = out_dir / c.name
        _save_like(lab, src, p)
        written.append(p)
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="sparselab-e2enet-predict", description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model_final.pt written by sparselab-e2enet")
    ap.add_argument("--input", required=True, help="a NIfTI file or a folder of them (nnU-Net <case>_0000.nii.gz channels are grouped)")
    ap.add_argument("--output", required=True, help="folder for the label maps (must not hold the inputs)")
    ap.add_argument("--tta", action="store_true", help="mirror test-time augmentation (8 flips)")
    ap.add_argument("--overlap", type=float, default=0.5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args(argv)
    from apps.common.cli import print_summary, user_errors

    with user_errors("e2enet-predict"):
        written = predict_files(a.model, a.input, a.output, tta=a.tta, overlap=a.overlap, device=a.device)
    for p in written:
        print(p)
    print_summary("e2enet-predict", status="done", run_dir=None,
                  metrics={"label maps written": len(written), "to": a.output})


if __name__ == "__main__":
    main()
