"""Golden values of grouped and depthwise Conv2d from PyTorch.

Grouped: nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2) on 2 x 4 x 7 x 6.
Depthwise: nn.Conv2d(3, 3, 3, stride=1, padding=1, groups=3) on 2 x 3 x 5 x 6.
Weights w[o][c][m][n] = 0.5 sin(0.3 o + 0.7 c + 1.1 m + 0.45 n),
bias b[o] = 0.1 o - 0.2, input x[b][c][i][j] = 2 cos(0.4 b + 0.9 c + 0.25 i + 0.6 j),
upstream gradient dy[b][o][i][j] = sin(0.6 b + 0.35 o + 0.45 i + 0.2 j),
all float32. Prints y, dx, dw and db flattened (row-major) as Rust arrays,
pasted into tests/group_conv_golden.rs.

    python3 scripts/golden/group_conv2d.py
"""
import torch


def grid(*sizes):
    return torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in sizes], indexing="ij")


def case(prefix, in_c, out_c, groups, stride, pad, h, w):
    conv = torch.nn.Conv2d(in_c, out_c, 3, stride=stride, padding=pad, groups=groups)
    o, c, m, n = grid(*conv.weight.shape)
    with torch.no_grad():
        conv.weight.copy_(0.5 * torch.sin(0.3 * o + 0.7 * c + 1.1 * m + 0.45 * n))
        conv.bias.copy_(0.1 * torch.arange(out_c, dtype=torch.float32) - 0.2)
    b, c, i, j = grid(2, in_c, h, w)
    x = (2 * torch.cos(0.4 * b + 0.9 * c + 0.25 * i + 0.6 * j)).requires_grad_()
    y = conv(x)
    b, o, i, j = grid(*y.shape)
    y.backward(torch.sin(0.6 * b + 0.35 * o + 0.45 * i + 0.2 * j))
    fmt = lambda v: "[" + ", ".join(f"{f:.9e}" for f in v.detach().flatten().tolist()) + "]"
    for name, v in [("Y", y), ("DX", x.grad), ("DW", conv.weight.grad), ("DB", conv.bias.grad)]:
        print(f"const {prefix}_{name}: [f32; {v.numel()}] = {fmt(v)};")


print(f"// torch {torch.__version__}")
case("GROUPED", 4, 6, 2, 2, 1, 7, 6)
case("DEPTHWISE", 3, 3, 3, 1, 1, 5, 6)
