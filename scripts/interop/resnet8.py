"""ResNet-8 between PyTorch and constnet (constnet::zoo::resnet8; with
--wide first, constnet::zoo::resnet8_wide, twice as wide).

    python3 scripts/interop/resnet8.py train tests/data/resnet8_torch.safetensors
        Trains torchvision-style ResNet-8 in PyTorch (one epoch of
        Fashion-MNIST, pixels / 255, Adam 2e-3, batches of 64, seed 0) and
        saves its state_dict (batch norm's running statistics and its I64
        num_batches_tracked included) plus `expected.logits`, its logits
        for the first 1000 test images in eval mode, which
        tests/interop_resnet8.rs compares with constnet's.

    python3 scripts/interop/resnet8.py check WEIGHTS INPUTS LOGITS
        Loads a ResNet-8 that constnet saved (examples/10_resnet_fashion
        --save WEIGHTS, which also writes INPUTS = WEIGHTS.inputs.f32 and
        LOGITS = WEIGHTS.logits.f32: the first 1000 standardised test
        images and constnet's logits) with load_state_dict(strict=True),
        and compares PyTorch's logits with constnet's.

    python3 scripts/interop/resnet8.py time THREADS [BATCH]
        PyTorch's training step of the same ResNet-8 (SGD, learning rate
        0.01, as bench_report's workloads; softmax cross-entropy, train
        mode) and its inference of one image, in µs
        per sample, on THREADS threads: the figure beside constnet's
        `bench_report --only resnet8_train,resnet8_infer`. Median of 5
        timed runs of 40 steps after a warm-up.

Needs torch, numpy and safetensors; the Fashion-MNIST IDX files at
/usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).
"""
import gzip
import sys

import numpy as np
import torch
from torch import nn

DATA = "/usr/share/datasets/fashion-mnist"


class BasicBlock(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(o)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(o)
        self.downsample = None
        if stride != 1 or i != o:
            self.downsample = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet8(nn.Module):
    """constnet::zoo::resnet8 (w = 16) and resnet8_wide (w = 32)."""

    def __init__(self, w=16):
        super().__init__()
        self.conv1 = nn.Conv2d(1, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(BasicBlock(w, w, 1))
        self.layer2 = nn.Sequential(BasicBlock(w, 2 * w, 2))
        self.layer3 = nn.Sequential(BasicBlock(2 * w, 4 * w, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * w, 10)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# The stem's width: 16 (resnet8), or 32 with --wide (resnet8_wide).
WIDTH = 16


def idx(name, offset):
    with gzip.open(f"{DATA}/{name}", "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def train(out):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    x = torch.tensor(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28), dtype=torch.float32) / 255
    y = torch.tensor(idx("train-labels-idx1-ubyte.gz", 8), dtype=torch.long)
    tx = torch.tensor(idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28), dtype=torch.float32) / 255
    ty = torch.tensor(idx("t10k-labels-idx1-ubyte.gz", 8), dtype=torch.long)
    net = ResNet8(WIDTH)
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    net.train()
    order = torch.randperm(len(x))
    for k in range(0, len(x) - 63, 64):
        i = order[k : k + 64]
        opt.zero_grad()
        nn.functional.cross_entropy(net(x[i]), y[i]).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(tx[k : k + 500]) for k in range(0, len(tx), 500)])
    print(f"torch {torch.__version__}: test accuracy {(logits.argmax(1) == ty).float().mean():.4f}")
    tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
    tensors["expected.logits"] = logits[:1000].contiguous()
    save_file(tensors, out, metadata={"trained": f"scripts/interop/resnet8.py {'--wide ' if WIDTH == 32 else ''}train: 1 epoch, Adam 2e-3, batch 64, seed 0"})
    print(f"wrote {out}")


def check(weights, inputs, logits):
    from safetensors.torch import load_file

    net = ResNet8(WIDTH)
    state = load_file(weights)
    print(net.load_state_dict(state, strict=True))
    net.eval()
    x = torch.tensor(np.fromfile(inputs, np.float32).reshape(-1, 1, 28, 28))
    want = torch.tensor(np.fromfile(logits, np.float32).reshape(-1, 10))
    with torch.no_grad():
        got = net(x)
    diff = (got - want).abs().max().item()
    agree = (got.argmax(1) == want.argmax(1)).sum().item()
    print(f"torch {torch.__version__}: {len(x)} images, max |logit difference| {diff:.3g}, same class {agree}/{len(x)}")
    assert diff < 1e-3 and agree == len(x)


def time_steps(threads, batch="32"):
    import statistics
    import time

    torch.set_num_threads(int(threads))
    bs = int(batch)
    torch.manual_seed(0)
    x = torch.tensor(idx("train-images-idx3-ubyte.gz", 16)[: 64 * 784].reshape(-1, 1, 28, 28), dtype=torch.float32) / 255
    y = torch.tensor(idx("train-labels-idx1-ubyte.gz", 8)[:64], dtype=torch.long)
    net = ResNet8(WIDTH)
    opt = torch.optim.SGD(net.parameters(), 0.01)

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(net(x[:bs]), y[:bs]).backward()
        opt.step()

    net.train()
    for _ in range(5):
        step()
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(40):
            step()
        runs.append((time.perf_counter() - t0) / (40 * bs) * 1e6)
    print(f"torch {torch.__version__} ({threads} thread(s)): resnet8 (width {WIDTH}) training, batch {bs}: {statistics.median(runs):.1f} us/sample (runs {', '.join(f'{r:.1f}' for r in runs)})")
    net.eval()
    runs = []
    with torch.inference_mode():
        for _ in range(20):
            net(x[:1])
        for _ in range(5):
            t0 = time.perf_counter()
            for k in range(200):
                net(x[k % 64 : k % 64 + 1])
            runs.append((time.perf_counter() - t0) / 200 * 1e6)
    print(f"torch {torch.__version__} ({threads} thread(s)): resnet8 (width {WIDTH}) inference, 1 image: {statistics.median(runs):.1f} us")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--wide"]:
        WIDTH, args = 32, args[1:]
    {"train": train, "check": check, "time": time_steps}[args[0]](*args[1:])
