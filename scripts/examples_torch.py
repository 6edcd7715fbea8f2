"""The course's Fashion-MNIST examples 09, 10 and 11, trained in PyTorch the
way the constnet examples train them, for their training times side by side.

    python3 scripts/examples_torch.py MODEL THREADS [EPOCHS] [SHIFT]

MODEL is `seqnet` (examples/09_conv1d_sequences: the images as 28 steps of
28 values), `resnet8` (examples/10_resnet_fashion, constnet::zoo::resnet8;
`resnet8_wide` is the same at 32/64/128 channels) or `mobilenet`
(examples/11_mobilenet_fashion, constnet::zoo::mobilenet). As the examples:
the last 5000 training images held out for validation, per-pixel
standardisation fitted on the other 55000, Adam with cosine decay of the
learning rate to 0 over every step, batches of 32 in a fresh random order
each epoch (the last partial batch dropped), random left-right flips for
the ResNets; with SHIFT (the examples' `--shift`), random shifts of up to
SHIFT pixels along each axis (blank pixels moved in, before
standardisation). THREADS is torch.set_num_threads. It prints each epoch's
training time (the steps only, as the examples' "s" column) and
validation accuracy, then the test accuracy.

Needs torch and numpy; the Fashion-MNIST IDX files at
/usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).
"""
import math
import sys
import time

import torch
from torch import nn

sys.path.insert(0, __file__.rsplit("/", 1)[0] + "/interop")
from resnet8 import ResNet8, idx  # noqa: E402

BATCH = 32
VALID = 5000


def seqnet():
    return nn.Sequential(
        nn.Conv1d(28, 64, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
        nn.Flatten(), nn.Linear(448, 10),
    )


def mobilenet():
    def bn_relu6(c):
        return [nn.BatchNorm2d(c), nn.ReLU6()]

    layers = [nn.Conv2d(1, 16, 3, 1, 1, bias=False), *bn_relu6(16)]
    # (channels in, channels out, depthwise stride), as example 11.
    for i, o, s in [(16, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2), (128, 128, 1)]:
        layers += [nn.Conv2d(i, i, 3, s, 1, groups=i, bias=False), *bn_relu6(i)]
        layers += [nn.Conv2d(i, o, 1, bias=False), *bn_relu6(o)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(128, 10)]
    return nn.Sequential(*layers)


# name: (network, learning rate, flips, as sequences)
MODELS = {
    "seqnet": (seqnet, 2e-3, False, True),
    "resnet8": (ResNet8, 2e-3, True, False),
    "resnet8_wide": (lambda: ResNet8(32), 2e-3, True, False),
    "mobilenet": (mobilenet, 4e-3, False, False),
}


def shifted(xb, mean, std, n):
    """Each standardised image of `xb` moved by up to `n` pixels along each
    axis at random, blank (0) pixels moved in before standardisation."""
    raw = nn.functional.pad(xb * std + mean, (n, n, n, n))
    d = torch.randint(0, 2 * n + 1, (len(xb), 2))
    moved = torch.stack([raw[b, :, i : i + 28, j : j + 28] for b, (i, j) in enumerate(d.tolist())])
    return (moved - mean) / std


def main(model, threads, epochs="1", shift="0"):
    make, lr, flips, sequences = MODELS[model]
    shift = int(shift)
    torch.set_num_threads(int(threads))
    torch.manual_seed(1)
    x = torch.tensor(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28), dtype=torch.float32)
    y = torch.tensor(idx("train-labels-idx1-ubyte.gz", 8), dtype=torch.long)
    tx = torch.tensor(idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28), dtype=torch.float32)
    ty = torch.tensor(idx("t10k-labels-idx1-ubyte.gz", 8), dtype=torch.long)
    x, vx, y, vy = x[:-VALID], x[-VALID:], y[:-VALID], y[-VALID:]
    mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)
    x, vx, tx = ((t - mean) / std for t in (x, vx, tx))
    if sequences:  # step t is row t, its pixels the channels
        x, vx, tx = (t[:, 0].transpose(1, 2).contiguous() for t in (x, vx, tx))
    net = make()
    opt = torch.optim.Adam(net.parameters(), lr)
    steps = int(epochs) * (len(x) // BATCH)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)))

    def accuracy(xs, ys):
        net.eval()
        with torch.no_grad():
            right = sum((net(xs[k : k + 500]).argmax(1) == ys[k : k + 500]).sum().item() for k in range(0, len(xs), 500))
        return right / len(xs)

    total = 0.0
    print(f"torch {torch.__version__}, {model}, {sum(p.numel() for p in net.parameters())} parameters, {threads} thread(s)")
    for epoch in range(1, int(epochs) + 1):
        net.train()
        order = torch.randperm(len(x))
        t0 = time.perf_counter()
        for k in range(0, len(x) - BATCH + 1, BATCH):
            i = order[k : k + BATCH]
            xb = x[i]
            if flips:
                flip = torch.rand(BATCH) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            if shift:
                xb = shifted(xb, mean, std, shift)
            opt.zero_grad()
            nn.functional.cross_entropy(net(xb), y[i]).backward()
            opt.step()
            sched.step()
        seconds = time.perf_counter() - t0
        total += seconds
        print(f"epoch {epoch}: {seconds:.1f} s training, validation accuracy {accuracy(vx, vy):.4f}")
    print(f"{model}: {total:.1f} s training over {epochs} epoch(s), test accuracy {accuracy(tx, ty):.4f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
