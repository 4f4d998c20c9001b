"""The torch device every net and noise draw of this process uses (`--device`; CPU by default).

On the CPU, noise comes from the same generators as it always has, so a CPU run reproduces the
zoo's CPU-trained nets exactly; CUDA has its own generator streams, so a CUDA run is seeded and
reproducible on CUDA, but draws different noise than the CPU does.
"""

from __future__ import annotations

import torch

_device = torch.device("cpu")


def use(spec: str) -> torch.device:
    """Select the device: "cpu", "cuda", "cuda:N", or "auto" (CUDA when there is one)."""
    global _device
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {spec}: this PyTorch sees no CUDA device")
    _device = dev
    return dev


def current() -> torch.device:
    return _device


def generator(seed: int) -> torch.Generator:
    """A seeded generator on the current device."""
    return torch.Generator(device=_device).manual_seed(seed)


def batch_limit() -> int:
    """Inputs per forward pass when sampling: small on the CPU (cache), large on a GPU (occupancy)."""
    return 4000 if _device.type == "cpu" else 1 << 16
