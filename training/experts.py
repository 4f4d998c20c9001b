"""Trains one expert per sigma on a team's own labelled images and exports each as ONNX.

    /usr/bin/python3 -m training.experts --data DIR --sigmas 0.25,0.5,1.0 --out work/
        [--split train] [--epochs 20] [--lam 10] [--normalize | --mean M,.. --std S,..] [--classes FILE]
        [--test DIR --test-split test] [--dims 16,32,128] [--threads 2] [--device auto]

The data is an image folder, a .npz or an IDX folder (`training.datasets`). Each expert is the
zoo's `SmallCNN`, sized for the data's channels and image size, trained under Gaussian noise at
its sigma (with Jeong & Shin's consistency term unless --lam 0). The out folder gets, per sigma,
`expert-<sigma>.onnx` (the file `dualrs models create --model FILE:SIGMA` takes) and
`expert-<sigma>.pt` (the checkpoint `training.estimator --init` starts from), `labels.txt` (the
class names in label order, for `--labels`) and `experts.json` (settings and accuracies). It ends
by printing the `dualrs models create` command for the experts as global certifiers.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time

import torch

from . import checkpoints, datasets, device
from .nets import SmallCNN, count_macs, count_params
from .train import TrainConfig, fixed_sigma, noisy_accuracy, train_classifier


def sigma_name(s: float) -> str:
    return f"expert-{float(s)}"  # the zoo's names: expert-0.25, expert-1.0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python3 -m training.experts", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="image folder, .npz file or IDX folder")
    p.add_argument("--split", default="train", choices=["train", "test"], help="for IDX and two-split .npz")
    p.add_argument("--sigmas", required=True, help="comma-separated noise levels, in the scale of [0,1] pixels")
    p.add_argument("--out", required=True, help="folder for the ONNX files, checkpoints and experts.json")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--lam", type=float, default=10.0, help="consistency weight (0: noise augmentation only)")
    p.add_argument("--eta", type=float, default=0.5)
    p.add_argument("--dims", default="16,32,128", help="SmallCNN conv1 channels, conv2 channels, hidden units")
    p.add_argument("--normalize", action="store_true",
                   help="normalize by the training images' per-channel mean and std")
    p.add_argument("--mean", help="per-channel mean the models subtract (after the noise)")
    p.add_argument("--std", help="per-channel std the models divide by (after the noise)")
    p.add_argument("--classes", help="class names in label order (file or a,b,c); default: an image "
                   "folder's subfolders in sorted order, a .npz's classes, Fashion-MNIST's for IDX")
    p.add_argument("--test", help="held-out data for clean and noisy accuracy (same layouts)")
    p.add_argument("--test-split", default="test", choices=["train", "test"])
    p.add_argument("--seed", type=int, default=100, help="expert k is trained with seed + k")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu, cuda or cuda:N")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device.use(args.device)

    sigmas = datasets.parse_floats(args.sigmas, "sigmas") or []
    if not sigmas or any(s <= 0 for s in sigmas):
        raise SystemExit("--sigmas: one or more positive noise levels, e.g. 0.25,0.5,1.0")
    c1, c2, hidden = (int(v) for v in args.dims.split(","))
    train = datasets.load(args.data, args.split, classes=datasets.read_classes(args.classes))
    test = datasets.load(args.test, args.test_split, classes=train.classes) if args.test else None
    if test is not None and test.shape != train.shape:
        raise SystemExit(f"--test: images of shape {test.shape}, the training images {train.shape}")
    shape = train.shape
    mean, std = datasets.parse_floats(args.mean, "mean"), datasets.parse_floats(args.std, "std")
    if args.normalize:
        mean, std = checkpoints.channel_stats(train.x)
    pre = checkpoints.normalizer(mean, std, shape[0])
    os.makedirs(args.out, exist_ok=True)
    print(f"{len(train)} training images of shape {list(shape)}, {len(train.classes)} classes", flush=True)

    with open(os.path.join(args.out, "labels.txt"), "w") as f:
        f.write("".join(c + "\n" for c in train.classes))
    info = {"data": args.data, "split": args.split, "shape": list(shape), "classes": train.classes,
            "mean": mean, "std": std, "experts": {}}
    for k, s in enumerate(sigmas):
        name = sigma_name(s)
        net = SmallCNN(classes=len(train.classes), c1=c1, c2=c2, hidden=hidden, in_channels=shape[0],
                       size=shape[1:]).to(device.current())
        cfg = TrainConfig(epochs=args.epochs, batch=min(args.batch, len(train)), lr=args.lr, seed=args.seed + k,
                          lam=args.lam, eta=args.eta, log_every=0)
        t0 = time.time()
        print(f"training {name}", flush=True)
        train_classifier(net, train.x, train.y, fixed_sigma(s), cfg, preprocess=pre)
        seconds = round(time.time() - t0, 1)
        m = {"sigma": s, "seed": args.seed + k, "epochs": args.epochs, "consistency_lambda": args.lam,
             "train_seconds": seconds, "params": count_params(net),
             "macs": count_macs(net, torch.zeros(1, *shape, device=device.current()))}
        if test is not None:
            # noisy_accuracy adds the noise before `pre`, as the engine does
            m["clean_accuracy"] = noisy_accuracy(net, test.x, test.y, 0.0, preprocess=pre)
            m["noisy_accuracy"] = noisy_accuracy(net, test.x, test.y, s, preprocess=pre)
        net = net.cpu().eval()
        meta = {"shape": list(shape), "classes": train.classes, "sigma": s, "mean": mean, "std": std}
        checkpoints.save(net, os.path.join(args.out, name + ".pt"), meta)
        m.update(checkpoints.export(net, shape, os.path.join(args.out, name + ".onnx")))
        info["experts"][name] = m
        print(f"{name}: {json.dumps(m)}", flush=True)
    with open(os.path.join(args.out, "experts.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    print("\nThe experts as global certifiers (one --model per sigma):\n" + create_command(args.out, sigmas, info))


def create_command(out: str, sigmas: list[float], info: dict) -> str:
    """The `dualrs models create` command line for the experts (to adapt: --id, --out)."""
    parts = ["npm", "run", "dualrs", "--", "models", "create", "--id", "my-experts"]
    for s in sigmas:
        parts += ["--model", f"{os.path.join(out, sigma_name(s) + '.onnx')}:{s}"]
    parts += ["--labels", os.path.join(out, "labels.txt"), "--shape", ",".join(map(str, info["shape"])),
              "--range", "0,1"]
    if info["mean"] is not None:
        parts += ["--mean", ",".join(map(str, info["mean"])), "--std", ",".join(map(str, info["std"]))]
    parts += ["--out", "store/"]
    return " ".join(shlex.quote(v) for v in parts)


if __name__ == "__main__":
    main()
