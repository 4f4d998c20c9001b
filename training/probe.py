"""Ask whether the variance estimator's capacity, its label rule or its noise keeps Dual RS below
the best global sigma.

    /usr/bin/python3 -m training.probe [--device cuda] [--work out/training] [--variants ...]
                                       [--sigma-e S]

Trains estimator variants, a net (the zoo's SmallCNN started from `expert-1.0`, or the 230 times
larger WideCNN) by a label rule, on the zoo's 100-draw training labels, and scores each on the
validation images (the last 1 000 test images) the way the pipeline chooses the zoo's estimator:
certified with n0 = 100 and n = 10 000 at sigma_e, each route paired with the routed expert's
validation certificate, min(R_sigma, R_c). A routing bias on the logits of 0.25 and 0.5 is chosen
on the even-numbered validation images and reported on the odd-numbered ones. Separability: how
well the estimator's mean probability for sigma = 0.25 picks out the images that need it (sigma =
0.25 certifies them beyond r = 0.25 and sigma = 0.5 does not). Reuses the pipeline's cached
labels and validation certificates; writes `probe.json` in the work folder. Meant for a GPU: the
wide variants take a few minutes each on one H100 and about a day each on two CPU cores.

`--sigma-e` trains and smooths the estimators at another sigma_e (started from the expert nearest
it) and writes `probe-sigma-e-<S>.json`: below the largest option's sigma, R_sigma may cap the
certificate, so Dual RS itself keeps sigma_e = 1.0.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import torch
import torch.nn.functional as F

from . import data, device
from .certify import option_weights, sample_logits
from .manifests import SIGMA_E, SIGMAS
from .nets import WideCNN, from_expert
from .pipeline import (VAL_RADII, Run, _labels, best_global, estimator_labels, expert_options, label_splits,
                       routed_accuracy, routes, val_certificates)
from .train import TrainConfig, fixed_sigma, train_classifier

BAND = VAL_RADII.index(1.5) + 1  # the radii of docs/results.md's claim: 0.25 ... 1.5
SMALL, HALF = SIGMAS.index(0.25), SIGMAS.index(0.5)
BIASES = [0.0, 1.0, 2.0, 3.0, 4.0]
HALVES = {"even": slice(0, None, 2), "odd": slice(1, None, 2), "all": slice(None)}


def needs_small(r: torch.Tensor) -> torch.Tensor:
    """The inputs whose radii [N, options] say that 0.25 is sure beyond r = 0.25 and 0.5 is not."""
    return (r[:, HALF] <= 0.25) & (r[:, SMALL] > 0.25)


def needs_small_labels(radii: torch.Tensor):
    """One-hot labels: 1.0 where its radius exceeds 1.0; else 0.25 where 0.25 is sure beyond r = 0.25
    and 0.5 is not; else 0.5. The routing that would close the gap at r = 0.25 if it were learned.
    Same return shape as `certify.threshold_labels`."""
    keep = radii.max(dim=1).values > 0
    r = radii[keep]
    best = torch.where(needs_small(r), SMALL, HALF)
    best = torch.where(r[:, -1] > 1.0, len(SIGMAS) - 1, best)
    return keep, F.one_hot(best, len(SIGMAS)).float(), best


def auc(score: torch.Tensor, positive: torch.Tensor) -> float:
    """Probability that a positive scores above a negative (Mann-Whitney; ties broken by order)."""
    ranks = score.argsort().argsort().double() + 1
    n1, n0 = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def rounded(gap: torch.Tensor) -> list[float]:
    return [round(100 * float(v), 1) for v in gap]


def score(run: Run, net: torch.nn.Module, certs: dict, best: dict, sigma_e: float) -> dict:
    """Validation gaps to the best global sigma, without and with the routing bias chosen on the even
    images, and how well p(0.25) separates the images that need 0.25."""
    b = run.budget
    logits0 = sample_logits(net, run.val.x, sigma_e, b.val_n0, seed=12)
    logits = sample_logits(net, run.val.x, sigma_e, b.val_cert_n, seed=13)
    def gap(bias: tuple[float, float], half: str) -> torch.Tensor:
        vec = torch.zeros(len(SIGMAS))
        vec[SMALL], vec[HALF] = bias
        h = HALVES[half]
        return routed_accuracy(logits0[h], logits[h], vec, certs["stage"][h], b.cert_alpha / 2, sigma_e) - best[half]

    even = {(s, h): gap((s, h), "even")[:BAND] for s in BIASES for h in BIASES}
    chosen = max(even, key=lambda k: (float(even[k].min()), float(even[k].mean())))
    vec = torch.zeros(len(SIGMAS))
    vec[SMALL], vec[HALF] = chosen
    routed, _ = routes(logits0, logits, vec, b.cert_alpha / 2, sigma_e)
    needs = needs_small(certs["stage"])
    p_small = logits.softmax(2)[..., SMALL].mean(1)
    top = p_small.argsort(descending=True)[:100]
    return {
        "no_bias": rounded(gap((0.0, 0.0), "all")),
        "bias_0.25_0.5": list(chosen),
        "chosen_odd": rounded(gap(chosen, "odd")),
        "chosen_all": rounded(gap(chosen, "all")),
        "chosen_routes": torch.bincount(routed + 1, minlength=len(SIGMAS) + 1).tolist(),  # [abstain, ...]
        "needs_0.25": int(needs.sum()),
        "auc_p0.25": round(auc(p_small, needs), 3),
        "needs_0.25_in_top100": int(needs[top].sum()),
    }


def variants(run: Run, radii: torch.Tensor, sigma_e: float) -> dict:
    """name -> (net factory, labels, epochs)."""
    b = run.budget
    zoo_rule = estimator_labels(b, radii, (1.0, 0.5))[:3]
    # the expert whose noise is nearest sigma_e's (log scale; ties to the larger)
    init = min(reversed(SIGMAS), key=lambda s: abs(math.log(s / sigma_e)))
    small = lambda: from_expert(run.expert(init), len(SIGMAS))  # noqa: E731
    wide = lambda: WideCNN(classes=len(SIGMAS))  # noqa: E731
    epochs = 1 if run.args.smoke else 30
    return {
        "small-threshold": (small, zoo_rule, b.est_epochs),
        "wide-needs-small": (wide, needs_small_labels(radii), epochs),
        "small-needs-small": (small, needs_small_labels(radii), b.est_epochs),
        "wide-threshold": (wide, zoo_rule, epochs),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python3 -m training.probe", description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="the pipeline's smoke budget, one epoch")
    p.add_argument("--work", default=None, help="the pipeline's work folder (default: out/training[-smoke])")
    p.add_argument("--variants", default="", help="comma-separated subset (default: all)")
    p.add_argument("--sigma-e", type=float, default=SIGMA_E,
                   help=f"the estimator's smoothing noise (default {SIGMA_E}: Dual RS as the zoo does it; a "
                        "smaller one may cap R_sigma below the experts' radii)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default=data.DEFAULT_DIR)
    args = p.parse_args(argv)
    args.budget, args.retrain = {}, set()
    torch.set_num_threads(args.threads)
    device.use(args.device)
    run = Run(args)
    b = run.budget
    options = expert_options(run)
    certs = val_certificates(run, options)
    best = {h: best_global(certs["global"][s]) for h, s in HALVES.items()}
    train_l = label_splits(run, b.label_n)[0]
    radii = _labels(run, "labels-experts-train", options, train_l, seed=20)
    chosen = set(filter(None, args.variants.split(",")))
    sigma_e = args.sigma_e
    out_path = os.path.join(run.work, "probe.json" if sigma_e == SIGMA_E else f"probe-sigma-e-{sigma_e:g}.json")
    results = {"radii": VAL_RADII, "sigma_e": sigma_e, "best_global": {h: rounded(v) for h, v in best.items()}}
    for name, (make, (keep, q, labels), epochs) in variants(run, radii, sigma_e).items():
        if chosen and name not in chosen:
            continue
        t0 = time.time()
        net = make().to(run.device)
        cfg = TrainConfig(epochs=epochs, seed=200, lam=b.est_lam, eta=b.est_eta, batch=256, log_every=0)
        train_classifier(net, train_l.x[keep], q, fixed_sigma(sigma_e), cfg,
                         class_weight=option_weights(labels, len(SIGMAS), b.weight_power), log=lambda _: None)
        trained = time.time() - t0
        results[name] = dict(score(run, net, certs, best, sigma_e), epochs=epochs, train_seconds=round(trained, 1),
                             label_counts=torch.bincount(labels, minlength=len(SIGMAS)).tolist(),
                             trained_on=run.trained_on())
        run.log(f"probe {name}: {results[name]}")
        with open(out_path, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
