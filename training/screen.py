"""Screen a variance estimator without a full Dual RS run.

    /usr/bin/python3 -m training.screen out/training/estimator.pt [--count 500] [--n 2000] [--runs out/eval]

Certifies the estimator alone (smoothed at sigma_e, CERTIFY of Cohen et al. with alpha / 2, as the
first stage of Dual RS) on the first `count` test images, and pairs each routed image with the
certificate that `dualrs evaluate` wrote for the expert it was routed to
(`<runs>/fmnist-expert-<sigma>-<count>-10000/certify.tsv`, made by `npm run results`). The radius
is min(R_sigma, R_c): what Dual RS certifies when its classifier stage draws the same noise as
the global run. It costs one stage at `n` draws instead of two at 10 000, so label rules and
training settings can be compared in minutes; the numbers in docs/results.md come from full runs.
"""

from __future__ import annotations

import argparse
import csv
import os

import torch

from . import data
from .certify import accuracy_at, cohen_certify
from .manifests import SIGMA_E, SIGMAS
from .nets import SmallCNN

RADII = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]


def global_radii(runs: str, count: int) -> torch.Tensor:
    """R[i, k]: the certified radius of image i under the sigma_k expert, 0 where it is wrong or abstains."""
    out = torch.zeros(count, len(SIGMAS))
    for k, s in enumerate(SIGMAS):
        with open(os.path.join(runs, f"fmnist-expert-{s}-{count}-10000", "certify.tsv")) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                i = int(row["idx"])
                if i < count and row["correct"] == "1":
                    out[i, k] = float(row["radius"])
    return out


def accuracy(radius: torch.Tensor) -> list[float]:
    """Certified accuracy (%) at RADII; `radius` is 0 where the image is not certified correctly."""
    return [round(100 * float(a), 1) for a in accuracy_at(radius, RADII)]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python3 -m training.screen", description=__doc__.split("\n\n")[0])
    p.add_argument("estimator", help="state dict of a 4-output SmallCNN (e.g. out/training/estimator.pt)")
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--n0", type=int, default=100)
    p.add_argument("--alpha", type=float, default=0.001, help="the whole certificate's; the estimator gets half")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="out/eval")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", default=data.DEFAULT_DIR)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    est = SmallCNN(classes=len(SIGMAS))
    est.load_state_dict(torch.load(args.estimator))
    est.eval()
    test = data.load("test", args.data).head(args.count)
    R = global_radii(args.runs, args.count)
    opt, r_sigma = cohen_certify(est, test.x, SIGMA_E, args.n0, args.n, args.alpha / 2, args.seed, len(SIGMAS))
    r_c = torch.where(opt >= 0, R.gather(1, opt.clamp(min=0).reshape(-1, 1)).squeeze(1), torch.zeros(len(opt)))
    best = [max(col) for col in zip(*(accuracy(R[:, k]) for k in range(len(SIGMAS))))]
    dual = accuracy(torch.minimum(r_sigma, r_c))
    print(f"routing [abstain, {', '.join(map(str, SIGMAS))}]: {torch.bincount(opt + 1, minlength=len(SIGMAS) + 1).tolist()}")
    print("radius              " + " ".join(f"{r:6.2f}" for r in RADII))
    print("best global sigma   " + " ".join(f"{v:6.1f}" for v in best))
    print("dual, min(Rs, Rc)   " + " ".join(f"{v:6.1f}" for v in dual))
    print("dual, Rc alone      " + " ".join(f"{v:6.1f}" for v in accuracy(r_c)))
    print("dual - best global  " + " ".join(f"{a - b:6.1f}" for a, b in zip(dual, best)))


if __name__ == "__main__":
    main()
