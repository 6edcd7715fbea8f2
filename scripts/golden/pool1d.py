"""Golden values of MaxPool1d(2) and AvgPool1d(3) from PyTorch (floor mode).

Input x[n][c][t] = sin(1.7 n + 0.6 c + 0.83 t) (2 x 3 x 10, float32; the
windows of 3 leave the last step out), upstream gradient
dy[n][c][t] = cos(0.4 n + 0.5 c + 0.7 t). Prints y and dx flattened as Rust
arrays, pasted into tests/layers_golden.rs.

    python3 scripts/golden/pool1d.py
"""
import torch

n, c, t = torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in (2, 3, 10)], indexing="ij")
print(f"torch {torch.__version__}")
for name, f in [("MAXPOOL", torch.nn.MaxPool1d(2)), ("AVGPOOL", torch.nn.AvgPool1d(3))]:
    x = torch.sin(1.7 * n + 0.6 * c + 0.83 * t).requires_grad_()
    y = f(x)
    a, b, d = torch.meshgrid(*[torch.arange(s, dtype=torch.float32) for s in y.shape], indexing="ij")
    y.backward(torch.cos(0.4 * a + 0.5 * b + 0.7 * d))
    fmt = lambda v: "[" + ", ".join(f"{f:.9e}" for f in v.detach().flatten().tolist()) + "]"
    print(f"const {name}_Y: [f32; {y.numel()}] = {fmt(y)};")
    print(f"const {name}_DX: [f32; {x.numel()}] = {fmt(x.grad)};")
