//! Golden values from the tutorials in `shared/seeds/`.
#![allow(clippy::needless_range_loop)]

use constnet::convolve::kernels;
use constnet::convolve::{convolve, correlate, flip};
use constnet::zoo::worked5x5;
use constnet::{Conv2d, Flat, Layer, MaxPool2d, Mode, Network, Relu, Tensor, conv_out, pool_out};

/// The 5x5 image of tutorial 001 ("Working Example").
const IMAGE: [[f32; 5]; 5] =
    [[0., 1., 1., 1., 0.], [0., 1., 0., 1., 0.], [0., 1., 1., 1., 0.], [0., 1., 0., 1., 0.], [0., 1., 1., 1., 0.]];
/// Its kernel.
const KERNEL: [[f32; 3]; 3] = [[0., 0., 0.], [0., 0., 0.], [1., 0., 1.]];

/// Tutorial 001 prints, for `conv2d(image, kernel)` (valid), `relu` and
/// `max_pooling(pool_size=2)` (ceil):
///
/// ```text
/// Convolution Output:
///  [[1. 2. 1.]
///  [0. 2. 0.]
///  [1. 2. 1.]]
/// ReLU Output: (the same)
/// Max Pooling Output:
///  [[2. 1.]
///  [2. 1.]]
/// ```
#[test]
fn worked_5x5_example_conv_relu_maxpool() {
    let mut net = worked5x5::Params::zeroed();
    net.conv.weight[0][0] = KERNEL;
    let mut ws = worked5x5::Workspace::<1>::zeroed();
    net.forward(&[Tensor::from_array([IMAGE])], &mut ws, &mut Mode::Infer);
    // The convolution, ReLU and pooling run as one layer (`conv`); its
    // output is the pooling's. The steps one by one: the next test.
    assert_eq!(ws.act.conv[0].0, [[[2., 1.], [2., 1.]]]);
    // Softmax over 10 classes of a zero dense layer: uniform.
    assert!(ws.act.softmax[0].as_flat().iter().all(|&p| (p - 0.1).abs() < 1e-7));
}

/// The same example through the layers one by one (no network).
#[test]
fn worked_5x5_example_layer_by_layer() {
    let mut conv = Conv2d::<1, 1, 3, 0, 1, false>::zeroed();
    conv.weight[0][0] = KERNEL;
    let x = [Tensor::from_array([IMAGE])];
    let mut c = [Tensor::<1, 3, 3>::zeroed()];
    conv.forward(&x, &mut c, &mut Flat::zeroed(), &mut Mode::Infer);
    let mut r = [Tensor::<1, 3, 3>::zeroed()];
    Relu.forward(&c, &mut r, &mut (), &mut Mode::Infer);
    let mut p = [Tensor::<1, 2, 2>::zeroed()];
    MaxPool2d::<2>.forward(&r, &mut p, &mut (), &mut Mode::Infer);
    assert_eq!(p[0].0, [[[2., 1.], [2., 1.]]]);
}

/// `S_c = (S_f - S_g + 2P)/S + 1` (tutorial 001) and the other tutorials' sizes.
#[test]
fn output_size_formula_cases() {
    assert_eq!(conv_out(5, 3, 0, 1), 3); // the worked example
    assert_eq!(conv_out(3, 2, 0, 1), 2); // 3x3 image, 2x2 kernel: a 2x2 output (tutorial 001 and 002)
    assert_eq!(conv_out(28, 3, 1, 1), 28); // seed 1: padding keeps 28x28
    assert_eq!(conv_out(28, 5, 0, 1), 24); // tutorial 002: 24*24 = 576 patches
    assert_eq!(conv_out(28, 5, 2, 1), 28); // the benchmark convnet's 'same'
    assert_eq!(conv_out(7, 3, 0, 2), 3);
    assert_eq!(conv_out(6, 3, 1, 2), 3);
    assert_eq!(pool_out(3, 2), 2); // ceil: the worked example keeps the edge
    assert_eq!(pool_out(28, 2), 14);
    assert_eq!(pool_out(7, 2), 4);
}

/// Tutorial 001's 2-D example: `f = [[1,2,3],[4,5,6],[7,8,9]]`,
/// `g = [[1,0],[0,-1]]`: every output is `-4`.
#[test]
fn two_by_two_kernel_example() {
    let mut conv = Conv2d::<1, 1, 2, 0, 1, false>::zeroed();
    conv.weight[0][0] = [[1., 0.], [0., -1.]];
    let x = [Tensor::from_array([[[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]]])];
    let mut y = [Tensor::<1, 2, 2>::zeroed()];
    conv.forward(&x, &mut y, &mut Flat::zeroed(), &mut Mode::Infer);
    assert_eq!(y[0].0, [[[-4., -4.], [-4., -4.]]]);
}

