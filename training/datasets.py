"""A team's own labelled images, in one of three layouts, as float tensors in [0,1]:

* an **image folder**: one subfolder per class, named by the class, holding PNG or JPEG files at
  any depth (torchvision's ImageFolder: classes in sorted order, files in sorted(os.walk) order);
* a **.npz** file: `x` of shape (N,C,H,W), (N,H,W,C) or (N,H,W), uint8 (divided by 255) or float
  (already in [0,1]), and `y` of int labels; optionally `classes`, the class names in label order;
* a folder of **IDX** files (Fashion-MNIST's, MNIST's): `train-*` and `t10k-*`, gzipped or not.

`dualrs evaluate --data` and `dualrs labels --data` read the same layouts in the same order, so an
image's index means the same image on both sides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from . import data

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Pillow modes that hold one grey channel; any other mode is read as RGB
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


@dataclass
class Dataset:
    x: torch.Tensor  # float32 [N,C,H,W] in [0,1]
    y: torch.Tensor  # int64 [N]
    classes: list[str]
    source: str

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    def split(self) -> data.Split:
        """As the zoo pipeline's `data.Split` (the training loops take x and y)."""
        return data.Split(self.x, self.y)


class DatasetError(ValueError):
    """Data that cannot be read as one of the layouts; the message names the file."""


def load(path: str, split: str = "train", classes: list[str] | None = None) -> Dataset:
    """The data set at `path` (a layout above). `split` picks train or test in an IDX folder and is
    ignored otherwise. `classes`, the certifier's labels in order, names the classes: an image
    folder's subfolders are matched to them by name (as `dualrs evaluate` does), other layouts'
    labels index them."""
    if split not in ("train", "test"):
        raise DatasetError(f"split must be train or test, not {split!r}")
    if os.path.isfile(path) and path.endswith(".npz"):
        ds = _npz(path)
    elif os.path.isdir(path) and _has_idx(path):
        s = data.load(split, path)
        ds = Dataset(s.x, s.y, list(data.LABELS), path)
    elif os.path.isdir(path):
        ds = _image_folder(path, classes)
    else:
        raise DatasetError(f"{path}: neither a .npz file nor a folder (image folder or IDX files)")
    if classes is not None:
        ds.classes = list(classes)
    top = int(ds.y.max()) if len(ds) else -1
    if top >= len(ds.classes) or (len(ds) and int(ds.y.min()) < 0):
        raise DatasetError(f"{path}: labels run from {int(ds.y.min())} to {top} but there are "
                           f"{len(ds.classes)} class names")
    return ds


def _has_idx(path: str) -> bool:
    names = os.listdir(path)
    return any(n.startswith(("train-images-idx", "t10k-images-idx")) for n in names)


def _image_folder(root: str, names: list[str] | None) -> Dataset:
    from PIL import Image  # Debian's python3-pil; only this layout needs it

    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if names is None and len(classes) < 2:
        raise DatasetError(f"{root}: an image folder needs one subfolder per class, at least two")
    unknown = [c for c in classes if names is not None and c not in names]
    if unknown:
        raise DatasetError(f"{root}: class folders {unknown} are not among the labels {names}")
    files, labels = [], []
    for name in classes:
        k = classes.index(name) if names is None else names.index(name)
        for folder, _, fnames in sorted(os.walk(os.path.join(root, name), followlinks=True)):
            for f in sorted(fnames):
                if f.lower().endswith(IMAGE_SUFFIXES):
                    files.append(os.path.join(folder, f))
                    labels.append(k)
    if not files:
        raise DatasetError(f"{root}: no .png, .jpg or .jpeg files in its class folders")
    images = []
    for f in files:
        with Image.open(f) as im:
            images.append((im.mode, im.size, np.asarray(im.convert("L" if im.mode in GREY_MODES else "RGB"))))
    # one grey image among colour ones is read as colour, so that every image has the same channels
    colour = any(a.ndim == 3 for _, _, a in images)
    size = images[0][1]
    arrays = []
    for f, (mode, sz, a) in zip(files, images):
        if sz != size:
            raise DatasetError(f"{f}: {sz[0]}x{sz[1]} pixels, but {files[0]} has {size[0]}x{size[1]}; "
                               "every image must have one size")
        if colour and a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        arrays.append(a if a.ndim == 3 else a[:, :, None])
    x = np.stack(arrays).transpose(0, 3, 1, 2)  # N,H,W,C -> N,C,H,W
    return Dataset(torch.from_numpy(x.astype(np.float32) / 255.0), torch.tensor(labels, dtype=torch.int64),
                   names or classes, root)


def _npz(path: str) -> Dataset:
    with np.load(path, allow_pickle=False) as f:
        keys = set(f.files)
        xk, yk = "x", "y"
        if not {xk, yk} <= keys:
            raise DatasetError(f"{path}: needs arrays x and y; it has {', '.join(sorted(keys))}")
        x, y = f[xk], f[yk]
        names = [str(c) for c in f["classes"]] if "classes" in keys else None
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # channels last
    if x.ndim != 4:
        raise DatasetError(f"{path}: {xk} has shape {x.shape}; expected (N,C,H,W), (N,H,W,C) or (N,H,W)")
    if y.ndim != 1 or y.shape[0] != x.shape[0] or not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{path}: {yk} must hold one int label per image ({x.shape[0]}), it has shape "
                           f"{y.shape} and type {y.dtype}")
    if x.dtype == np.uint8:
        xs = x.astype(np.float32) / 255.0
    elif np.issubdtype(x.dtype, np.floating):
        xs = x.astype(np.float32)
        if xs.size and (xs.min() < 0 or xs.max() > 1):
            raise DatasetError(f"{path}: float pixels must lie in [0,1], these run from {xs.min():g} to "
                               f"{xs.max():g} (store uint8, or divide by 255)")
    else:
        raise DatasetError(f"{path}: {xk} is {x.dtype}; expected uint8 or float")
    classes = names or [str(k) for k in range(int(y.max()) + 1 if y.size else 0)]
    return Dataset(torch.from_numpy(np.ascontiguousarray(xs)), torch.from_numpy(y.astype(np.int64)), classes, path)


def read_classes(spec: str | None) -> list[str] | None:
    """--classes: a file with one class name per line (`labels.txt`), or a comma list a,b,c."""
    if spec is None:
        return None
    if os.path.isfile(spec):
        with open(spec) as f:
            return [line.strip() for line in f if line.strip()]
    if "," not in spec:
        raise SystemExit(f"--classes: no file {spec!r}, and not a comma list a,b,c")
    return [c.strip() for c in spec.split(",") if c.strip()]


def parse_floats(spec: str | None, name: str) -> list[float] | None:
    """"0.5,0.5,0.5" -> [0.5, 0.5, 0.5]; None stays None."""
    if spec is None:
        return None
    try:
        return [float(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"--{name}: expected comma-separated numbers, got {spec!r}") from None
