"""Network definitions. The zoo's nets take float32 [N,1,28,28] pixels in [0,1] (plus noise,
unclipped); `SmallCNN` also takes any [N,C,H,W] (bring-your-own data, `training.experts`)."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    """conv5x5/2(C->c1) -> conv3x3/2(c1->c2) -> FC(c2*H/4*W/4 -> hidden) -> FC(hidden -> classes).

    Strided convolutions instead of max pooling: about 0.5 M multiply-accumulates per input with
    the defaults, and on Fashion-MNIST under noise as accurate as the 1.2 M-MAC conv+maxpool variant.
    Used for the experts, the denoised-smoothing classifier and the variance estimators
    (classes=4). BatchNorm is folded into the convolutions by the ONNX exporter (eval mode).
    `in_channels` and `size` (H, W) default to Fashion-MNIST's 1 x 28 x 28; each stride-2 layer
    rounds up, so a 32 x 32 input has an 8 x 8 map before the hidden layer.
    """

    def __init__(self, classes: int = 10, c1: int = 16, c2: int = 32, hidden: int = 128,
                 in_channels: int = 1, size: tuple[int, int] = (28, 28)):
        super().__init__()
        self.size = (int(size[0]), int(size[1]))
        self.conv1 = nn.Conv2d(in_channels, c1, 5, stride=2, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c2)
        h, w = (math.ceil(math.ceil(d / 2) / 2) for d in self.size)
        self.fc1 = nn.Linear(c2 * h * w, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        if torch.onnx.is_in_onnx_export():
            x = F.relu(self.fc1(torch.flatten(x, 1)))
        else:
            # The same layer as a 7x7 convolution: Debian's PyTorch has no BLAS, and its oneDNN
            # convolution runs this layer about 5x faster than Linear's matmul (training and
            # sampling alike). The exported graph keeps the plain Gemm.
            w = self.fc1.weight.reshape(self.fc1.out_features, -1, *x.shape[2:])
            x = F.relu(F.conv2d(x, w, self.fc1.bias)).flatten(1)
        return self.fc2(x)


def small_cnn_like(state: dict, size: tuple[int, int] | None = None) -> SmallCNN:
    """An untrained SmallCNN with the shape of a saved state dict (any widths, any classes, any
    input channels). A state dict does not hold the input size, only the hidden layer's width:
    without `size` the input is taken as square, which gives that width."""
    c2 = state["conv2.weight"].shape[0]
    if size is None:
        side = 4 * math.isqrt(state["fc1.weight"].shape[1] // c2)  # 4 * 7 = 28 for the zoo
        size = (side, side)
    return SmallCNN(classes=state["fc2.weight"].shape[0], c1=state["conv1.weight"].shape[0], c2=c2,
                    hidden=state["fc1.weight"].shape[0], in_channels=state["conv1.weight"].shape[1], size=size)


def from_expert(expert: SmallCNN, classes: int) -> SmallCNN:
    """A SmallCNN with `classes` outputs that starts from an expert's weights, all but the last layer."""
    net = SmallCNN(classes=classes, c1=expert.conv1.out_channels, c2=expert.conv2.out_channels,
                   hidden=expert.fc1.out_features, in_channels=expert.conv1.in_channels, size=expert.size)
    net.load_state_dict({k: v for k, v in expert.state_dict().items() if not k.startswith("fc2.")}, strict=False)
    return net


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.ReLU(inplace=True))


class Denoiser(nn.Module):
    """A small noise-level-conditioned U-Net: (x_noisy [N,1,28,28], sigma [N]) -> x_hat [N,1,28,28].

    sigma enters as a constant extra input channel (sigma and 1/(1+sigma) scaled), and at every
    resolution through a per-channel bias. The net predicts a residual added to the noisy input.
    """

    def __init__(self, w: int = 16):
        super().__init__()
        self.e1 = nn.Sequential(_block(2, w), _block(w, w))              # 28x28
        self.e2 = nn.Sequential(_block(w, 2 * w, 2), _block(2 * w, 2 * w))  # 14x14
        self.e3 = nn.Sequential(_block(2 * w, 4 * w, 2), _block(4 * w, 4 * w))  # 7x7
        self.emb = nn.Linear(2, 4 * w)
        self.u2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)          # 7 -> 14
        self.d2 = _block(4 * w, 2 * w)
        self.u1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)              # 14 -> 28
        self.d1 = _block(2 * w, w)
        self.out = nn.Conv2d(w, 1, 3, padding=1)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma.reshape(-1, 1)
        feats = torch.cat([s, 1.0 / (1.0 + s)], dim=1)                # [N,2]
        smap = s.reshape(-1, 1, 1, 1) * torch.ones_like(x)
        h1 = self.e1(torch.cat([x, smap], dim=1))
        h2 = self.e2(h1)
        h3 = self.e3(h2) + self.emb(feats).reshape(x.shape[0], -1, 1, 1)
        g2 = self.d2(torch.cat([self.u2(h3), h2], dim=1))
        g1 = self.d1(torch.cat([self.u1(g2), h1], dim=1))
        return x + self.out(g1)


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def count_macs(m: nn.Module, *inputs: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass per example (convolutions and linear layers)."""
    total = 0

    def conv_hook(mod, _inp, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        if isinstance(mod, nn.ConvTranspose2d):
            # each input pixel scatters to k*k*out outputs
            inp = _inp[0]
            total += inp[0].numel() * mod.kernel_size[0] * mod.kernel_size[1] * mod.out_channels
        else:
            total += out[0].numel() * k

    def lin_hook(mod, _inp, out):
        nonlocal total
        total += out[0].numel() * mod.in_features

    hooks = []
    for mod in m.modules():
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(lin_hook))
    was = m.training
    m.eval()
    with torch.no_grad():
        m(*[t[:1] for t in inputs])
    m.train(was)
    for h in hooks:
        h.remove()
    return total


class WideCNN(nn.Module):
    """A VGG-style net (three stages of two 3x3 convolutions, width w, 2w, 4w; global average pool;
    two linear layers): about 1.2 M parameters and 116 M multiply-accumulates per input at w = 64,
    some 230 times SmallCNN. Too slow to serve on a CPU; `training.probe` uses it to ask whether the
    variance estimator's capacity limits Dual RS."""

    def __init__(self, classes: int = 4, w: int = 64):
        super().__init__()

        def conv(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU(inplace=True))

        self.features = nn.Sequential(conv(1, w), conv(w, w), nn.MaxPool2d(2),
                                      conv(w, 2 * w), conv(2 * w, 2 * w), nn.MaxPool2d(2),
                                      conv(2 * w, 4 * w), conv(4 * w, 4 * w), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * w, 4 * w), nn.ReLU(inplace=True),
                                  nn.Linear(4 * w, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
