"""Monte Carlo sampling, soft labels for the variance estimator, and reference certification
(Cohen et al. 2019 CERTIFY; Dual RS: estimator certified at sigma_e, then the routed classifier)."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from . import device
from .stats import cp_lower, radius, radius_of

# a base model on noisy inputs: x_noisy [B,1,28,28] -> logits [B,K]
ModelFn = Callable[[torch.Tensor], torch.Tensor]


def _draws(f: ModelFn, x: torch.Tensor, sigma: float, n: int, seed: int, max_batch: int | None):
    """f(x_i + sigma eps_ij) for j < n, chunk by chunk: yields (i, b, j, m, outputs [b*m, K]) for
    inputs i..i+b and draws j..j+m. Noise is drawn and f runs on the current device."""
    dev = device.current()
    max_batch = max_batch or device.batch_limit()
    g = device.generator(seed)
    per = max(1, max_batch // n)  # inputs per chunk when n is small
    for i in range(0, x.shape[0], per):
        xb = x[i:i + per].to(dev)
        b = xb.shape[0]
        j = 0
        while j < n:  # draws per input in this pass
            m = min(n - j, max(1, max_batch // b))
            rep = xb.repeat_interleave(m, dim=0)
            yield i, b, j, m, f(rep + sigma * torch.randn(rep.shape, generator=g, device=dev))
            j += m


@torch.no_grad()
def sample_counts(f: ModelFn, x: torch.Tensor, sigma: float, n: int, classes: int, seed: int,
                  max_batch: int | None = None) -> torch.Tensor:
    """counts[i, c] = #{j < n : argmax f(x_i + sigma eps_ij) = c}, int64 [N, classes] on the CPU."""
    out = torch.zeros(x.shape[0], classes, dtype=torch.int64, device=device.current())
    for i, b, _, m, z in _draws(f, x, sigma, n, seed, max_batch):
        out[i:i + b] += F.one_hot(z.argmax(1).reshape(b, m), classes).sum(1)
    return out.cpu()


@torch.no_grad()
def sample_logits(f: ModelFn, x: torch.Tensor, sigma: float, n: int, seed: int,
                  max_batch: int | None = None) -> torch.Tensor:
    """Every draw's output, float32 [N, n, K] on the CPU: the draws of `sample_counts`, kept so that
    routings that differ only in a bias on the logits can be counted without drawing again."""
    out = None
    for i, b, j, m, z in _draws(f, x, sigma, n, seed, max_batch):
        if out is None:
            out = torch.empty(x.shape[0], n, z.shape[1])
        out[i:i + b, j:j + m] = z.reshape(b, m, -1).cpu()
    return out


def option_radii(options: Sequence[tuple[ModelFn, float]], x: torch.Tensor, y: torch.Tensor, n: int,
                 alpha: float, seed: int, classes: int = 10) -> torch.Tensor:
    """Certified radius of the true label under each option (0 where it abstains): float [N, options].

    pA_lower is the Clopper-Pearson lower bound of count(y)/n, the radius sigma * PhiInv(pA_lower).
    """
    cols = []
    for k, (f, sigma) in enumerate(options):
        counts = sample_counts(f, x, sigma, n, classes, seed + 1000 * k)
        cols.append(radius(counts.gather(1, y.reshape(-1, 1)).squeeze(1), n, alpha, sigma))
    return torch.stack(cols, dim=1)


def soft_labels(radii: torch.Tensor, temperature: float):
    """The paper's soft labels softmax(radii / T) over the inputs that at least one option certifies.

    Returns (keep mask [N], labels [M,K], best option [M]).
    """
    keep = radii.max(dim=1).values > 0
    return keep, torch.softmax(radii[keep] / temperature, dim=1), radii[keep].argmax(dim=1)


def threshold_labels(radii: torch.Tensor, threshold: float, sigmas: Sequence[float], lowest: int):
    """One-hot labels: the largest sigma whose radius exceeds `threshold` * sigma, else option `lowest`.

    radius > threshold * sigma means pA_lower > Phi(threshold): the label is the largest noise under
    which the expert is still confidently right, and an input no larger sigma is sure of goes to the
    smallest sigma it may use. Softmax labels compare radii capped by the few label draws (100 draws
    cap a radius at about 1.9 sigma) and route by who wins those near-ties; "is this expert still
    sure at this noise" is what the estimator can learn under sigma_e noise. Same return shape as
    `soft_labels`.
    """
    keep = radii.max(dim=1).values > 0
    r = radii[keep]
    best = torch.full((r.shape[0],), lowest, dtype=torch.int64)
    for k in range(lowest + 1, len(sigmas)):
        best = torch.where(r[:, k] > threshold * sigmas[k], k, best)
    return keep, F.one_hot(best, len(sigmas)).float(), best


