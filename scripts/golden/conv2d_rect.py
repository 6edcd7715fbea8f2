"""Golden values of Conv2dRect from PyTorch
(nn.Conv2d(3, 4, (2, 3), stride=(2, 1), padding=(1, 2))).

Weights w[o][c][m][n] = 0.5 sin(0.3 o + 0.7 c + 1.1 m + 0.45 n), bias
b[o] = 0.1 o - 0.2, input x[s][c][i][j] = 2 cos(0.4 s + 0.9 c + 0.25 i + 0.15 j)
(2 samples of 5 x 6), upstream gradient
dy[s][o][i][j] = sin(0.6 s + 0.35 o + 0.45 i + 0.2 j), all float32.
Prints y, dx, dw and db flattened (row-major) as Rust arrays, pasted into
tests/layers_golden.rs.

    python3 scripts/golden/conv2d_rect.py
"""
import torch

N, IN_C, OUT_C, KH, KW, H, W = 2, 3, 4, 2, 3, 5, 6


def grid(*sizes):
    return torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in sizes], indexing="ij")


conv = torch.nn.Conv2d(IN_C, OUT_C, (KH, KW), stride=(2, 1), padding=(1, 2))
o, c, m, n = grid(OUT_C, IN_C, KH, KW)
with torch.no_grad():
    conv.weight.copy_(0.5 * torch.sin(0.3 * o + 0.7 * c + 1.1 * m + 0.45 * n))
    conv.bias.copy_(0.1 * torch.arange(OUT_C, dtype=torch.float32) - 0.2)
s, c, i, j = grid(N, IN_C, H, W)
x = (2 * torch.cos(0.4 * s + 0.9 * c + 0.25 * i + 0.15 * j)).requires_grad_()
y = conv(x)
s, o, i, j = grid(*y.shape)
y.backward(torch.sin(0.6 * s + 0.35 * o + 0.45 * i + 0.2 * j))
fmt = lambda v: "[" + ", ".join(f"{f:.9e}" for f in v.detach().flatten().tolist()) + "]"
print(f"torch {torch.__version__}")
print(f"// y: {list(y.shape)}")
for name, v in [("Y", y), ("DX", x.grad), ("DW", conv.weight.grad), ("DB", conv.bias.grad)]:
    print(f"const {name}: [f32; {v.numel()}] = {fmt(v)};")
