"""Golden values of the 1-D pools from PyTorch (floor mode).

First part: MaxPool1d(2) and AvgPool1d(3) on x[n][c][t] =
sin(1.7 n + 0.6 c + 0.83 t) (2 x 3 x 10, float32; the windows of 3 leave
the last step out), upstream gradient dy[n][c][t] = cos(0.4 n + 0.5 c + 0.7 t).

Second part: kernel, stride and padding, stride below, at and above the
kernel, on x[n][c][t] = round(4 sin(0.9 n + 0.6 c + 0.83 t)) / 4
(2 x 2 x 9: odd length, and quarter steps so windows hold ties; PyTorch's
gradient goes to the first maximum), the same upstream gradient.
AvgPool1d counts the padding (count_include_pad=True, PyTorch's default).

Prints y and dx flattened as Rust arrays, pasted into tests/layers_golden.rs.

    python3 scripts/golden/pool1d.py
"""
import torch


def grid(*shape):
    return torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in shape], indexing="ij")


def run(name, f, x):
    x = x.clone().requires_grad_()
    y = f(x)
    a, b, d = grid(*y.shape)
    y.backward(torch.cos(0.4 * a + 0.5 * b + 0.7 * d))
    fmt = lambda v: "[" + ", ".join(f"{f:.9e}" for f in v.detach().flatten().tolist()) + "]"
    print(f"const {name}_Y: [f32; {y.numel()}] = {fmt(y)};")
    print(f"const {name}_DX: [f32; {x.numel()}] = {fmt(x.grad)};")


print(f"torch {torch.__version__}")
n, c, t = grid(2, 3, 10)
x = torch.sin(1.7 * n + 0.6 * c + 0.83 * t)
run("MAXPOOL", torch.nn.MaxPool1d(2), x)
run("AVGPOOL", torch.nn.AvgPool1d(3), x)

n, c, t = grid(2, 2, 9)
x = torch.round(4 * torch.sin(0.9 * n + 0.6 * c + 0.83 * t)) / 4
# (kernel, stride, padding)
for k, s, p in [(3, 1, 1), (4, 3, 2), (2, 3, 0)]:
    run(f"MAX_K{k}_S{s}_P{p}", torch.nn.MaxPool1d(k, stride=s, padding=p), x)
for k, s, p in [(3, 2, 1), (4, 1, 2), (2, 3, 1)]:
    run(f"AVG_K{k}_S{s}_P{p}", torch.nn.AvgPool1d(k, stride=s, padding=p), x)
