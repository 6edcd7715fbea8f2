#!/usr/bin/env python3
"""Cross-checks constnet's safetensors files against the reference Python
implementation (`pip install safetensors numpy`; torch is not needed:
`safetensors.torch.save_file` and `safetensors.numpy.save_file` call the
same Rust serializer, and torch's Conv2d/MaxPool2d/Linear/Softmax are
re-implemented below in NumPy).

1. Writes tests/data/python_fashion10.safetensors with
   `safetensors.numpy.save_file`: seeded random weights for the fashion10
   architecture under PyTorch state_dict names, metadata {"format": "pt"},
   and prints the NumPy forward pass on a fixed input (the golden values
   pasted into tests/io.rs).
2. Reads the weights constnet wrote (examples/08_embed_classifier/
   fashion10.safetensors) with `safetensors.numpy.load_file`, checks names,
   dtypes and shapes, and prints the class probabilities of the sample
   images with the preprocessing from the file's metadata.

Run from the repository root: python3 scripts/crosscheck_safetensors.py
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

SHAPES = {  # torch: nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1), nn.Linear(784, 10)
    "conv1.weight": (8, 1, 3, 3), "conv1.bias": (8,),
    "conv2.weight": (16, 8, 3, 3), "conv2.bias": (16,),
    "dense.weight": (10, 784), "dense.bias": (10,),
}
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def conv2d(x, w, b, pad):  # torch.nn.functional.conv2d: cross-correlation
    c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    out = np.zeros((o, oh, ow), dtype=np.float64)
    for ky in range(k):
        for kx in range(k):
            out += np.einsum("oc,chw->ohw", w[:, :, ky, kx], xp[:, ky:ky + oh, kx:kx + ow])
    return out + b[:, None, None]


def maxpool2(x):  # torch.nn.MaxPool2d(2) on even sizes
    c, h, w = x.shape
    return x.reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))


def forward(p, x):
    p = {k: v.astype(np.float64) for k, v in p.items()}
    h = maxpool2(np.maximum(conv2d(x, p["conv1.weight"], p["conv1.bias"], 1), 0))
    h = maxpool2(np.maximum(conv2d(h, p["conv2.weight"], p["conv2.bias"], 1), 0))
    z = p["dense.weight"] @ h.reshape(-1) + p["dense.bias"]  # x.flatten(1): C, H, W order
    e = np.exp(z - z.max())
    return e / e.sum()


def read_pgm_p5(path):
    data = path.read_bytes()
    parts = data.split(maxsplit=4)
    assert parts[0] == b"P5", path
    w, h = int(parts[1]), int(parts[2])
    return np.frombuffer(data[-w * h:], dtype=np.uint8).reshape(h, w)


def main():
    root = Path(__file__).resolve().parent.parent
    # 1. A file written by the reference writer.
    rng = np.random.default_rng(0)
    params = {k: (rng.standard_normal(s) * 0.3).astype(np.float32) for k, s in SHAPES.items()}
    out = root / "tests/data/python_fashion10.safetensors"
    save_file(params, str(out), metadata={"format": "pt"})
    x = np.array([[((y * 28 + xx) % 17) / 16.0 for xx in range(28)] for y in range(28)])[None]
    probs = forward(params, x)
    print(f"wrote {out.relative_to(root)} ({out.stat().st_size} bytes)")
    print("golden probabilities:", json.dumps([float(f"{v:.7g}") for v in probs]))

    # 2. The weights constnet wrote.
    path = root / "examples/08_embed_classifier/fashion10.safetensors"
    weights = load_file(str(path))
    assert {k: v.shape for k, v in weights.items()} == SHAPES, weights.keys()
    assert all(v.dtype == np.float32 for v in weights.values())
    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    n = struct.unpack("<Q", path.read_bytes()[:8])[0]
    print(f"{path.relative_to(root)}: loads with safetensors.numpy; header {n} bytes; metadata {meta}")
    scale, mean, std = (float(meta[k]) for k in ("input_scale", "input_mean", "input_std"))
    for sample in sorted((root / "examples/08_embed_classifier/samples").glob("*.pgm")):
        img = read_pgm_p5(sample).astype(np.float64)
        p = forward(weights, ((img * scale - mean) / std)[None])
        top = int(np.argmax(p))
        print(f"{sample.name}: {CLASSES[top]} ({100 * p[top]:.2f}%)  probs {np.round(p, 5).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
