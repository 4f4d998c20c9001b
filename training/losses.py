"""Losses: soft cross-entropy and the consistency regularizer of Jeong & Shin (NeurIPS 2020)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                       class_weight: torch.Tensor | None = None) -> torch.Tensor:
    """-sum_k w_k q_k log p_k, averaged over the batch. target: [N,K] probabilities."""
    logp = F.log_softmax(logits, dim=1)
    q = target if class_weight is None else target * class_weight.reshape(1, -1)
    return -(q * logp).sum(dim=1).mean()


def consistency(logits: list[torch.Tensor], lam: float, eta: float) -> torch.Tensor:
    """lam * mean_i KL(p_bar || p_i) + eta * H(p_bar), p_bar the mean of the m softmaxes.

    Computed entirely in the log domain: log p_bar = logsumexp_i(log p_i) - log m.
    """
    logps = torch.stack([F.log_softmax(z, dim=1) for z in logits])  # [m,N,K]
    m = logps.shape[0]
    log_pbar = torch.logsumexp(logps, dim=0) - math.log(m)          # [N,K]
    pbar = log_pbar.exp()
    # KL(p_bar || p_i) = sum_k p_bar (log p_bar - log p_i)
    kl = (pbar.unsqueeze(0) * (log_pbar.unsqueeze(0) - logps)).sum(dim=2).mean()
    entropy = -(pbar * log_pbar).sum(dim=1).mean()
    return lam * kl + eta * entropy
