//! The newer layers against PyTorch: forward and backward on fixed inputs,
//! the expected values pasted from the scripts in `scripts/golden/` (each
//! names its PyTorch version and how to run it; the tests do not need
//! PyTorch).

// The values are pasted as the scripts print them (9 digits, enough to
// round-trip an f32).
#![allow(clippy::excessive_precision)]

use constnet::{Flat, GlobalAvgPool2d, Grad, Layer, Mode, Tensor};

/// `a` and `b` agree to f32 rounding of sums of a few dozen terms.
fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-6 + 1e-5 * b.abs()
}

/// `scripts/golden/global_avg_pool.py` (torch 2.15.0): `nn.AdaptiveAvgPool2d(1)`.
#[test]
fn global_avg_pool_matches_pytorch() {
    const Y: [[f32; 3]; 2] =
        [[2.230158329e+00, 1.772730231e+00, -1.281751513e+00], [2.492082119e+00, 1.818587929e-01, -2.394788027e+00]];
    const DX: [[f32; 3]; 2] =
        [[2.857142873e-02, 1.776028611e-02, -6.491486914e-03], [2.507378720e-02, 4.856204614e-03, -1.903645694e-02]];
    let x: [Tensor<3, 5, 7>; 2] = core::array::from_fn(|b| {
        Tensor::from_fn(|c, i, j| (0.7 * b as f32 + 1.3 * c as f32 + 0.37 * i as f32 + 0.11 * j as f32).sin() * 3.0)
    });
    let dy: [Tensor<3, 1, 1>; 2] =
        core::array::from_fn(|b| Tensor::from_fn(|c, _, _| (0.5 * b as f32 + 0.9 * c as f32).cos()));
    let mut y = [Tensor::<3, 1, 1>::zeroed(); 2];
    GlobalAvgPool2d.forward(&x, &mut y, &mut (), &mut Mode::Infer);
    let mut dx = [Tensor::<3, 5, 7>::zeroed(); 2];
    GlobalAvgPool2d.backward(&x, &y, &mut (), &dy, Some(&mut dx), &mut GlobalAvgPool2d, Grad::Overwrite);
    for b in 0..2 {
        for c in 0..3 {
            assert!(close(y[b].0[c][0][0], Y[b][c]), "y[{b}][{c}] = {} vs PyTorch {}", y[b].0[c][0][0], Y[b][c]);
            for v in dx[b].0[c].iter().flatten() {
                assert!(close(*v, DX[b][c]), "dx[{b}][{c}] = {v} vs PyTorch {}", DX[b][c]);
            }
        }
    }
}
