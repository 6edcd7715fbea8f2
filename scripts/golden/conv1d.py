"""Golden values of Conv1d from PyTorch (nn.Conv1d(3, 4, 3, stride=2, padding=1)).

Weights w[o][c][k] = 0.5 sin(0.3 o + 0.7 c + 1.1 k), bias b[o] = 0.1 o - 0.2,
input x[n][c][t] = 2 cos(0.4 n + 0.9 c + 0.25 t) (2 sequences of 9 steps),
upstream gradient dy[n][o][t] = sin(0.6 n + 0.35 o + 0.45 t), all float32.
Prints y, dx, dw and db flattened (row-major) as Rust arrays, pasted into
tests/layers_golden.rs.

    python3 scripts/golden/conv1d.py
"""
import torch

N, IN_C, OUT_C, K, L = 2, 3, 4, 3, 9


def grid(*sizes):
    return torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in sizes], indexing="ij")


conv = torch.nn.Conv1d(IN_C, OUT_C, K, stride=2, padding=1)
o, c, k = grid(OUT_C, IN_C, K)
with torch.no_grad():
    conv.weight.copy_(0.5 * torch.sin(0.3 * o + 0.7 * c + 1.1 * k))
    conv.bias.copy_(0.1 * torch.arange(OUT_C, dtype=torch.float32) - 0.2)
n, c, t = grid(N, IN_C, L)
x = (2 * torch.cos(0.4 * n + 0.9 * c + 0.25 * t)).requires_grad_()
y = conv(x)
n, o, t = grid(*y.shape)
y.backward(torch.sin(0.6 * n + 0.35 * o + 0.45 * t))
fmt = lambda v: "[" + ", ".join(f"{f:.9e}" for f in v.detach().flatten().tolist()) + "]"
print(f"torch {torch.__version__}")
for name, v in [("Y", y), ("DX", x.grad), ("DW", conv.weight.grad), ("DB", conv.bias.grad)]:
    print(f"const {name}: [f32; {v.numel()}] = {fmt(v)};")
