//! The newer layers against PyTorch: forward and backward on fixed inputs,
//! the expected values pasted from the scripts in `scripts/golden/` (each
//! names its PyTorch version and how to run it; the tests do not need
//! PyTorch).

// The values are pasted as the scripts print them (9 digits, enough to
// round-trip an f32).
#![allow(clippy::excessive_precision)]

use constnet::{Conv1d, Flat, GlobalAvgPool2d, Grad, Hardswish, Layer, LeakyRelu, Mode, Relu6, Silu, Tensor};

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

/// `scripts/golden/activations.py` (torch 2.15.0): `nn.ReLU6()`,
/// `nn.LeakyReLU(0.2)`, `nn.Hardswish()` and `nn.SiLU()` through their kinks.
#[test]
fn relu6_leaky_relu_hardswish_and_silu_match_pytorch() {
    const RELU6_Y: [f32; 25] = [
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        9.999990463e-02,
        5.499997139e-01,
        9.999995232e-01,
        1.449999809e+00,
        1.899999619e+00,
        2.349999905e+00,
        2.799999714e+00,
        3.249999523e+00,
        3.699999332e+00,
        4.150000095e+00,
        4.599999905e+00,
        5.049999714e+00,
        5.499999523e+00,
        5.949999332e+00,
        6.000000000e+00,
    ];
    const RELU6_DX: [f32; 25] = [
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        -9.899924994e-01,
        -9.874797463e-01,
        -8.967583776e-01,
        -7.259322405e-01,
        -4.902605712e-01,
        -2.107958049e-01,
        8.749917150e-02,
        3.779780865e-01,
        6.346929669e-01,
        8.347129226e-01,
        9.601702690e-01,
        9.998586178e-01,
        9.502325058e-01,
        8.157250285e-01,
        0.000000000e+00,
    ];
    const LEAKY_Y: [f32; 25] = [
        -8.800000548e-01,
        -7.900000215e-01,
        -6.999999881e-01,
        -6.100000739e-01,
        -5.200000405e-01,
        -4.300000370e-01,
        -3.400000632e-01,
        -2.500000596e-01,
        -1.600000411e-01,
        -7.000007480e-02,
        9.999990463e-02,
        5.499997139e-01,
        9.999995232e-01,
        1.449999809e+00,
        1.899999619e+00,
        2.349999905e+00,
        2.799999714e+00,
        3.249999523e+00,
        3.699999332e+00,
        4.150000095e+00,
        4.599999905e+00,
        5.049999714e+00,
        5.499999523e+00,
        5.949999332e+00,
        6.399999142e+00,
    ];
    const LEAKY_DX: [f32; 25] = [
        2.000000030e-01,
        1.910673082e-01,
        1.650671214e-01,
        1.243219897e-01,
        7.247154415e-02,
        1.414743997e-02,
        -4.544043168e-02,
        -1.009692475e-01,
        -1.474787593e-01,
        -1.808144301e-01,
        -9.899924994e-01,
        -9.874797463e-01,
        -8.967583776e-01,
        -7.259322405e-01,
        -4.902605712e-01,
        -2.107958049e-01,
        8.749917150e-02,
        3.779780865e-01,
        6.346929669e-01,
        8.347129226e-01,
        9.601702690e-01,
        9.998586178e-01,
        9.502325058e-01,
        8.157250285e-01,
        6.083511114e-01,
    ];
    const HSWISH_Y: [f32; 25] = [
        -0.000000000e+00,
        -0.000000000e+00,
        -0.000000000e+00,
        -0.000000000e+00,
        -1.733332872e-01,
        -3.045833111e-01,
        -3.683333099e-01,
        -3.645833433e-01,
        -2.933333814e-01,
        -1.545834839e-01,
        5.166661739e-02,
        3.254164755e-01,
        6.666662693e-01,
        1.075416446e+00,
        1.551666260e+00,
        2.095416546e+00,
        2.706666231e+00,
        3.249999285e+00,
        3.699999571e+00,
        4.150000095e+00,
        4.599999905e+00,
        5.049999714e+00,
        5.499999523e+00,
        5.949999332e+00,
        6.399999142e+00,
    ];
    const HSWISH_DX: [f32; 25] = [
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        -1.328645200e-01,
        -1.532639470e-02,
        1.514683664e-02,
        -4.207047820e-02,
        -1.720584929e-01,
        -3.465608954e-01,
        -5.279959440e-01,
        -6.747776866e-01,
        -7.472984791e-01,
        -7.138332725e-01,
        -5.556285977e-01,
        -2.705212831e-01,
        1.254154593e-01,
        3.779780865e-01,
        6.346929669e-01,
        8.347129226e-01,
        9.601702690e-01,
        9.998586178e-01,
        9.502325058e-01,
        8.157250285e-01,
        6.083511114e-01,
    ];
    const SILU_Y: [f32; 25] = [
        -5.336511135e-02,
        -7.461930066e-02,
        -1.025928110e-01,
        -1.379132718e-01,
        -1.797598749e-01,
        -2.243121266e-01,
        -2.625909448e-01,
        -2.783751488e-01,
        -2.480204403e-01,
        -1.446839720e-01,
        5.249786749e-02,
        3.487743735e-01,
        7.310581207e-01,
        1.174497485e+00,
        1.652793527e+00,
        2.145395279e+00,
        2.639492035e+00,
        3.128687143e+00,
        3.610729456e+00,
        4.085592747e+00,
        4.554221630e+00,
        5.017838955e+00,
        5.477613926e+00,
        5.934535027e+00,
        6.389382839e+00,
    ];
    const SILU_DX: [f32; 25] = [
        -4.058944434e-02,
        -5.189264938e-02,
        -5.799909681e-02,
        -5.374422669e-02,
        -3.558104485e-02,
        -6.831668317e-03,
        1.535081025e-02,
        -3.190177260e-03,
        -1.024222970e-01,
        -2.969950736e-01,
        -5.444134474e-01,
        -7.522025704e-01,
        -8.318961263e-01,
        -7.500003576e-01,
        -5.319004059e-01,
        -2.318173647e-01,
        9.572256356e-02,
        4.080111980e-01,
        6.746716499e-01,
        8.746854067e-01,
        9.941323996e-01,
        1.025442481e+00,
        9.675498605e-01,
        8.261865973e-01,
        6.137897372e-01,
    ];
    fn check<L: Layer<1, 1, 25> + constnet::Shape<1, 1, 25>>(
        name: &str,
        layer: L,
        y_want: &[f32; 25],
        dx_want: &[f32; 25],
    ) {
        let x = [Tensor::<1, 1, 25>::from_fn(|_, _, i| 0.45 * i as f32 - 4.4)];
        let dy = [Tensor::<1, 1, 25>::from_fn(|_, _, i| (0.3 * i as f32).cos())];
        let mut y = [Tensor::<1, 1, 25>::zeroed()];
        let mut cache = Flat::zeroed();
        layer.forward(&x, &mut y, &mut cache, &mut Mode::Infer);
        let mut dx = [Tensor::<1, 1, 25>::zeroed()];
        let mut grads = Flat::zeroed();
        layer.backward(&x, &y, &mut cache, &dy, Some(&mut dx), &mut grads, Grad::Overwrite);
        for i in 0..25 {
            let (g, w) = (y[0].0[0][0][i], y_want[i]);
            assert!(close(g, w), "{name}: y[{i}] = {g} vs PyTorch {w}");
            let (g, w) = (dx[0].0[0][0][i], dx_want[i]);
            assert!(close(g, w), "{name}: dx[{i}] = {g} vs PyTorch {w}");
        }
    }
    check("Relu6", Relu6, &RELU6_Y, &RELU6_DX);
    check("LeakyRelu<200>", LeakyRelu::<200>, &LEAKY_Y, &LEAKY_DX);
    check("Hardswish", Hardswish, &HSWISH_Y, &HSWISH_DX);
    check("Silu", Silu, &SILU_Y, &SILU_DX);
}

