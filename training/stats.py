"""Binomial confidence bounds and certified radii (Cohen et al. 2019), without scipy."""

from __future__ import annotations

import functools
import math

import torch

from . import device


def _log_choose(k: torch.Tensor, n: int) -> torch.Tensor:
    return torch.lgamma(torch.tensor(n + 1.0, dtype=torch.float64)) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)


def _log_binom_pmf(k: torch.Tensor, n: int, p: torch.Tensor, log_c: torch.Tensor | None = None) -> torch.Tensor:
    """log P(X = k), X ~ Bin(n, p); `log_c`: log C(n, k) when the caller has it already."""
    lc = _log_choose(k, n) if log_c is None else log_c
    return lc + k * torch.log(p) + (n - k) * torch.log1p(-p)


def _upper_tail(k: int, n: int, p: torch.Tensor) -> torch.Tensor:
    """P(X >= k) for X ~ Bin(n, p), vectorised over p."""
    ks = torch.arange(k, n + 1, dtype=torch.float64).reshape(1, -1)
    return torch.exp(torch.logsumexp(_log_binom_pmf(ks, n, p.reshape(-1, 1)), dim=1))


@functools.lru_cache(maxsize=64)
def _lower_table(n: int, alpha: float) -> torch.Tensor:
    """One-sided (1-alpha) Clopper-Pearson lower bounds for k = 0..n successes of n."""
    out = torch.zeros(n + 1, dtype=torch.float64)
    for k in range(1, n + 1):
        lo, hi = 0.0, 1.0
        for _ in range(60):  # bisection: the bound is the p with P(X >= k | p) = alpha
            mid = 0.5 * (lo + hi)
            if _upper_tail(k, n, torch.tensor([mid], dtype=torch.float64)).item() < alpha:
                lo = mid
            else:
                hi = mid
        out[k] = lo
    return out


TABLE_MAX_N = 1000  # above this, a table of every count costs more than bisecting the counts asked for


def cp_lower(k: torch.Tensor, n: int, alpha: float) -> torch.Tensor:
    """Clopper-Pearson one-sided lower bound of p from k successes in n trials (Beta(alpha; k, n-k+1))."""
    if n > TABLE_MAX_N:
        return cp_lower_exact(k, n, alpha)
    return _lower_table(n, float(alpha))[k.long()]


def cp_lower_exact(k: torch.Tensor, n: int, alpha: float, chunk: int | None = None) -> torch.Tensor:
    """`cp_lower` by bisection over the given counts only (no table of all n + 1); on the current
    device (`training.device`), the result on the CPU."""
    dev = device.current()
    chunk = chunk or (256 if dev.type == "cpu" else 4096)
    ks = torch.arange(n + 1, dtype=torch.float64, device=dev).reshape(1, -1)
    # log C(n, k), hoisted out of the bisection: lgamma is most of the cost of a pmf
    log_c = _log_choose(ks, n)
    out = []
    for kc in k.double().to(dev).split(chunk):
        lo, hi = torch.zeros_like(kc), torch.ones_like(kc)
        above = ks >= kc.reshape(-1, 1)
        for _ in range(60):
            mid = 0.5 * (lo + hi).reshape(-1, 1)
            logp = _log_binom_pmf(ks, n, mid, log_c).masked_fill(~above, -float("inf"))
            mid = mid.squeeze(1)
            small = torch.logsumexp(logp, dim=1).exp() < alpha  # P(X >= k | mid) < alpha: bound above mid
            lo, hi = torch.where(small, mid, lo), torch.where(small, hi, mid)
        out.append(torch.where(kc > 0, lo, torch.zeros_like(lo)))
    return torch.cat(out).cpu()


def radius(k: torch.Tensor, n: int, alpha: float, sigma: float) -> torch.Tensor:
    """Cohen's certified radius sigma * PhiInv(pA_lower), 0 where pA_lower <= 1/2 (abstain)."""
    return radius_of(cp_lower(k, n, alpha), sigma)


def radius_of(p: torch.Tensor, sigma: float) -> torch.Tensor:
    """`radius` from pA_lower itself, for callers that also need the bound (no second bisection)."""
    r = sigma * torch.special.ndtri(p.clamp(max=1 - 1e-12))
    return torch.where(p > 0.5, r, torch.zeros_like(r)).float()


if __name__ == "__main__":
    # sanity: Beta(0.05; 100, 1) = 0.05 ** (1/100)
    print(cp_lower(torch.tensor([100, 90, 50]), 100, 0.05), 0.05 ** 0.01)
    print(radius(torch.tensor([100, 60]), 100, 0.001, 1.0), math.sqrt(2))
