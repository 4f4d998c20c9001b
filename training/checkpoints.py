"""Checkpoints and ONNX files of the nets trained on a team's own data (`training.experts`,
`training.estimator`): a state dict with what it takes to rebuild and serve the net."""

from __future__ import annotations

import hashlib
import os

import torch

from .export import check_parity, onnx_bytes
from .nets import SmallCNN, small_cnn_like


def normalizer(mean: list[float] | None, std: list[float] | None, channels: int):
    """The engine's `input.preprocess`, (x_noisy - mean[c]) / std[c] after the noise, as a training
    loop preprocess (x_noisy, sigma) -> x; None without normalization."""
    if mean is None and std is None:
        return None
    if mean is None or std is None:
        raise SystemExit("--mean and --std go together")
    for name, v in (("mean", mean), ("std", std)):
        if len(v) != channels:
            raise SystemExit(f"--{name}: {len(v)} values for {channels} channel(s); give one per channel")
    if any(s <= 0 for s in std):
        raise SystemExit("--std: every value must be positive")
    m = torch.tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
    return lambda x, _sigma: (x - m.to(x.device)) / s.to(x.device)


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of clean images [N,C,H,W], rounded to 4 digits."""
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp(min=1e-3)
    return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]


def save(net: SmallCNN, path: str, meta: dict) -> None:
    """The net's state dict and `meta` (input shape, classes, sigma, mean/std, ...)."""
    torch.save({"state": {k: v.detach().cpu() for k, v in net.state_dict().items()}, "meta": meta}, path)


def load(path: str) -> tuple[SmallCNN, dict]:
    ckpt = torch.load(path, map_location="cpu")
    if not isinstance(ckpt, dict) or "state" not in ckpt or "meta" not in ckpt:
        raise SystemExit(f"{path}: not a checkpoint of training.experts (a .pt file it wrote)")
    net = small_cnn_like(ckpt["state"], size=tuple(ckpt["meta"]["shape"][1:]))
    net.load_state_dict(ckpt["state"])
    return net.eval(), ckpt["meta"]


def export(net: SmallCNN, shape: tuple[int, int, int], path: str) -> dict:
    """Writes `net` as ONNX at `path` (input "x" [N, *shape], output "logits"), checks it against
    onnxruntime-node, returns {file, sha256, bytes, onnx_max_abs_diff}."""
    net = net.cpu().eval()
    blob = onnx_bytes(net, shape=shape)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(blob)
    diff = check_parity(path, net, shape=shape)
    return {"file": os.path.basename(path), "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob),
            "onnx_max_abs_diff": diff}
