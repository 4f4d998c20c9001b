"""A variance estimator that also sees how sure an expert is: one bounded try at routing fewer images
to sigma = 1.0 where that expert is wrong (training/README.md, "Confidence-aware router").

    /usr/bin/python3 -m training.router train --labels LABELS.tsv --out DIR [--zoo models] [--epochs 8]
    /usr/bin/python3 -m training.router score --globals RUN,RUN,... RUN...

The router is one function of the noisy input x + N(0, sigma_e^2): the zoo's estimator trunk and, on
the same noisy input, a frozen expert (sigma = 1.0 by default, the estimator's own noise), whose
sorted log-softmax (how sure it is, whatever the class) joins the estimator's hidden features
before its last layer. So it is still a smoothed, certifiable router, exported as ONE ONNX graph
holding both nets' weights. It starts from the zoo's estimator (confidence weights at zero: its routing before training) and is fine-tuned with the
pipeline's label rule, loss and class weights from a `dualrs labels` table (on the CPU the engine
draws the labels' noise far faster than Debian's PyTorch). The zoo's work folder (trained on a GPU)
is not kept, so its nets are read back from their ONNX files. `score` gives the results page's
measure for `dualrs evaluate` runs on any images: the worst shortfall to the envelope of the global
sigmas over r = 0 ... 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import data, datasets, device, manifests
from .certify import accuracy_at, option_weights, threshold_labels
from .estimator import read_label_table
from .export import check_parity, onnx_bytes, write_content_addressed
from .manifests import SIGMA_E, SIGMAS
from .nets import SmallCNN, count_macs, count_params
from .pipeline import Budget
from .train import TrainConfig, fixed_sigma, train_classifier

# the radii of the results page's measure: the worst shortfall to the envelope of the global sigmas
SCORE_RADII = [0.25 * i for i in range(9)]
# whose confidence the router sees: sigma = 1.0, the estimator's own noise. The sigma = 0.5 expert's
# was tried first and added next to nothing (training/README.md, "Confidence-aware router")
CONFIDENCE_EXPERT = 1.0
CLIP = 10.0  # lowest log-probability the router sees


def _varint(b: bytes, i: int) -> tuple[int, int]:
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def _fields(b: bytes):
    """(field number, value) of a protobuf message: ints for varints, bytes for the rest."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(b, i)
        elif wire == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            v, i = b[i:i + n], i + n
        else:
            raise ValueError(f"protobuf wire type {wire}")
        yield field, v


def read_onnx(path: str) -> tuple[list[tuple[str, list[str]]], dict[str, torch.Tensor]]:
    """The nodes (op type, inputs) and float32 initializers of an ONNX file, without the onnx package
    (Debian's python3-onnx is optional): ModelProto.graph = 7; GraphProto.node = 1, .initializer = 5;
    NodeProto.input = 1, .op_type = 4; TensorProto.dims = 1, .data_type = 2, .name = 8, .raw_data = 9."""
    graph = next(v for f, v in _fields(open(path, "rb").read()) if f == 7)
    nodes, inits = [], {}
    for f, v in _fields(graph):
        if f == 1:
            node = list(_fields(v))
            nodes.append((next(x for k, x in node if k == 4).decode(), [x.decode() for k, x in node if k == 1]))
        elif f == 5:
            t = list(_fields(v))
            if next(x for k, x in t if k == 2) != 1:  # FLOAT
                raise ValueError(f"{path}: only float32 initializers are read")
            dims = [x for k, x in t if k == 1]
            raw = next(x for k, x in t if k == 9)
            inits[next(x for k, x in t if k == 8).decode()] = torch.frombuffer(bytearray(raw), dtype=torch.float32).reshape(dims)
    return nodes, inits


def small_cnn_from_onnx(path: str) -> SmallCNN:
    """A zoo SmallCNN read back from its ONNX file. The exporter folded each BatchNorm into its
    convolution; the BatchNorms come back as identities (the folded bias as theirs), so the net
    computes what the file does and can be trained further."""
    nodes, w = read_onnx(path)
    convs = [ins for op, ins in nodes if op == "Conv"]
    gemms = [ins for op, ins in nodes if op == "Gemm"]
    if len(convs) != 2 or len(gemms) != 2:
        raise ValueError(f"{path}: not a SmallCNN graph (Conv x 2, Gemm x 2)")
    (c1w, c1b), (c2w, c2b) = ((w[i[1]], w[i[2]]) for i in convs)
    (f1w, f1b), (f2w, f2b) = ((w[i[1]], w[i[2]]) for i in gemms)
    net = SmallCNN(classes=f2w.shape[0], c1=c1w.shape[0], c2=c2w.shape[0], hidden=f1w.shape[0],
                   in_channels=c1w.shape[1])
    state = {"conv1.weight": c1w, "conv2.weight": c2w, "fc1.weight": f1w, "fc1.bias": f1b,
             "fc2.weight": f2w, "fc2.bias": f2b}
    for bn, bias in (("bn1", c1b), ("bn2", c2b)):
        eps = getattr(net, bn).eps
        state.update({f"{bn}.weight": torch.ones_like(bias), f"{bn}.bias": bias.clone(),
                      f"{bn}.running_mean": torch.zeros_like(bias),
                      f"{bn}.running_var": torch.full_like(bias, 1.0 - eps),  # sqrt(var + eps) = 1
                      f"{bn}.num_batches_tracked": torch.tensor(0)})
    net.load_state_dict(state)
    return net.eval()