def option_weights(best: torch.Tensor, k: int, power: float = 1.0) -> torch.Tensor:
    """Class weight of each option: the inverse of its frequency of being the best option (N / (m *
    count) over the m options that are best somewhere), raised to `power` and capped at 10; 0 for an
    option that is never best (it has no examples to weight)."""
    freq = torch.bincount(best, minlength=k).float()
    used = int((freq > 0).sum())
    w = torch.where(freq > 0, freq.sum() / (used * freq.clamp(min=1)), torch.zeros_like(freq))
    return (w ** power).clamp(max=10.0)


def certificate(c0: torch.Tensor, c: torch.Tensor, n: int, alpha: float, sigma: float):
    """CERTIFY's decision from its vote counts: the class with most `c0` votes, pA_lower from its
    share of the n votes in `c`. Returns (prediction or -1 to abstain [N], radius [N])."""
    top = c0.argmax(1)
    pa = cp_lower(c.gather(1, top.reshape(-1, 1)).squeeze(1), n, alpha)
    return torch.where(pa > 0.5, top, torch.full_like(top, -1)), radius_of(pa, sigma)


@torch.no_grad()
def cohen_certify(f: ModelFn, x: torch.Tensor, sigma: float, n0: int, n: int, alpha: float, seed: int,
                  classes: int):
    """CERTIFY of Cohen et al.: (prediction or -1 to abstain [N], radius [N])."""
    c0 = sample_counts(f, x, sigma, n0, classes, seed)
    return certificate(c0, sample_counts(f, x, sigma, n, classes, seed + 1), n, alpha, sigma)


@torch.no_grad()
def dual_certify(estimator: ModelFn, sigma_e: float, options: Sequence[tuple[ModelFn, float]],
                 x: torch.Tensor, n0: int, n: int, alpha: float, alpha_split: float, seed: int,
                 classes: int = 10):
    """Dual RS: certify the estimator (smoothed at sigma_e) to pick option k with radius R_e, then
    certify the k-th classifier at its sigma; the certificate is min(R_e, R_c) (abstain if either
    abstains). Returns (prediction or -1 [N], radius [N], chosen option or -1 [N])."""
    opt, r_e = cohen_certify(estimator, x, sigma_e, n0, n, alpha * alpha_split, seed, len(options))
    pred = torch.full((x.shape[0],), -1, dtype=torch.int64)
    rad = torch.zeros(x.shape[0])
    for k, (f, sigma) in enumerate(options):
        idx = (opt == k).nonzero().squeeze(1)
        if idx.numel() == 0:
            continue
        p, r = cohen_certify(f, x[idx], sigma, n0, n, alpha * (1 - alpha_split), seed + 10 + k, classes)
        pred[idx] = p
        rad[idx] = torch.minimum(r, r_e[idx])
    pred[opt < 0] = -1
    return pred, rad, opt


def accuracy_at(radius: torch.Tensor, radii: Sequence[float]) -> torch.Tensor:
    """Certified accuracy at each of `radii` of per-image radii, 0 where an image is not certified
    correctly: an image counts at r when its radius exceeds r."""
    return (radius.reshape(-1, 1) > torch.tensor(radii, dtype=radius.dtype, device=radius.device)).float().mean(0)


def certified_accuracy(pred: torch.Tensor, rad: torch.Tensor, y: torch.Tensor,
                       radii: Sequence[float]) -> dict[str, float]:
    """Certified accuracy at each radius (keys "0", "0.25", ...) and "acr", the average certified
    radius (radius where correct, 0 elsewhere)."""
    correct = torch.where(pred == y, rad, torch.zeros_like(rad))
    out = {f"{r:g}": float(a) for r, a in zip(radii, accuracy_at(correct, radii))}
    out["acr"] = float(correct.mean())
    return out
