"""One round of the iterative scheme: fine-tune each expert on the training inputs the estimator
routes to it, recompute the soft labels with the fine-tuned experts, retrain the estimator.

The round's nets are cached as `expert-<sigma>-it1` and `estimator-it1`. They replace the
round-0 nets in `fmnist-dual-experts` only when the Dual RS average certified radius does not get
worse (`metrics["iterate"]["adopted"]`); the global-sigma manifests always keep the round-0 experts,
which were trained on the whole distribution.
"""

from __future__ import annotations

import copy

import torch

from . import data
from .certify import sample_counts
from .nets import SmallCNN
from .train import TrainConfig, fixed_sigma, train_classifier

ROUTE_DRAWS = 8       # estimator draws per training image for the routing (majority vote)
FINE_TUNE_LR = 5e-4


def routed_subset(train: data.Split, routed: torch.Tensor, k: int, seed: int) -> data.Split:
    """The images routed to option k, plus as many others drawn at random (to keep the expert
    from forgetting the rest of the distribution), at least 5 000 images in all."""
    g = torch.Generator().manual_seed(seed)
    mine = (routed == k).nonzero().squeeze(1)
    rest = (routed != k).nonzero().squeeze(1)
    extra = rest[torch.randperm(len(rest), generator=g)[:max(len(mine), 5000 - len(mine))]]
    idx = torch.cat([mine, extra])
    return train.take(idx[torch.randperm(len(idx), generator=g)])


def stage_iterate(run) -> None:
    from .pipeline import SIGMAS, SIGMA_E, evaluate_estimator, label_rule, label_splits, train_estimator, _labels

    b = run.budget
    est0 = run.load("estimator", SmallCNN(classes=4))
    routed = sample_counts(est0, run.train.x, SIGMA_E, ROUTE_DRAWS, 4, seed=40).argmax(1)
    m = run.metrics.setdefault("iterate", {})
    m["train_routing"] = torch.bincount(routed, minlength=4).tolist()
    run.log(f"iterate: training set routing {m['train_routing']}")
    options = []
    for k, s in enumerate(SIGMAS):
        subset = routed_subset(run.train, routed, k, seed=400 + k)
        lam = run.metrics.get(f"expert-{s}", {}).get("consistency_lambda", 0.0)  # the round-0 expert's
        cfg = TrainConfig(epochs=b.iter_epochs, seed=410 + k, lr=FINE_TUNE_LR, lam=lam, log_every=0)
        net, _ = run.train_or_load(
            f"expert-{s}-it1", copy.deepcopy(run.expert(s)),
            lambda n: train_classifier(n, subset.x, subset.y, fixed_sigma(s), cfg, log=run.log))
        options.append((net, s))
        m[f"expert-{s}-it1_images"] = len(subset)

    train_l, test_l = label_splits(run, b.label_n)
    radii = _labels(run, "labels-it1-train", options, train_l, seed=50)
    radii_test = _labels(run, "labels-it1-test", options, test_l, seed=51)
    rule = label_rule(run, "estimator")
    est, fresh = run.train_or_load("estimator-it1", copy.deepcopy(est0),
                                   lambda n: train_estimator(run, "estimator-it1", radii, train_l, 420, rule, init=n))
    if fresh or run.args.reeval or "dual_certified_accuracy" not in run.metrics.get("estimator-it1", {}):
        evaluate_estimator(run, "estimator-it1", est, options, radii_test, test_l, run.cert)
    before = run.metrics["estimator"]["dual_certified_accuracy"]
    after = run.metrics["estimator-it1"]["dual_certified_accuracy"]
    m["adopted"] = after["acr"] >= before["acr"]
    m["summary"] = (
        f"One round done: the round-0 estimator routed the training set {m['train_routing']} "
        f"(options 0.12/0.25/0.5/1.0, majority of {ROUTE_DRAWS} draws at sigma_e); each expert was "
        f"fine-tuned {b.iter_epochs} epochs (lr {FINE_TUNE_LR}) on its routed images plus as many others; soft labels "
        f"recomputed, estimator fine-tuned {b.est_epochs} epochs from round 0. Dual RS certified accuracy "
        f"(r = 0/0.25/0.5/0.75/1.0/1.5/2.0) before: "
        + " / ".join(f"{100 * before[r]:.1f}" for r in ("0", "0.25", "0.5", "0.75", "1", "1.5", "2"))
        + f" (ACR {before['acr']:.3f}), after: "
        + " / ".join(f"{100 * after[r]:.1f}" for r in ("0", "0.25", "0.5", "0.75", "1", "1.5", "2"))
        + f" (ACR {after['acr']:.3f}). "
        + ("`fmnist-dual-experts` uses the round-1 nets (`expert-<sigma>-it1`, `estimator-it1`)."
           if m["adopted"] else "Not adopted (ACR got worse): `fmnist-dual-experts` keeps the round-0 nets.")
    )
    run.log(m["summary"])
    run.save_metrics()