class ConfidenceRouter(nn.Module):
    """Estimator logits from its own hidden features and the sorted log-softmax of a frozen expert, both
    on the same noisy input: logits = W [h(x), sort(max(log softmax(expert(x)), -CLIP))] + b. Sorting
    drops the class and keeps how sure the expert is (its top probability, the margin to the next, ...)."""

    def __init__(self, estimator: SmallCNN, expert: SmallCNN):
        super().__init__()
        self.est = estimator
        self.expert = expert
        for p in self.expert.parameters():
            p.requires_grad_(False)
        k = expert.fc2.out_features
        self.head = nn.Linear(estimator.fc2.in_features + k, estimator.fc2.out_features)
        with torch.no_grad():  # start as the estimator: its routing, the confidence unused
            self.head.weight.zero_()
            self.head.weight[:, :estimator.fc2.in_features] = estimator.fc2.weight
            self.head.bias.copy_(estimator.fc2.bias)

    def train(self, mode: bool = True) -> "ConfidenceRouter":
        super().train(mode)
        self.expert.eval()  # frozen: its BatchNorm statistics must not move
        return self

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        e = self.est
        x = F.relu(e.bn1(e.conv1(x)))
        x = F.relu(e.bn2(e.conv2(x)))
        if torch.onnx.is_in_onnx_export():
            return F.relu(e.fc1(torch.flatten(x, 1)))
        w = e.fc1.weight.reshape(e.fc1.out_features, -1, *x.shape[2:])  # as SmallCNN.forward, for speed
        return F.relu(F.conv2d(x, w, e.fc1.bias)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # log-probabilities: on the scale of the hidden features (softmax values in [0, 1] left the
        # head's weights on them near 0 after training), clipped where one class has all the mass
        sure = torch.log_softmax(self.expert(x), dim=1).clamp(min=-CLIP).sort(dim=1, descending=True).values
        return self.head(torch.cat([self.hidden(x), sure], dim=1))


def zoo_files(zoo: str) -> dict[str, str]:
    """Model name -> ONNX file name of the experts' Dual RS configuration in the zoo folder."""
    with open(os.path.join(zoo, "fmnist-dual-experts.json")) as f:
        return {name: d["file"] for name, d in json.load(f)["models"].items()}


def fit(net: ConfidenceRouter, x: torch.Tensor, radii: torch.Tensor, epochs: int, lr: float, log=print) -> dict:
    """The pipeline's estimator training (pipeline.train_estimator): its label rule (threshold labels,
    Budget.label_thresholds and label_floor), class weights, loss, consistency term and seed."""
    b = Budget()
    threshold, floor = float(b.label_thresholds), b.label_floor
    keep, q, best = threshold_labels(radii, threshold, SIGMAS, SIGMAS.index(floor))
    w = option_weights(best, len(SIGMAS), b.weight_power)
    log(f"router: threshold {threshold:g} floor {floor:g}, {int(keep.sum())}/{len(keep)} kept, "
        f"best {torch.bincount(best, minlength=len(SIGMAS)).tolist()}, class weights {w.tolist()}")
    cfg = TrainConfig(epochs=epochs, seed=200, lam=b.est_lam, eta=b.est_eta, lr=lr, log_every=0)
    train_classifier(net, x[keep], q, fixed_sigma(SIGMA_E), cfg, class_weight=w, log=log)
    return {"label_threshold": threshold, "label_floor": floor, "labelled": len(keep), "kept": int(keep.sum()),
            "best_option_counts": torch.bincount(best, minlength=len(SIGMAS)).tolist(),
            "class_weights": w.tolist(), "epochs": epochs, "lr": lr, "lam": b.est_lam, "eta": b.est_eta}


def export_router(net: ConfidenceRouter, out_dir: str) -> dict:
    """The router as one ONNX graph (input x, output logits [N, 4]) in `out_dir`, checked against torch
    with onnxruntime-node."""
    net = net.cpu().eval()
    blob = onnx_bytes(net)
    fname = write_content_addressed(blob, out_dir)
    diff = check_parity(os.path.join(out_dir, fname), net)
    return {"file": fname, "bytes": len(blob), "params": count_params(net),
            "macs": count_macs(net, torch.rand(1, 1, 28, 28)), "onnx_max_abs_diff": diff}


def read_radii(run_dir: str) -> torch.Tensor:
    """Per image of a `dualrs evaluate` run (certify.tsv): its certified radius where it is right, else 0."""
    with open(os.path.join(run_dir, "certify.tsv"), newline="") as f:
        rows = sorted(csv.DictReader(f, delimiter="\t"), key=lambda r: int(r["idx"]))
    return torch.tensor([float(r["radius"]) if r["correct"] == "1" else 0.0 for r in rows])


def shortfall(global_dirs: list[str], run_dir: str) -> dict:
    """The results page's measure on any images: the envelope of the global sigmas at SCORE_RADII, the
    run's certified accuracy there, and its worst shortfall to the envelope (points) and where."""
    env = torch.stack([accuracy_at(read_radii(d), SCORE_RADII) for d in global_dirs]).max(0).values
    acc = accuracy_at(read_radii(run_dir), SCORE_RADII)
    gap = 100 * (env - acc)
    worst = int(gap.argmax())
    return {"radii": SCORE_RADII, "envelope": [round(100 * float(v), 1) for v in env],
            "accuracy": [round(100 * float(v), 1) for v in acc], "shortfall": [round(float(g), 1) for g in gap],
            "worst": round(float(gap[worst]), 1), "worst_radius": SCORE_RADII[worst]}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python3 -m training.router", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="fine-tune the router from a label table and export it with its manifest")
    t.add_argument("--labels", required=True, help="dualrs labels table of the experts' configuration (train split)")
    t.add_argument("--data", default=data.DEFAULT_DIR)
    t.add_argument("--zoo", default="models", help="where the zoo's experts and estimator are read")
    t.add_argument("--out", required=True, help="folder for the router's ONNX file and manifest")
    t.add_argument("--work", default="out/training-router", help="checkpoint and metrics folder")
    t.add_argument("--epochs", type=int, default=8)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--confidence-expert", type=float, default=CONFIDENCE_EXPERT,
                   help="the sigma of the expert whose sorted log-softmax the router sees")
    s = sub.add_parser("score", help="worst shortfall to the envelope of global-sigma runs (dualrs evaluate folders)")
    s.add_argument("--globals", required=True, help="comma-separated run folders, one per global sigma")
    s.add_argument("runs", nargs="+", help="run folders to score")
    args = p.parse_args(argv)
    if args.cmd == "score":
        for r in args.runs:
            print(r, json.dumps(shortfall(args.globals.split(","), r)))
        return
    torch.set_num_threads(args.threads)
    device.use("cpu")
    os.makedirs(args.work, exist_ok=True)
    files = zoo_files(args.zoo)
    ckpt = os.path.join(args.work, "router.pt")
    router = ConfidenceRouter(small_cnn_from_onnx(os.path.join(args.zoo, files["estimator"])),
                              small_cnn_from_onnx(os.path.join(args.zoo, files[f"expert-{args.confidence_expert}"])))
    info_path = os.path.join(args.work, "router.json")
    if os.path.exists(ckpt):
        router.load_state_dict(torch.load(ckpt))
        with open(info_path) as f:
            info = json.load(f)
    else:
        ds = datasets.load(args.data, "train")
        index, radii, _, sigmas = read_label_table(args.labels, ds)
        if sigmas != SIGMAS:
            raise SystemExit(f"{args.labels}: options at sigma {sigmas}, expected the experts' {SIGMAS}")
        t0 = time.time()
        info = fit(router, ds.x[index], radii, args.epochs, args.lr)
        info.update(train_seconds=round(time.time() - t0, 1), labels=args.labels, init="the zoo's estimator",
                    confidence_expert=args.confidence_expert, trained_on=f"CPU, {torch.get_num_threads()} threads, "
                    f"torch {torch.__version__}")
        torch.save(router.state_dict(), ckpt)
    info["export"] = export_router(router, args.out)
    with open(info_path, "w") as f:
        json.dump(info, f, indent=2)
    models = {k: v for k, v in files.items() if k != "estimator"}
    if os.path.abspath(args.out) != os.path.abspath(args.zoo):  # the manifest finds its models next to it
        for name in models.values():
            link = os.path.join(args.out, name)
            if not os.path.exists(link):
                os.symlink(os.path.abspath(os.path.join(args.zoo, name)), link)
    path = manifests.write(manifests.dual_confident_manifest({**models, "router": info["export"]["file"]},
                                                             args.confidence_expert), args.out)
    print(f"wrote {path} and {info['export']['file']} (parity {info['export']['onnx_max_abs_diff']:.1e})")


if __name__ == "__main__":
    main()