/// The same three at their kinks exactly, bit for bit (signed zeros,
/// infinities, NaN where PyTorch gives NaN): `scripts/golden/activations.py`,
/// its second part (eight floats: PyTorch runs them by its scalar formulas).
#[test]
fn activations_at_their_kinks_give_pytorchs_bits() {
    const RELU6_KINK_Y: [f32; 8] = [
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        -0.000000000e+00,
        0.000000000e+00,
        3.000000000e+00,
        6.000000000e+00,
        6.000000000e+00,
    ];
    const RELU6_KINK_DX: [f32; 8] = [
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        2.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
    ];
    const LEAKY_KINK_Y: [f32; 8] = [
        f32::NEG_INFINITY,
        -1.200000048e+00,
        -6.000000238e-01,
        -0.000000000e+00,
        0.000000000e+00,
        3.000000000e+00,
        6.000000000e+00,
        f32::INFINITY,
    ];
    const LEAKY_KINK_DX: [f32; 8] = [
        4.000000060e-01,
        4.000000060e-01,
        4.000000060e-01,
        4.000000060e-01,
        4.000000060e-01,
        2.000000000e+00,
        2.000000000e+00,
        2.000000000e+00,
    ];
    const HSWISH_KINK_Y: [f32; 8] = [
        f32::NAN,
        -0.000000000e+00,
        -0.000000000e+00,
        -0.000000000e+00,
        0.000000000e+00,
        3.000000000e+00,
        6.000000000e+00,
        f32::INFINITY,
    ];
    const HSWISH_KINK_DX: [f32; 8] = [
        0.000000000e+00,
        0.000000000e+00,
        0.000000000e+00,
        1.000000000e+00,
        1.000000000e+00,
        2.000000000e+00,
        2.000000000e+00,
        2.000000000e+00,
    ];
    fn check<L: Layer<1, 1, 8> + constnet::Shape<1, 1, 8>>(
        name: &str,
        layer: L,
        y_want: &[f32; 8],
        dx_want: &[f32; 8],
    ) {
        let kinks = [f32::NEG_INFINITY, -6.0, -3.0, -0.0, 0.0, 3.0, 6.0, f32::INFINITY];
        let x = [Tensor::<1, 1, 8>::from_array([[kinks]])];
        let dy = [Tensor::<1, 1, 8>::splat(2.0)];
        let (mut y, mut dx) = ([Tensor::<1, 1, 8>::zeroed()], [Tensor::<1, 1, 8>::zeroed()]);
        let (mut cache, mut grads) = (Flat::zeroed(), Flat::zeroed());
        layer.forward(&x, &mut y, &mut cache, &mut Mode::Infer);
        layer.backward(&x, &y, &mut cache, &dy, Some(&mut dx), &mut grads, Grad::Overwrite);
        let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        for i in 0..8 {
            let (g, w) = (y[0].0[0][0][i], y_want[i]);
            assert!(same(g, w), "{name}({}) = {g:?} vs PyTorch {w:?}", kinks[i]);
            let (g, w) = (dx[0].0[0][0][i], dx_want[i]);
            assert!(same(g, w), "{name}'({}) = {g:?} vs PyTorch {w:?}", kinks[i]);
        }
    }
    check("Relu6", Relu6, &RELU6_KINK_Y, &RELU6_KINK_DX);
    check("LeakyRelu<200>", LeakyRelu::<200>, &LEAKY_KINK_Y, &LEAKY_KINK_DX);
    check("Hardswish", Hardswish, &HSWISH_KINK_Y, &HSWISH_KINK_DX);
}
