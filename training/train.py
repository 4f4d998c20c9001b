"""Training loops: noisy classifiers (hard or soft labels, optional consistency) and the denoiser."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .losses import consistency, soft_cross_entropy

# sigma sampler: (n, generator) -> float32 [n] of per-example noise levels
SigmaSampler = Callable[[int, torch.Generator], torch.Tensor]
# preprocessor applied to noisy inputs before the net (the frozen denoiser): (x_noisy, sigma[N]) -> x
Preprocess = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def fixed_sigma(sigma: float) -> SigmaSampler:
    return lambda n, g: torch.full((n,), float(sigma))


def choice_sigma(sigmas: list[float], clean_fraction: float = 0.0) -> SigmaSampler:
    """Each example: 0 (clean) with probability clean_fraction, else uniform over `sigmas`."""
    s = torch.tensor(sigmas, dtype=torch.float32)

    def sample(n: int, g: torch.Generator) -> torch.Tensor:
        out = s[torch.randint(len(sigmas), (n,), generator=g)]
        clean = torch.rand(n, generator=g) < clean_fraction
        return torch.where(clean, torch.zeros_like(out), out)

    return sample


def uniform_sigma(lo: float, hi: float) -> SigmaSampler:
    return lambda n, g: lo + (hi - lo) * torch.rand(n, generator=g)


@dataclass
class TrainConfig:
    epochs: int = 10
    batch: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    # Jeong & Shin consistency regularization; 0 disables it (then one noise copy per example)
    lam: float = 0.0
    eta: float = 0.5
    copies: int = 2
    log_every: int = 100


def add_noise(x: torch.Tensor, sigma: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return x + sigma.reshape(-1, 1, 1, 1) * torch.randn(x.shape, generator=g, device=x.device)


def _generators(seed: int, dev: torch.device) -> tuple[torch.Generator, torch.Generator]:
    """(CPU generator for permutations and sigma draws, generator for the noise on `dev`).

    On the CPU they are one generator, the draws a CPU run has always made."""
    g = torch.Generator().manual_seed(seed)
    return g, (g if dev.type == "cpu" else torch.Generator(device=dev).manual_seed(seed))


def _schedule(opt: torch.optim.Optimizer, step: int, total: int, lr: float) -> None:
    warm = max(1, total // 50)
    f = (step + 1) / warm if step < warm else 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
    for group in opt.param_groups:
        group["lr"] = lr * f


def train_classifier(
    net: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    sigma: SigmaSampler,
    cfg: TrainConfig,
    preprocess: Optional[Preprocess] = None,
    class_weight: Optional[torch.Tensor] = None,
    log: Callable[[str], None] = print,
) -> nn.Module:
    """Train on x + sigma * eps. `target`: int64 labels [N] or soft labels [N,K]. Runs on the net's device."""
    dev = next(net.parameters()).device
    torch.manual_seed(cfg.seed)
    g, gn = _generators(cfg.seed, dev)
    x, target = x.to(dev), target.to(dev)
    class_weight = None if class_weight is None else class_weight.to(dev)
    soft = target.dtype.is_floating_point
    n = x.shape[0]
    steps_per_epoch = max(1, n // cfg.batch)
    total = cfg.epochs * steps_per_epoch
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    copies = cfg.copies if cfg.lam > 0 else 1
    step, t0 = 0, time.time()
    net.train()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(n, generator=g)
        # running sums stay on the device: a .item() per step would wait for the GPU every step
        run_loss, run_acc, seen = torch.zeros((), device=dev), torch.zeros((), device=dev), 0
        for b in range(steps_per_epoch):
            idx = perm[b * cfg.batch:(b + 1) * cfg.batch].to(dev)
            xb, tb = x[idx], target[idx]
            logits = []
            for _ in range(copies):
                s = sigma(len(idx), g).to(dev)
                xn = add_noise(xb, s, gn)
                if preprocess is not None:
                    with torch.no_grad():
                        xn = preprocess(xn, s)
                logits.append(net(xn))
            if soft:
                ce = sum(soft_cross_entropy(z, tb, class_weight) for z in logits) / copies
                hard = tb.argmax(1)
            else:
                ce = sum(F.cross_entropy(z, tb, weight=class_weight) for z in logits) / copies
                hard = tb
            loss = ce + (consistency(logits, cfg.lam, cfg.eta) if copies > 1 else 0.0)
            _schedule(opt, step, total, cfg.lr)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            run_loss += loss.detach() * len(idx)
            run_acc += (logits[0].argmax(1) == hard).sum()
            seen += len(idx)
            if cfg.log_every and step % cfg.log_every == 0:
                log(f"  epoch {epoch + 1}/{cfg.epochs} step {step}/{total} loss {run_loss.item() / seen:.4f} "
                    f"acc {run_acc.item() / seen:.4f} ({time.time() - t0:.0f}s)")
        log(f"  epoch {epoch + 1} done: loss {run_loss.item() / seen:.4f} acc {run_acc.item() / seen:.4f} "
            f"({time.time() - t0:.0f}s)")
    net.eval()
    return net


def train_denoiser(
    net: nn.Module, x: torch.Tensor, sigma: SigmaSampler, cfg: TrainConfig, log: Callable[[str], None] = print,
) -> nn.Module:
    """Denoising objective: minimise ||D(x + sigma eps, sigma) - x||^2 over sigma from the sampler."""
    dev = next(net.parameters()).device
    torch.manual_seed(cfg.seed)
    g, gn = _generators(cfg.seed, dev)
    x = x.to(dev)
    n = x.shape[0]
    steps_per_epoch = max(1, n // cfg.batch)
    total = cfg.epochs * steps_per_epoch
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=0.0)
    step, t0 = 0, time.time()
    net.train()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(n, generator=g)
        run, seen = torch.zeros((), device=dev), 0
        for b in range(steps_per_epoch):
            xb = x[perm[b * cfg.batch:(b + 1) * cfg.batch].to(dev)]
            s = sigma(len(xb), g).to(dev)
            loss = F.mse_loss(net(add_noise(xb, s, gn), s), xb)
            _schedule(opt, step, total, cfg.lr)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            run += loss.detach() * len(xb)
            seen += len(xb)
            if cfg.log_every and step % cfg.log_every == 0:
                log(f"  epoch {epoch + 1}/{cfg.epochs} step {step}/{total} mse {run.item() / seen:.5f} "
                    f"({time.time() - t0:.0f}s)")
        log(f"  epoch {epoch + 1} done: mse {run.item() / seen:.5f} ({time.time() - t0:.0f}s)")
    net.eval()
    return net


@torch.no_grad()
def predict(net: nn.Module, x: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    """argmax of the net on x, batch by batch on the net's device; int64 [N] on the CPU."""
    net.eval()
    dev = next(net.parameters()).device
    return torch.cat([net(x[i:i + batch].to(dev)).argmax(1).cpu() for i in range(0, x.shape[0], batch)])


@torch.no_grad()
def noisy_accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, sigma: float, seed: int = 1234,
                   preprocess: Optional[Preprocess] = None, batch: int = 2048) -> float:
    """Accuracy of the base model on one Gaussian draw per test example (sigma 0: clean).

    The draws are made on the CPU, so the figure does not depend on the device."""
    net.eval()
    dev = next(net.parameters()).device
    g = torch.Generator().manual_seed(seed)
    correct = 0
    for i in range(0, x.shape[0], batch):
        xb = x[i:i + batch]
        s = torch.full((xb.shape[0],), float(sigma))
        xn = (add_noise(xb, s, g) if sigma > 0 else xb).to(dev)
        if preprocess is not None:
            xn = preprocess(xn, s.to(dev))
        correct += (net(xn).argmax(1).cpu() == y[i:i + batch]).sum().item()
    return correct / x.shape[0]
