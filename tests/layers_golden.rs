//! The newer layers against PyTorch: forward and backward on fixed inputs,
//! the expected values pasted from the scripts in `scripts/golden/` (each
//! names its PyTorch version and how to run it; the tests do not need
//! PyTorch).

// The values are pasted as the scripts print them (9 digits, enough to
// round-trip an f32).
#![allow(clippy::excessive_precision)]

use constnet::{Conv1d, Flat, GlobalAvgPool2d, Grad, Layer, Mode, Tensor};

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

/// `scripts/golden/conv1d.py` (torch 2.15.0): `nn.Conv1d(3, 4, 3, stride=2,
/// padding=1)`, forward and every gradient.
#[test]
fn conv1d_matches_pytorch() {
    const Y: [f32; 40] = [
        2.245713472e+00,
        1.097627163e+00,
        -9.015069008e-01,
        -2.728887796e+00,
        -3.462142467e+00,
        2.219051600e+00,
        1.874567151e+00,
        6.980366260e-02,
        -1.776533723e+00,
        -3.317802668e+00,
        1.985235333e+00,
        2.475124121e+00,
        1.025945306e+00,
        -6.744208932e-01,
        -2.886026621e+00,
        1.574084401e+00,
        2.854586363e+00,
        1.890443087e+00,
        4.879366755e-01,
        -2.196449995e+00,
        1.518607020e+00,
        -4.995939732e-01,
        -2.400193453e+00,
        -3.762109041e+00,
        -3.434352398e+00,
        1.846385241e+00,
        4.490997493e-01,
        -1.426422715e+00,
        -2.977190256e+00,
        -3.527891397e+00,
        2.000297785e+00,
        1.348743320e+00,
        -3.341670036e-01,
        -1.935261726e+00,
        -3.315227032e+00,
        1.975530624e+00,
        2.127908230e+00,
        7.879394889e-01,
        -7.204611897e-01,
        -2.806423426e+00,
    ];
    const DX: [f32; 54] = [
        8.827511072e-01,
        9.829155207e-01,
        1.453369141e+00,
        1.350375891e+00,
        1.734612942e+00,
        1.448968768e+00,
        1.670485377e+00,
        1.259063601e+00,
        1.273754358e+00,
        5.509285331e-01,
        9.918401837e-01,
        1.042833209e+00,
        1.163284659e+00,
        1.327103615e+00,
        1.103112340e+00,
        1.347140074e+00,
        8.233040571e-01,
        1.098953128e+00,
        -4.000433162e-02,
        5.342871547e-01,
        1.418363601e-01,
        4.290827215e-01,
        2.954366505e-01,
        2.384451926e-01,
        3.902137280e-01,
        3.319528769e-04,
        4.072970748e-01,
        1.583383560e+00,
        1.415272236e+00,
        1.752431631e+00,
        1.417012691e+00,
        1.572560668e+00,
        1.136617780e+00,
        1.079583526e+00,
        6.299157143e-01,
        3.716551661e-01,
        1.164455891e+00,
        1.169336915e+00,
        1.364476085e+00,
        1.032323241e+00,
        1.292821169e+00,
        6.897681355e-01,
        9.637580514e-01,
        2.098762840e-01,
        4.428051412e-01,
        1.978662759e-01,
        3.734443784e-01,
        3.347858489e-01,
        1.621162146e-01,
        4.050476551e-01,
        -8.149016649e-02,
        3.946620822e-01,
        -3.088712096e-01,
        3.056969643e-01,
    ];
    const DW: [f32; 36] = [
        3.566927433e+00,
        1.798225999e+00,
        1.215558648e+00,
        -6.324987411e+00,
        -8.194616318e+00,
        -6.929197311e+00,
        -1.143027878e+01,
        -1.198593712e+01,
        -9.830074310e+00,
        4.924400330e+00,
        4.419385910e+00,
        3.090922832e+00,
        -4.968811989e+00,
        -6.483696461e+00,
        -6.576590061e+00,
        -1.110172749e+01,
        -1.248004723e+01,
        -1.126707077e+01,
        5.684768200e+00,
        6.504675865e+00,
        4.591498852e+00,
        -3.010144949e+00,
        -3.986598492e+00,
        -5.426540852e+00,
        -9.427040100e+00,
        -1.146089458e+01,
        -1.133788300e+01,
        5.755831718e+00,
        7.801242828e+00,
        5.535334587e+00,
        -6.864842176e-01,
        -1.006107450e+00,
        -3.618498325e+00,
        -6.609282494e+00,
        -9.052057266e+00,
        -1.003392410e+01,
    ];
    const DB: [f32; 4] = [7.201847076e+00, 7.725308418e+00, 7.312041759e+00, 6.012156487e+00];
    let mut conv = Conv1d::<3, 4, 3, 1, 2>::zeroed();
    for o in 0..4 {
        for c in 0..3 {
            for k in 0..3 {
                conv.weight[o][c][k] = 0.5 * (0.3 * o as f32 + 0.7 * c as f32 + 1.1 * k as f32).sin();
            }
        }
        conv.bias[o] = 0.1 * o as f32 - 0.2;
    }
    let x: [Tensor<3, 1, 9>; 2] = core::array::from_fn(|n| {
        Tensor::from_fn(|c, _, t| 2.0 * (0.4 * n as f32 + 0.9 * c as f32 + 0.25 * t as f32).cos())
    });
    let dy: [Tensor<4, 1, 5>; 2] =
        core::array::from_fn(|n| Tensor::from_fn(|o, _, t| (0.6 * n as f32 + 0.35 * o as f32 + 0.45 * t as f32).sin()));
    let mut y = [Tensor::<4, 1, 5>::zeroed(); 2];
    conv.forward(&x, &mut y, &mut (), &mut Mode::Infer);
    let (mut dx, mut grads) = ([Tensor::<3, 1, 9>::zeroed(); 2], Conv1d::<3, 4, 3, 1, 2>::zeroed());
    conv.backward(&x, &y, &mut (), &dy, Some(&mut dx), &mut grads, Grad::Overwrite);
    for (what, got, want) in [
        ("y", y.as_flat(), &Y[..]),
        ("dx", dx.as_flat(), &DX[..]),
        ("dw", grads.weight.as_flat(), &DW[..]),
        ("db", &grads.bias[..], &DB[..]),
    ] {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(close(g, w), "{what}[{i}] = {g} vs PyTorch {w}");
        }
    }
}
