"""Medical Segmentation Decathlon / nnU-Net ``dataset.json`` + NIfTI: parse and validate before training.

Two layouts are read:

* Decathlon (and nnU-Net v1): ``labels`` is ``{"0": "background", "1": "...", ...}``, ``training`` lists
  ``{"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"}`` (a 4D image holds several channels).
* nnU-Net v2: ``labels`` is ``{"background": 0, ...}``, ``channel_names`` and ``file_ending`` are given and
  cases are found as ``imagesTr/<case>_<XXXX><ending>`` with ``labelsTr/<case><ending>``.

:func:`validate_cases` reads every header (and every label's values) and raises one error naming each
bad case: missing files, image/label shape or affine mismatch, labels outside the declared classes.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.validation import resolve_inside

__all__ = ["Case", "DecathlonDataset", "load_dataset_json", "validate_cases", "split_cases", "write_dataset_json"]


@dataclass
class Case:
    name: str
    images: list[Path]          # one file (possibly 4D) or one per channel
    label: Path | None = None


@dataclass
class DecathlonDataset:
    root: Path
    name: str
    labels: dict[int, str]      # class index -> name, 0 = background
    num_channels: int
    training: list[Case]
    test: list[Case] = field(default_factory=list)
    declared_channels: int | None = None   # from ``modality`` / ``channel_names``; None when dataset.json names none

    @property
    def num_classes(self) -> int:
        return max(self.labels) + 1


def _resolve(root: Path, rel: str | Path, what: str = "dataset.json entry", *, allow_symlinks: bool = False) -> Path:
    """A file named in dataset.json (or found in its folders); the Decathlon format names files relative to the
    dataset folder, so an absolute path, one that climbs out of the folder, or (unless ``allow_symlinks``,
    ``data.allow_symlinks``) a symlink that leads out of it is refused, naming the entry."""
    return resolve_inside(root, rel, what=f"{root / 'dataset.json'}: {what}", allow_symlinks=allow_symlinks)


def load_dataset_json(root: str | Path, *, allow_symlinks: bool = False) -> DecathlonDataset:
    """Parse ``<root>/dataset.json`` (either layout) into a :class:`DecathlonDataset`; files are not opened yet.
    Every file must lie inside ``root`` after symlinks are followed, unless ``allow_symlinks``."""
    root = Path(root)
    sl = dict(allow_symlinks=bool(allow_symlinks))
    path = root / "dataset.json"
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} is not a directory (data.root must hold dataset.json, imagesTr/, labelsTr/)")
    if not path.is_file():
        raise FileNotFoundError(f"no dataset.json in {root} (expected a Decathlon / nnU-Net dataset folder)")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} does not parse as JSON: {e}") from e
    if not isinstance(meta, dict) or "labels" not in meta:
        raise ValueError(f"{path}: expected an object with a 'labels' entry, got keys {sorted(meta) if isinstance(meta, dict) else type(meta).__name__}")
    labels = _parse_labels(meta["labels"], path)
    name = str(meta.get("name", root.name))
    declared = None
    if "channel_names" in meta or "modality" in meta:
        chans = meta.get("channel_names", meta.get("modality"))
        if not isinstance(chans, dict) or not chans:
            raise ValueError(f"{path}: 'modality' / 'channel_names' must be a non-empty object such as {{\"0\": \"T1\"}}, got {chans!r}")
        declared = num_channels = len(chans)
    else:
        num_channels = 1
    if "training" in meta:  # Decathlon / v1: explicit list
        training = []
        for k, item in enumerate(meta["training"]):
            if not isinstance(item, dict) or "image" not in item or "label" not in item:
                raise ValueError(f"{path}: training[{k}] must be {{'image': ..., 'label': ...}}, got {item!r}")
            img = _resolve(root, item["image"], f"training[{k}].image", **sl)
            # nnU-Net v1 lists "x.nii.gz" but stores x_0000.nii.gz, ... per channel
            imgs = [img]
            if not img.exists():
                stem = img.name[: -len("".join(img.suffixes))] if img.suffixes else img.name
                ext = "".join(img.suffixes)
                per = [img.with_name(f"{stem}_{c:04d}{ext}") for c in range(num_channels)]
                if all(p.exists() for p in per):
                    imgs = [_resolve(root, p.relative_to(root), f"training[{k}].image channel {p.name}", **sl) for p in per]
            training.append(Case(_case_name(img), imgs, _resolve(root, item["label"], f"training[{k}].label", **sl)))
        test = []
        for t in meta.get("test", []):
            p = _resolve(root, t if isinstance(t, str) else t["image"], "test entry", **sl)
            test.append(Case(_case_name(p), [p]))
    else:  # nnU-Net v2: scan folders
        ending = meta.get("file_ending", ".nii.gz")
        img_dir, lab_dir = root / "imagesTr", root / "labelsTr"
        if not lab_dir.is_dir():
            raise FileNotFoundError(f"{root}: no labelsTr/ folder (nnU-Net v2 layout needs imagesTr/ and labelsTr/)")
        training = []
        for lab in sorted(lab_dir.glob(f"*{ending}")):
            case = lab.name[: -len(ending)]
            imgs = [_resolve(root, Path("imagesTr") / f"{case}_{c:04d}{ending}", f"case {case} image", **sl)
                    for c in range(num_channels)]
            training.append(Case(case, imgs, _resolve(root, Path("labelsTr") / lab.name, f"case {case} label", **sl)))
        test = []
    if not training:
        raise ValueError(f"{path}: no training cases listed or found")
    return DecathlonDataset(root, name, labels, num_channels, training, test, declared_channels=declared)


def _case_name(p: Path) -> str:
    n = p.name
    for ext in (".nii.gz", ".nii"):
        if n.endswith(ext):
            return n[: -len(ext)]
    return p.stem


def _parse_labels(raw, path: Path) -> dict[int, str]:
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: 'labels' must be a non-empty object, got {raw!r}")
    out: dict[int, str] = {}
    for k, v in raw.items():
        if re.fullmatch(r"\d+", str(k)):       # {"0": "background"}
            out[int(k)] = str(v)
        elif isinstance(v, int) and not isinstance(v, bool):  # {"background": 0}
            out[v] = str(k)
        else:
            raise ValueError(f"{path}: cannot read label entry {k!r}: {v!r} (want '<int>': name or name: <int>)")
    if 0 not in out:
        raise ValueError(f"{path}: labels must declare class 0 (background); got {sorted(out)}")
    if len(out) < 2:
        raise ValueError(f"{path}: need >= 2 classes, got {out}")
    return dict(sorted(out.items()))


def validate_cases(ds: DecathlonDataset, cases: list[Case] | None = None, *, atol: float = 1e-3) -> None:
    """Open every header; read every label's values and every image's voxels (NaN / Inf are refused, naming the
    case and file). One ValueError/FileNotFoundError listing every bad case."""
    import nibabel as nib

    cases = ds.training if cases is None else cases
    missing, bad = [], []
    allowed = set(ds.labels)
    for c in cases:
        files = list(c.images) + ([c.label] if c.label is not None else [])
        gone = [str(f) for f in files if not Path(f).is_file()]
        if gone:
            missing.append(f"case {c.name!r}: missing {', '.join(gone)}")
            continue
        try:
            imgs = [nib.load(str(f)) for f in c.images]
            lab = nib.load(str(c.label)) if c.label is not None else None
        except Exception as e:  # nibabel raises several types for unreadable files
            bad.append(f"case {c.name!r}: cannot read NIfTI ({type(e).__name__}: {e})")
            continue
        ref = imgs[0]
        dims = [(f, len(im.shape)) for f, im in zip(c.images, imgs) if len(im.shape) not in ((3, 4) if len(imgs) == 1 else (3,))]
        if dims:
            bad.append(f"case {c.name!r}: image {dims[0][0]} has {dims[0][1]} dimension(s); a 3-D volume is needed "
                       f"(4-D: channels last)")
            continue
        nonfinite = [f for f, im in zip(c.images, imgs) if not _finite(im)]
        if nonfinite:
            bad.append(f"case {c.name!r}: image {nonfinite[0]} holds NaN or Inf voxels; fix or drop the case")
            continue
        chans = len(imgs) if len(imgs) > 1 else (int(ref.shape[3]) if len(ref.shape) == 4 else 1)
        if ds.declared_channels is not None and chans != ds.declared_channels:
            bad.append(f"case {c.name!r}: {chans} image channel(s) but dataset.json declares {ds.declared_channels} modality(ies)")
            continue
        for f, im in zip(c.images, imgs):
            if im.shape[:3] != ref.shape[:3] or not np.allclose(im.affine, ref.affine, atol=atol):
                bad.append(f"case {c.name!r}: channel file {f} has shape {im.shape[:3]} / affine unlike {c.images[0]}")
        if lab is None:
            continue
        if lab.shape[:3] != ref.shape[:3]:
            bad.append(f"case {c.name!r}: image shape {ref.shape[:3]} != label shape {lab.shape[:3]}")
            continue
        if not np.allclose(lab.affine, ref.affine, atol=atol):
            bad.append(f"case {c.name!r}: image and label affines differ (max abs diff {np.abs(lab.affine - ref.affine).max():.4g})")
            continue
        if len(lab.shape) != 3 and not (len(lab.shape) == 4 and lab.shape[3] == 1):
            bad.append(f"case {c.name!r}: label {c.label} has shape {lab.shape}; a 3-D label map is needed")
            continue
        vals = np.unique(np.asarray(lab.dataobj))
        if not np.all(np.isfinite(vals)):
            bad.append(f"case {c.name!r}: label {c.label} holds NaN or Inf values")
            continue
        if not np.all(np.equal(np.mod(vals, 1), 0)):
            bad.append(f"case {c.name!r}: label holds non-integer values {vals[np.mod(vals, 1) != 0][:5].tolist()}")
            continue
        extra = sorted(set(vals.astype(int).tolist()) - allowed)
        if extra:
            bad.append(f"case {c.name!r}: label values {extra} are outside the declared classes {sorted(allowed)}")
    if missing:
        raise FileNotFoundError(f"dataset {ds.root}: {len(missing)} case(s) with missing files:\n  " + "\n  ".join(missing))
    if bad:
        raise ValueError(f"dataset {ds.root}: {len(bad)} bad case(s):\n  " + "\n  ".join(bad))


def _finite(img) -> bool:
    """Whether every voxel of a nibabel image is finite (integer data always is; scaled data is checked scaled)."""
    arr = np.asanyarray(img.dataobj)
    return bool(np.issubdtype(arr.dtype, np.integer) or np.isfinite(arr).all())


def split_cases(cases: list[Case], *, val_fraction: float = 0.2, val_cases: list[str] | None = None, seed: int = 0):
    """-> (train, val). ``val_cases`` (names) wins; else a seeded random ``val_fraction`` (>= 1 case if >= 2 cases)."""
    if val_cases:
        names = {c.name for c in cases}
        unknown = sorted(set(val_cases) - names)
        if unknown:
            raise ValueError(f"val_cases {unknown} are not cases of this dataset; cases: {sorted(names)[:10]}")
        val = [c for c in cases if c.name in set(val_cases)]
        train = [c for c in cases if c.name not in set(val_cases)]
    else:
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction={val_fraction} must be in [0, 1)")
        n_val = int(round(val_fraction * len(cases)))
        if val_fraction > 0 and len(cases) >= 2:
            n_val = max(1, n_val)
        order = np.random.default_rng(seed).permutation(len(cases))
        val = [cases[i] for i in sorted(order[:n_val])]
        train = [cases[i] for i in sorted(order[n_val:])]
    if not train:
        raise ValueError("no training cases left after the validation split")
    return train, val


def write_dataset_json(root: Path, name: str, labels: dict[int, str], training: list[tuple[str, str]], *,
                       modality: str = "MRI", description: str = "", test: list[str] | None = None) -> Path:
    """Write a Decathlon ``dataset.json`` (``training``: [(image rel path, label rel path)])."""
    meta = {
        "name": name, "description": description, "tensorImageSize": "3D",
        "modality": {"0": modality}, "labels": {str(k): v for k, v in labels.items()},
        "numTraining": len(training), "numTest": len(test or []),
        "training": [{"image": i, "label": l} for i, l in training], "test": list(test or []),
    }
    p = Path(root) / "dataset.json"
    p.write_text(json.dumps(meta, indent=2))
    return p
