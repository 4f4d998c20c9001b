"""Trains the variance estimator of Dual RS from a label table and exports it as ONNX.

    /usr/bin/python3 -m training.estimator --data DIR --labels labels.tsv --sigma-e 1.0 --out work/estimator.onnx
        [--split train] [--epochs 10] [--init work/expert-1.0.pt] [--temperature 0.1]
        [--threshold T --floor SIGMA] [--weight-power 1] [--lam 40] [--eta 0.5] [--mean .. --std ..]

`labels.tsv` is what `dualrs labels` writes for the same data: one row per (image, option) with
the columns index, label, option, sigma, radius (and nA, n, pA_lower), where index is the image's
position in --data, option the index of the manifest's option (`dualrs models create`, one
--model per option, in order) and radius its certified radius of the true label. The estimator's
class k routes to option k (options named otherwise: in the order the table first lists them).

The paper's recipe (Sun, Mao, Vechev): soft labels softmax(radius / T) over the images some option
certifies, soft cross-entropy weighted by each option's inverse frequency of being the best, under
Gaussian noise at sigma_e with Jeong & Shin's consistency term. --threshold gives the zoo's
threshold labels instead (training/README.md). The net is the zoo's `SmallCNN` with one output per
option, sized for the data; --init starts it from an expert's checkpoint (the zoo starts from the
expert whose sigma is sigma_e), whose normalization it then keeps. Next to the ONNX file goes
<name>.json: the options in class order, sigma_e and what the labels and routing came to.
"""

from __future__ import annotations

import argparse
import csv
import json
import os

import torch

from . import checkpoints, datasets, device
from .certify import option_weights, soft_labels, threshold_labels
from .nets import SmallCNN, from_expert
from .train import TrainConfig, fixed_sigma, predict, train_classifier


class LabelTableError(ValueError):
    """A label table that does not fit the data; the message names the row."""


