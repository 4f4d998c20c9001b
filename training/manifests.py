"""Manifests for the zoo, following src/core/manifest.ts (schemaVersion 1)."""

from __future__ import annotations

import json
import os

from .data import LABELS

SIGMAS = [0.12, 0.25, 0.5, 1.0]
SIGMA_E = 1.0
DEFAULTS = {"n0": 100, "n": 10000, "alpha": 0.001, "alphaSplit": 0.5, "batchSize": 1000}
INPUT = {"shape": [1, 28, 28], "range": [0, 1]}


def _base(mid: str, title: str, description: str) -> dict:
    return {"schemaVersion": 1, "id": mid, "title": title, "description": description,
            "input": INPUT, "labels": LABELS}


def expert_manifest(sigma: float, files: dict[str, str]) -> dict:
    name = f"expert-{sigma}"
    m = _base(f"fmnist-{name}", f"Fashion-MNIST, randomized smoothing at sigma={sigma}",
              f"Cohen et al. randomized smoothing with one small CNN trained under Gaussian noise at "
              f"sigma={sigma} (pixels in [0,1]).")
    m["models"] = {name: {"file": files[name]}}
    m["options"] = [{"sigma": sigma, "chain": [name], "name": name}]
    m["defaults"] = dict(DEFAULTS)
    return m


def dual_experts_manifest(files: dict[str, str], iterated: bool = False) -> dict:
    """`iterated`: use the nets of the iterative round (`<name>-it1`) under the same model names."""
    m = _base("fmnist-dual-experts", "Fashion-MNIST, Dual Randomized Smoothing with four experts",
              "Dual RS (Sun, Mao, Vechev): a variance estimator smoothed at sigma_e=1.0 picks one of four "
              "noise levels per input; each level has its own expert CNN trained at that sigma.")
    sfx = "-it1" if iterated else ""
    if iterated:
        m["description"] += " Experts fine-tuned and estimator retrained for one round of the iterative scheme."
    m["models"] = {f"expert-{s}": {"file": files[f"expert-{s}{sfx}"]} for s in SIGMAS}
    m["models"]["estimator"] = {"file": files[f"estimator{sfx}"],
                                "description": "4 classes: class k routes to options[k]"}
    m["options"] = [{"sigma": s, "chain": [f"expert-{s}"], "name": f"expert-{s}"} for s in SIGMAS]
    m["estimator"] = {"sigma": SIGMA_E, "chain": ["estimator"]}
    m["defaults"] = dict(DEFAULTS)
    return m


def dual_confident_manifest(files: dict[str, str], sigma: float = 1.0) -> dict:
    """The experts' Dual RS with `training.router`'s estimator: one graph holding the zoo's estimator
    trunk and the sigma expert, whose sorted log-softmax on the same noisy input joins its features."""
    m = _base("fmnist-dual-confident", "Fashion-MNIST, Dual Randomized Smoothing with a confidence-aware router",
              "Dual RS (Sun, Mao, Vechev) with the four experts of fmnist-dual-experts; the variance estimator "
              f"(smoothed at sigma_e=1.0) also sees how sure the sigma={sigma} expert is on the same noisy input.")
    m["models"] = {f"expert-{s}": {"file": files[f"expert-{s}"]} for s in SIGMAS}
    m["models"]["router"] = {"file": files["router"],
                             "description": f"4 classes: class k routes to options[k]; holds the sigma={sigma} expert"}
    m["options"] = [{"sigma": s, "chain": [f"expert-{s}"], "name": f"expert-{s}"} for s in SIGMAS]
    m["estimator"] = {"sigma": SIGMA_E, "chain": ["router"]}
    m["defaults"] = dict(DEFAULTS)
    return m


def dual_denoised_manifest(files: dict[str, str]) -> dict:
    m = _base("fmnist-dual-denoised", "Fashion-MNIST, Dual Randomized Smoothing with denoised smoothing",
              "Dual RS over denoised smoothing: one sigma-conditioned denoiser shared by every noise level "
              "and a classifier trained on clean and denoised images; the estimator sees denoised "
              "images (denoiser at sigma_e=1.0).")
    m["models"] = {
        "denoiser": {"file": files["denoiser"], "sigmaInput": "sigma",
                     "description": "(x [N,1,28,28], sigma [N]) -> denoised [N,1,28,28]"},
        "classifier": {"file": files["classifier"]},
        "estimator-denoised": {"file": files["estimator-denoised"],
                               "description": "4 classes on denoised inputs: class k routes to options[k]"},
    }
    m["options"] = [{"sigma": s, "chain": ["denoiser", "classifier"], "name": f"denoised-{s}"} for s in SIGMAS]
    m["estimator"] = {"sigma": SIGMA_E, "chain": ["denoiser", "estimator-denoised"]}
    m["defaults"] = dict(DEFAULTS)
    return m


def build_all(files: dict[str, str], iterated: bool = False) -> list[dict]:
    """Every manifest whose models are all available in `files` (model name -> file name)."""
    out = [expert_manifest(s, files) for s in SIGMAS if f"expert-{s}" in files]
    sfx = "-it1" if iterated else ""
    if all(f"expert-{s}{sfx}" in files for s in SIGMAS) and f"estimator{sfx}" in files:
        out.append(dual_experts_manifest(files, iterated))
    if all(k in files for k in ("denoiser", "classifier", "estimator-denoised")):
        out.append(dual_denoised_manifest(files))
    return out


def write(manifest: dict, out_dir: str) -> str:
    path = os.path.join(out_dir, manifest["id"] + ".json")
    with open(path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return path
