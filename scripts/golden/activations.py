"""Golden values of ReLU6, LeakyReLU(0.2), Hardswish and SiLU from PyTorch.

Input x[i] = 0.45 i - 4.4 for i in 0..25 (through every kink: 0, ±3, 6),
upstream gradient dy[i] = cos(0.3 i), float32. Prints y and dx of each as
Rust arrays, pasted into tests/layers_golden.rs. Then the kinks exactly,
x = [-inf, -6, -3, -0, 0, 3, 6, inf] with dy = 2 (9 digits: each float
round-trips, so the test compares bits).

    python3 scripts/golden/activations.py
"""
import torch

i = torch.arange(25, dtype=torch.float32)
print(f"torch {torch.__version__}")
for name, f in [("RELU6", torch.nn.ReLU6()), ("LEAKY", torch.nn.LeakyReLU(0.2)), ("HSWISH", torch.nn.Hardswish()), ("SILU", torch.nn.SiLU())]:
    x = (0.45 * i - 4.4).requires_grad_()
    y = f(x)
    y.backward(torch.cos(0.3 * i))
    fmt = lambda v: "[" + ", ".join(f"{a:.9e}" for a in v.detach().tolist()) + "]"
    print(f"const {name}_Y: [f32; 25] = {fmt(y)};")
    print(f"const {name}_DX: [f32; 25] = {fmt(x.grad)};")

kinks = torch.tensor([float("-inf"), -6.0, -3.0, -0.0, 0.0, 3.0, 6.0, float("inf")])
for name, f in [("RELU6", torch.nn.ReLU6()), ("LEAKY", torch.nn.LeakyReLU(0.2)), ("HSWISH", torch.nn.Hardswish())]:
    x = kinks.clone().requires_grad_()
    y = f(x)
    y.backward(torch.full((8,), 2.0))
    fmt = lambda v: "[" + ", ".join(("f32::NAN" if a != a else "f32::INFINITY" if a == float("inf") else "f32::NEG_INFINITY" if a == float("-inf") else f"{a:.9e}") for a in v.detach().tolist()) + "]"
    print(f"const {name}_KINK_Y: [f32; 8] = {fmt(y)};")
    print(f"const {name}_KINK_DX: [f32; 8] = {fmt(x.grad)};")