def read_label_table(path: str, ds: datasets.Dataset) -> tuple[torch.Tensor, torch.Tensor, list[str], list[float]]:
    """(image indices [M], radii [M, K], option names, option sigmas) from a `dualrs labels` TSV:
    every listed image must have a row for every option, and its label must be the data's."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    need = {"index", "label", "option", "sigma", "radius"}
    if not rows or not need <= set(rows[0]):
        raise LabelTableError(f"{path}: expected a header with the columns {', '.join(sorted(need))}")
    options: list[str] = []
    sigmas: dict[str, float] = {}
    radii: dict[int, dict[str, float]] = {}
    for line, r in enumerate(rows, start=2):
        i, opt = int(r["index"]), r["option"]
        if not 0 <= i < len(ds):
            raise LabelTableError(f"{path}:{line}: image {i}, but the data has {len(ds)} images")
        y = int(ds.y[i])
        if r["label"] not in (str(y), ds.classes[y]):
            raise LabelTableError(f"{path}:{line}: image {i} has label {r['label']!r} in the table and "
                                  f"{y} ({ds.classes[y]}) in the data: is it the same data and split?")
        if opt not in sigmas:
            options.append(opt)
            sigmas[opt] = float(r["sigma"])
        radii.setdefault(i, {})[opt] = float(r["radius"])
    if len(options) < 2:
        raise LabelTableError(f"{path}: an estimator routes between two or more options; the table has {options}")
    if all(o.isdigit() for o in options):  # `dualrs labels` numbers the options: class k is option k
        options.sort(key=int)
    index = sorted(radii)
    for i in index:
        missing = [o for o in options if o not in radii[i]]
        if missing:
            raise LabelTableError(f"{path}: image {i} has no row for option(s) {', '.join(missing)}")
    table = torch.tensor([[radii[i][o] for o in options] for i in index], dtype=torch.float32)
    return torch.tensor(index, dtype=torch.int64), table, options, [sigmas[o] for o in options]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python3 -m training.estimator", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="the data the label table was made on")
    p.add_argument("--split", default="train", choices=["train", "test"], help="for IDX and two-split .npz")
    p.add_argument("--labels", required=True, help="label table (dualrs labels --out)")
    p.add_argument("--classes", help="the certifier's labels in order (file or a,b,c), which the table's "
                   "label column indexes; default: an image folder's subfolders in sorted order")
    p.add_argument("--sigma-e", type=float, required=True, help="the estimator's global smoothing sigma")
    p.add_argument("--out", required=True, help="ONNX file to write (and <name>.json, <name>.pt beside it)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--temperature", type=float, default=0.1, help="soft label = softmax(radius / T)")
    p.add_argument("--threshold", type=float, default=0.0,
                   help="threshold labels instead: the largest sigma whose radius exceeds threshold x sigma")
    p.add_argument("--floor", type=float, help="threshold labels: the sigma an input goes to otherwise "
                   "(default the smallest)")
    p.add_argument("--weight-power", type=float, default=1.0,
                   help="class weights: inverse best-option frequency to this power (0: none)")
    p.add_argument("--lam", type=float, default=40.0, help="consistency weight")
    p.add_argument("--eta", type=float, default=0.5)
    p.add_argument("--init", help="expert checkpoint (training.experts' .pt) to start from")
    p.add_argument("--dims", default="16,32,128", help="SmallCNN widths without --init")
    p.add_argument("--mean", help="per-channel mean (the manifest's); default the --init checkpoint's")
    p.add_argument("--std", help="per-channel std (the manifest's); default the --init checkpoint's")
    p.add_argument("--seed", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu, cuda or cuda:N")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device.use(args.device)
    if args.sigma_e <= 0:
        raise SystemExit("--sigma-e must be positive")

    ds = datasets.load(args.data, args.split, classes=datasets.read_classes(args.classes))
    try:
        index, radii, options, sigmas = read_label_table(args.labels, ds)
    except LabelTableError as e:
        raise SystemExit(str(e)) from None
    shape = ds.shape
    mean, std = datasets.parse_floats(args.mean, "mean"), datasets.parse_floats(args.std, "std")
    if args.init:
        expert, meta = checkpoints.load(args.init)
        if tuple(meta["shape"]) != shape:
            raise SystemExit(f"--init: the expert takes {meta['shape']}, the data is {list(shape)}")
        if mean is None and std is None:
            mean, std = meta["mean"], meta["std"]
        net = from_expert(expert, len(options))
    else:
        c1, c2, hidden = (int(v) for v in args.dims.split(","))
        net = SmallCNN(classes=len(options), c1=c1, c2=c2, hidden=hidden, in_channels=shape[0], size=shape[1:])
    pre = checkpoints.normalizer(mean, std, shape[0])

    if args.threshold > 0:
        floor = sigmas.index(args.floor) if args.floor is not None and args.floor in sigmas else None
        if args.floor is not None and floor is None:
            raise SystemExit(f"--floor {args.floor}: not one of the options' sigmas {sigmas}")
        order = sorted(range(len(sigmas)), key=lambda k: sigmas[k])
        if order != list(range(len(sigmas))):
            raise SystemExit(f"--threshold needs the options in increasing sigma, the table has {sigmas}")
        keep, q, best = threshold_labels(radii, args.threshold, sigmas, floor or 0)
        rule = f"threshold {args.threshold:g} floor {sigmas[floor or 0]:g}"
    else:
        keep, q, best = soft_labels(radii, args.temperature)
        rule = f"softmax T={args.temperature:g}"
    if int(keep.sum()) == 0:
        raise SystemExit(f"{args.labels}: no option certifies any image; nothing to learn from")
    w = option_weights(best, len(options), args.weight_power)
    x = ds.x[index][keep]
    print(f"{len(index)} labelled images, {int(keep.sum())} certified by some option; {rule}; "
          f"best-option counts {torch.bincount(best, minlength=len(options)).tolist()}; class weights "
          f"{[round(v, 3) for v in w.tolist()]}", flush=True)
    cfg = TrainConfig(epochs=args.epochs, batch=min(args.batch, len(x)), lr=args.lr, seed=args.seed,
                      lam=args.lam, eta=args.eta, log_every=0)
    net = net.to(device.current())
    train_classifier(net, x, q, fixed_sigma(args.sigma_e), cfg, preprocess=pre, class_weight=w)

    # where one noise draw at sigma_e sends each labelled image, against its best option
    g = torch.Generator().manual_seed(args.seed + 1)
    xn = x + args.sigma_e * torch.randn(x.shape, generator=g)
    routed = predict(net, xn if pre is None else pre(xn, None))
    net = net.cpu().eval()
    stem = os.path.splitext(args.out)[0]
    checkpoints.save(net, stem + ".pt", {"shape": list(shape), "classes": options, "sigma": args.sigma_e,
                                         "mean": mean, "std": std})
    info = {"data": args.data, "split": args.split, "labels": args.labels, "shape": list(shape),
            "sigma_e": args.sigma_e, "options": [{"name": o, "sigma": s} for o, s in zip(options, sigmas)],
            "mean": mean, "std": std, "rule": rule, "weight_power": args.weight_power, "class_weights": w.tolist(),
            "lam": args.lam, "eta": args.eta, "epochs": args.epochs, "seed": args.seed, "init": args.init,
            "labelled": len(index), "kept": int(keep.sum()),
            "best_option_counts": torch.bincount(best, minlength=len(options)).tolist(),
            "routing_one_draw": torch.bincount(routed, minlength=len(options)).tolist(),
            "agreement_with_best": float((routed == best).float().mean())}
    info.update(checkpoints.export(net, shape, args.out))
    with open(stem + ".json", "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    print(json.dumps({k: info[k] for k in ("options", "kept", "routing_one_draw", "agreement_with_best", "sha256")}))
    sigmas_text = ", ".join(f"{s:g}" for s in sigmas)
    print(f"\nThe Dual RS certifier: one --model per option in this order (sigma {sigmas_text}), plus\n"
          f"  --estimator {args.out} --sigma-e {args.sigma_e:g}")


if __name__ == "__main__":
    main()
