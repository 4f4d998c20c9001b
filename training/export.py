"""ONNX export (opset 17, dynamic batch), content addressing by sha256, and a parity check
against onnxruntime-node (the runtime the service uses)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tempfile

import torch
import torch.nn as nn

OPSET = 17
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def onnx_bytes(net: nn.Module, denoiser: bool = False, shape: tuple[int, ...] = (1, 28, 28)) -> bytes:
    """Serialize `net` to ONNX: input "x" float32 [N, *shape] (plus "sigma" [N] for a denoiser)."""
    net.eval()
    x = torch.rand(2, *shape)
    if denoiser:
        args, inputs, outputs = (x, torch.rand(2)), ["x", "sigma"], ["denoised"]
        axes = {"x": {0: "N"}, "sigma": {0: "N"}, "denoised": {0: "N"}}
    else:
        args, inputs, outputs = (x,), ["x"], ["logits"]
        axes = {"x": {0: "N"}, "logits": {0: "N"}}
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(net, args, buf, opset_version=OPSET, input_names=inputs, output_names=outputs,
                          dynamic_axes=axes, do_constant_folding=True)
    data = buf.getvalue()
    try:  # python3-onnx is optional; torch.onnx.export does not need it
        import onnx
        onnx.checker.check_model(onnx.load_from_string(data))
    except ImportError:
        pass
    return data


def write_content_addressed(data: bytes, out_dir: str) -> str:
    """Write `data` as <out_dir>/<sha256>.onnx and return the file name."""
    name = hashlib.sha256(data).hexdigest() + ".onnx"
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    if not os.path.exists(path):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return name


def check_parity(onnx_path: str, net: nn.Module, denoiser: bool = False, n: int = 8, seed: int = 7,
                 tol: float = 1e-4, shape: tuple[int, ...] = (1, 28, 28)) -> float:
    """Run the same inputs through torch and onnxruntime-node; return the max abs difference.

    Returns NaN (and prints why) when node or onnxruntime-node is unavailable.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g) + 0.5 * torch.randn(n, *shape, generator=g)
    sigma = torch.rand(n, generator=g)
    with torch.no_grad():
        ref = net(x, sigma) if denoiser else net(x)
    case = {
        "model": os.path.abspath(onnx_path),
        "inputs": {"x": {"dims": list(x.shape), "data": x.flatten().tolist()}},
        "expected": ref.flatten().tolist(),
    }
    if denoiser:
        case["inputs"]["sigma"] = {"dims": [n], "data": sigma.tolist()}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(case, f)
        case_path = f.name
    try:
        res = subprocess.run(["node", os.path.join(REPO_ROOT, "training", "ort_check.cjs"), case_path],
                             capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"  parity check skipped: {e}")
        return float("nan")
    finally:
        os.unlink(case_path)
    if res.returncode != 0:
        print(f"  parity check skipped: {res.stderr.strip()[-300:]}")
        return float("nan")
    diff = float(json.loads(res.stdout)["maxAbsDiff"])
    if not diff <= tol:
        raise RuntimeError(f"{onnx_path}: onnxruntime and torch differ by {diff} > {tol}")
    return diff
