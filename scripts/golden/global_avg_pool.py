"""Golden values of GlobalAvgPool2d from PyTorch (nn.AdaptiveAvgPool2d(1)).

Input x[b][c][i][j] = sin(0.7 b + 1.3 c + 0.37 i + 0.11 j) * 3 and upstream
gradient dy[b][c] = cos(0.5 b + 0.9 c), both in float32, for B = 2, C = 3,
H = 5, W = 7; prints y (B x C) and dx[b][c][0][0] (every element of a plane
gets the same value) as Rust arrays, pasted into tests/layers_golden.rs.

    python3 scripts/golden/global_avg_pool.py
"""
import torch

B, C, H, W = 2, 3, 5, 7
b, c, i, j = torch.meshgrid(
    torch.arange(B), torch.arange(C), torch.arange(H), torch.arange(W), indexing="ij"
)
x = (torch.sin(0.7 * b + 1.3 * c + 0.37 * i + 0.11 * j) * 3).float().requires_grad_()
bb, cc = torch.meshgrid(torch.arange(B), torch.arange(C), indexing="ij")
dy = torch.cos(0.5 * bb + 0.9 * cc).float().reshape(B, C, 1, 1)
y = torch.nn.AdaptiveAvgPool2d(1)(x)
y.backward(dy)
fmt = lambda t: "[" + ", ".join(f"[{', '.join(f'{v:.9e}' for v in row)}]" for row in t.tolist()) + "]"
print(f"torch {torch.__version__}")
print("y  =", fmt(y.detach().reshape(B, C)))
print("dx =", fmt(x.grad[:, :, 0, 0]))