/// Tutorial 000: `scipy.signal.convolve(l0, W1[::-1, ::-1], 'same')` is the
/// image-processing correlation with `W1`. Here: `convolve(x, flip(k))`
/// equals `correlate(x, k)`, and equals the `Conv2d` layer, for every classic
/// kernel and a random one.
#[test]
fn kernel_flip_equivalence() {
    let x: [[f32; 7]; 6] = core::array::from_fn(|i| core::array::from_fn(|j| ((i * 7 + j * 3) % 11) as f32 - 5.0));
    let random = [[0.3, -1.2, 0.7], [2.0, 0.1, -0.4], [-0.9, 0.5, 1.1]];
    for (name, k) in kernels::ALL.iter().copied().chain([("random", random)]) {
        let (mut a, mut b) = ([[0.0; 7]; 6], [[0.0; 7]; 6]);
        convolve::<6, 7, 3, 1, 6, 7>(&x, &flip(&k), &mut a);
        correlate::<6, 7, 3, 1, 6, 7>(&x, &k, &mut b);
        assert_eq!(a, b, "{name}");
        let mut conv = Conv2d::<1, 1, 3, 1, 1, false>::zeroed();
        conv.weight[0][0] = k;
        let mut y = [Tensor::<1, 6, 7>::zeroed()];
        conv.forward(&[Tensor::from_array([x])], &mut y, &mut Flat::zeroed(), &mut Mode::Infer);
        // Equal up to rounding: the layer's fast path sums the taps with FMAs.
        let diff = y[0].max_abs_diff(&Tensor::from_array([b]));
        assert!(diff <= 1e-5, "{name}: Conv2d is correlation: |diff| {diff} > 1e-5\n{:?}\n{b:?}", y[0].0[0]);
    }
}

/// `convolve` against the textbook definition of the true convolution,
/// `C(i, j) = Σ_{m,n} f(i - m, j - n) g(m, n)` ('full' output, f = 0 outside),
/// and scipy's 'same' (the centred crop of 'full' for odd K).
#[test]
fn convolve_matches_the_definition() {
    let f: [[f32; 5]; 4] = core::array::from_fn(|i| core::array::from_fn(|j| (i * 5 + j) as f32 * 0.5 - 3.0));
    let g = [[1.0, 2.0, 0.0], [-1.0, 0.5, 3.0], [0.25, -2.0, 1.0]];
    let mut full = [[0.0f32; 7]; 6];
    for (i, row) in full.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            for m in 0..3 {
                for n in 0..3 {
                    let (fi, fj) = (i as isize - m as isize, j as isize - n as isize);
                    if (0..4).contains(&fi) && (0..5).contains(&fj) {
                        *v += f[fi as usize][fj as usize] * g[m][n];
                    }
                }
            }
        }
    }
    let mut out_full = [[0.0; 7]; 6];
    convolve::<4, 5, 3, 2, 6, 7>(&f, &g, &mut out_full);
    assert_eq!(out_full, full, "mode='full' is PAD = K - 1");
    let mut out_same = [[0.0; 5]; 4];
    convolve::<4, 5, 3, 1, 4, 5>(&f, &g, &mut out_same);
    for i in 0..4 {
        assert_eq!(out_same[i], full[i + 1][1..6], "mode='same' is the centred crop, row {i}");
    }
    // Tutorial 000's 1-D example in spirit: an impulse convolved with g is g itself.
    let mut impulse = [[0.0; 3]; 3];
    impulse[1][1] = 1.0;
    let mut y = [[0.0; 3]; 3];
    convolve::<3, 3, 3, 1, 3, 3>(&impulse, &g, &mut y);
    assert_eq!(y, g);
}

/// The classic kernels on a vertical step edge: Prewitt/Sobel vertical
/// respond, horizontal ones don't, identity copies, blurs keep the sum.
#[test]
fn classic_kernels_on_an_edge() {
    let step: [[f32; 6]; 6] = core::array::from_fn(|_| core::array::from_fn(|j| if j >= 3 { 1.0 } else { 0.0 }));
    let apply = |k: &[[f32; 3]; 3]| {
        let mut out = [[0.0; 4]; 4];
        correlate::<6, 6, 3, 0, 4, 4>(&step, k, &mut out);
        out
    };
    assert_eq!(apply(&kernels::PREWITT_V)[1], [0., 3., 3., 0.]);
    assert_eq!(apply(&kernels::SOBEL_V)[1], [0., 4., 4., 0.]);
    assert_eq!(apply(&kernels::PREWITT_H)[1], [0.; 4]);
    assert_eq!(apply(&kernels::SOBEL_H)[1], [0.; 4]);
    assert_eq!(apply(&kernels::IDENTITY)[1], [0., 0., 1., 1.]);
    assert_eq!(apply(&kernels::LAPLACIAN_4)[1], [0., 1., -1., 0.]);
    assert_eq!(apply(&kernels::LAPLACIAN_8)[1], [0., 3., -3., 0.]);
    assert_eq!(apply(&kernels::SHARPEN)[1], [0., -1., 2., 1.]);
    for k in [kernels::BOX_BLUR, kernels::GAUSSIAN_BLUR] {
        let s: f32 = k.iter().flatten().sum();
        assert!((s - 1.0).abs() < 1e-6);
        let row = apply(&k)[1];
        assert_eq!(row[0], 0.0);
        assert!((row[1] - (k[0][2] + k[1][2] + k[2][2])).abs() < 1e-6, "only the right column sees the edge");
        assert!((row[3] - 1.0).abs() < 1e-6, "a blur keeps a flat region");
    }
}
