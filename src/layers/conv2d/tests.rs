//! `Conv2d`'s tests: gradients by finite differences, every fast backend
//! against the reference loops, the fused passes and the cache contract.

use super::fast::Then;
use super::padded::pad_planes_reference;
use super::*;
use crate::gradcheck::check_layer;
use crate::kernels::{self, Kernels, SLACK};
use crate::{MaxPool2d, Relu};

#[test]
fn valid_range_matches_brute_force() {
    for n_in in 1..9 {
        for k in 0..4 {
            for pad in 0..3 {
                for stride in 1..4 {
                    let kk = 4;
                    if n_in + 2 * pad < kk {
                        continue;
                    }
                    let n_out = conv_out(n_in, kk, pad, stride);
                    let (lo, hi) = valid_range(n_in, n_out, k, pad, stride);
                    assert!(
                        lo <= hi && hi <= n_out,
                        "n_in {n_in} k {k} pad {pad} stride {stride}: {lo}..{hi} of {n_out}"
                    );
                    for o in 0..n_out {
                        let i = (o * stride + k) as isize - pad as isize;
                        let inside = i >= 0 && (i as usize) < n_in;
                        assert_eq!(inside, (lo..hi).contains(&o), "n_in {n_in} k {k} pad {pad} stride {stride} o {o}");
                    }
                }
            }
        }
    }
}

#[test]
fn gradients_pad0_stride1_one_channel() {
    check_layer::<Conv2d<1, 1, 3, 0, 1>, 2, 1, 5, 5, 1, 3, 3>(1).unwrap();
}

/// Padding that covers every output: a 5x5 kernel with padding 2 on a
/// 1x1 input (PyTorch takes it; the reference loops once sliced past the
/// output there).
#[test]
fn gradients_when_the_padding_covers_every_output() {
    check_layer::<Conv2d<1, 1, 5, 2, 1>, 2, 1, 1, 1, 1, 1, 1>(3).unwrap();
    check_layer::<Conv2d<2, 2, 3, 2, 2>, 1, 2, 2, 1, 2, 2, 2>(4).unwrap();
}

#[test]
fn gradients_pad1_stride1_three_channels_four_filters() {
    check_layer::<Conv2d<3, 4, 3, 1, 1>, 2, 3, 6, 5, 4, 6, 5>(2).unwrap();
}

#[test]
fn gradients_pad2_stride2_no_bias() {
    check_layer::<Conv2d<3, 4, 5, 2, 2, false>, 1, 3, 7, 6, 4, 4, 3>(3).unwrap();
}

#[test]
fn gradients_pad1_stride2_odd_size() {
    check_layer::<Conv2d<1, 4, 3, 1, 2>, 3, 1, 7, 7, 4, 4, 4>(4).unwrap();
}

#[test]
fn gradients_pad0_stride2_even_kernel() {
    check_layer::<Conv2d<3, 1, 2, 0, 2, false>, 1, 3, 5, 7, 1, 2, 3>(5).unwrap();
}

/// 17 filters: output-channel blocks of 8 + 8 + 1 and two blocks of the
/// fast input gradient (16 + 1); rows of 18 (a full and a 2-lane segment).
#[test]
fn gradients_fast_path_blocks_and_two_segments() {
    check_layer::<Conv2d<2, 17, 3, 1, 1>, 2, 2, 5, 18, 17, 5, 18>(6).unwrap();
}

/// 32 filters of 8 x 3 x 3 (72 taps): the channels-last weight gradient
/// (two vectors of channels, 6 tiles of 12 taps).
#[test]
fn gradients_channels_last_weight_gradient() {
    check_layer::<Conv2d<8, 32, 3, 1, 1>, 2, 8, 3, 4, 32, 3, 4>(9).unwrap();
}

/// 5x5 kernel on rows narrower than the kernel ('same' and 'valid').
#[test]
fn gradients_fast_path_narrow_rows() {
    check_layer::<Conv2d<3, 7, 5, 2, 1, false>, 3, 3, 4, 6, 7, 4, 6>(7).unwrap();
    check_layer::<Conv2d<2, 3, 4, 0, 1>, 2, 2, 6, 5, 3, 3, 2>(8).unwrap();
}

/// Every fast backend this CPU runs against the reference loops, on
/// shapes that hit every tile size (8, 4, 2 and 1 output channels;
/// partial segment tiles), both input-gradient blocks, and rows of 1, 2
/// and 3 segments.
fn fast_matches_reference<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const PAD: usize,
    const B: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    seed: u64,
) {
    for k in kernels::fast_backends() {
        fast_matches_reference_on::<IN_C, OUT_C, K, PAD, B, H, W, OH, OW>(k, seed);
    }
}

fn fast_matches_reference_on<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const PAD: usize,
    const B: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    k: Kernels,
    seed: u64,
) {
    use crate::kernels::{PoolRelu, ROUTE_BYTES};
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut fill = |v: &mut [f32]| v.iter_mut().for_each(|x| *x = rng.random_range(-1.0..1.0));
    let mut conv = Conv2d::<IN_C, OUT_C, K, PAD, 1, true>::boxed_zeroed();
    fill(conv.as_flat_mut());
    let mut x = <[Tensor<IN_C, H, W>; B]>::boxed_zeroed();
    fill(x.as_flat_mut());
    let mut dy = <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed();
    fill(dy.as_flat_mut());
    let close = |what: &str, fast: &[f32], slow: &[f32]| {
        for (i, (a, b)) in fast.iter().zip(slow).enumerate() {
            let tol = 1e-4 * (1.0 + b.abs()) * (IN_C * K * K) as f32;
            assert!((a - b).abs() <= tol, "{what}[{i}]: fast {a} vs reference {b}, |diff| {} > {tol}", (a - b).abs());
        }
    };
    // Forward.
    let mut cache = <[PaddedInput<IN_C, H, W, PAD>; B]>::boxed_zeroed();
    PaddedInput::fill_batch(&x, &mut cache);
    let (mut y_fast, mut y_slow) =
        (<[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed(), <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed());
    y_fast.as_flat_mut().fill(f32::NAN);
    assert!(conv.forward_fast::<B, H, W, OH, OW>(k, &cache, &mut y_fast, Then::Store));
    for b in 0..B {
        conv.forward_one::<H, W, OH, OW>(&x[b], &mut y_slow[b]);
    }
    close("y", y_fast.as_flat(), y_slow.as_flat());
    // With a fused ReLU: the bits of the Relu layer after the convolution.
    let (mut r_fused, mut r) =
        (<[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed(), <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed());
    r_fused.as_flat_mut().fill(f32::NAN);
    assert!(conv.forward_fast::<B, H, W, OH, OW>(k, &cache, &mut r_fused, Then::Relu));
    crate::Relu.forward(&y_fast, &mut r, &mut (), &mut Mode::Infer);
    let bits = |t: &[f32]| t.iter().map(|v| v.to_bits()).collect::<std::vec::Vec<_>>();
    assert_eq!(bits(r_fused.as_flat()), bits(r.as_flat()), "the fused ReLU's outputs");
    assert!(r.as_flat().contains(&0.0) && r.as_flat().iter().any(|&v| v > 0.0));
    // With a fused ReLU and 2x2 max-pool, where the kernels pool: the
    // pooling's bits as `maxpool2_forward` gives them, and from the
    // routes in `y` the bits `maxpool2_backward` gives from the outputs.
    let (g, start) = (conv.geom::<H, W, OH, OW>(), conv.start());
    if k.conv_pools(&g, OUT_C, (OH, OW), &start, false) {
        let (ph, pw) = (OH.div_ceil(2), OW.div_ceil(2));
        let n = B * OUT_C * ph * pw;
        let mut p = std::vec![f32::NAN; n + 16];
        assert!(k.maxpool2_forward(B * OUT_C, (OH, OW), y_fast.as_flat(), PoolRelu::Apply, &mut p[..n]));
        // Without routes (`infer`): the pooling, `y` untouched.
        let (mut p_lean, mut y_pool) = (std::vec![f32::NAN; n + 16], <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed());
        y_pool.as_flat_mut().fill(f32::NAN);
        let then = Then::ReluPool(&mut p_lean[..n], false);
        assert!(conv.forward_fast::<B, H, W, OH, OW>(k, &cache, &mut y_pool, then));
        assert_eq!(bits(&p_lean[..n]), bits(&p[..n]), "the fused pooling");
        assert!(p_lean[n..].iter().all(|v| v.is_nan()), "no write past the pooled planes");
        assert!(y_pool.as_flat().iter().all(|v| v.is_nan()), "`y` written without routes");
        if k.conv_pools(&g, OUT_C, (OH, OW), &start, true) {
            // With routes: the same pooling, and a record per pooled
            // row from each sample's first float, four disjoint masks
            // of the row's windows; nothing written after them.
            let mut p_fused = std::vec![f32::NAN; n + 16];
            let then = Then::ReluPool(&mut p_fused[..n], true);
            assert!(conv.forward_fast::<B, H, W, OH, OW>(k, &cache, &mut y_pool, then));
            assert_eq!(bits(&p_fused), bits(&p_lean), "the pooling with the routes");
            let records = OUT_C * ph * ROUTE_BYTES / 4;
            for (b, y) in y_pool.iter().enumerate() {
                let (routes, rest) = y.as_flat().split_at(records);
                for r in routes.chunks_exact(ROUTE_BYTES / 4) {
                    let m = route_of(r);
                    let disjoint = (0..4).all(|i| (i + 1..4).all(|j| m[i] & m[j] == 0));
                    assert!(disjoint && m.iter().all(|&k| k < 1 << pw), "sample {b}: not routes: {m:?}");
                }
                assert!(rest.iter().all(|v| v.is_nan()), "sample {b}: a write past the routes");
            }
            // The pooling's gradient, some of it zero and negative, routed:
            // the bits `maxpool2_backward` gives from the outputs.
            let mut dp = std::vec![0.0; n];
            fill(&mut dp);
            dp.iter_mut().step_by(7).for_each(|v| *v = 0.0);
            let mut dx_routes = <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed();
            let mut dx = <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed();
            dx_routes.as_flat_mut().fill(f32::NAN);
            dx.as_flat_mut().fill(f32::NAN);
            let routes = (y_pool.as_flat(), OUT_C, OUT_C * OH * OW);
            let planes = B * OUT_C;
            assert!(k.maxpool2_backward_routes(planes, (OH, OW), routes, &dp, dx_routes.as_flat_mut()));
            let xy = (y_fast.as_flat(), &p[..n]);
            assert!(k.maxpool2_backward(planes, (OH, OW), xy, &dp, dx.as_flat_mut(), PoolRelu::Apply));
            assert_eq!(bits(dx_routes.as_flat()), bits(dx.as_flat()), "the pooling's gradient through the routes");
            assert!(dx.as_flat().iter().any(|&v| v != 0.0), "some gradient passes");
        }
    }
    // Backward: weight and input gradients, added to a non-zero gradient.
    let (mut g_fast, mut g_slow) = (Conv2d::<IN_C, OUT_C, K, PAD, 1, true>::boxed_zeroed(), Conv2d::boxed_zeroed());
    g_fast.as_flat_mut().fill(0.5);
    g_slow.as_flat_mut().fill(0.5);
    let (mut dx_fast, mut dx_slow) =
        (<[Tensor<IN_C, H, W>; B]>::boxed_zeroed(), <[Tensor<IN_C, H, W>; B]>::boxed_zeroed());
    dx_fast.as_flat_mut().fill(f32::NAN);
    conv.weight_grad_fast::<B, H, W, OH, OW>(k, &cache, &dy, &mut g_fast);
    conv.input_grad_fast::<B, H, W, OH, OW>(k, &dy, &mut dx_fast);
    for b in 0..B {
        conv.backward_one::<H, W, OH, OW>(&cache[b], &dy[b], Some(&mut dx_slow[b]), &mut g_slow);
    }
    close("dw", g_fast.weight.as_flat(), g_slow.weight.as_flat());
    close("dx", dx_fast.as_flat(), dx_slow.as_flat());
}

/// The shapes whose forward pass pools in its tiles: fashion10's and
/// tfconv's first convolutions, fashion10's second; with AVX-512 and AVX2
/// not tfconv's second (800 taps: the channels-last tiles), which NEON and
/// the portable kernels (4 lanes, no channels-last tiles) pool too.
#[test]
fn the_zoo_convolutions_that_pool_in_their_tiles() {
    if !kernels::active().is_fast() {
        return;
    }
    let four_lanes = matches!(kernels::isa(), crate::Isa::Neon | crate::Isa::Portable);
    for routes in [false, true] {
        assert!(Conv2d::<1, 8, 3, 1, 1>::zeroed().pools::<28, 28, 28, 28>(routes));
        assert!(Conv2d::<8, 16, 3, 1, 1>::zeroed().pools::<14, 14, 14, 14>(routes));
        assert!(Conv2d::<1, 32, 5, 2, 1>::boxed_zeroed().pools::<28, 28, 28, 28>(routes));
        assert_eq!(Conv2d::<32, 64, 5, 2, 1>::boxed_zeroed().pools::<14, 14, 14, 14>(routes), four_lanes);
        // Six filters: not a multiple of 4 (x86's tiles); NEON's and the
        // portable tiles take channels in pairs.
        let six = Conv2d::<1, 6, 3, 1, 1>::zeroed();
        assert_eq!(six.pools::<28, 28, 28, 28>(routes), four_lanes);
        assert_eq!(six.pools::<14, 14, 14, 14>(routes), four_lanes);
        let five = Conv2d::<1, 5, 3, 1, 1>::zeroed();
        assert!(!five.pools::<14, 14, 14, 14>(routes), "5 filters: odd");
    }
    // Rows of one output, three of them: the routes (two records of 8
    // bytes a channel) do not fit in the 12 bytes of outputs.
    let narrow = Conv2d::<1, 4, 3, 1, 1>::zeroed();
    assert!(narrow.pools::<3, 1, 3, 1>(false) && !narrow.pools::<3, 1, 3, 1>(true));
}

/// The fused ReLU and pooling give the bits of the layers after the
/// convolution where its outputs are NaN (a NaN input, spread by the
/// zero weights) and -0 (a -0 bias plus zero times a negative input),
/// and so does their backward pass through the routes.
#[test]
fn fused_relu_and_pooling_of_nan_and_negative_zero() {
    use crate::kernels::PoolRelu;
    let k = kernels::active();
    if !k.is_fast() {
        return;
    }
    let mut conv = Conv2d::<1, 8, 3, 1, 1>::zeroed();
    conv.weight[0][0][1][1] = 1.0;
    conv.bias = [0.0, -0.0, -0.0, -0.0, 0.5, -0.0, -0.0, -0.0];
    let x = [Tensor::<1, 7, 9>::from_fn(|_, i, j| match (i * 9 + j) % 11 {
        0 if i > 3 => f32::NAN,
        k if j % 4 == 3 => k as f32,
        k => -(k as f32) - 1.0, // all-negative windows: -0 sums
    })];
    let mut cache = [PaddedInput::<1, 7, 9, 1>::zeroed()];
    pad_planes(x[0].as_flat(), 1, 7, 9, 1, cache[0].as_flat_mut());
    let (mut y, mut r, mut y_relu, mut y_pool) = ([Tensor::<8, 7, 9>::zeroed(); 4]).map(|t| [t]).into();
    assert!(conv.forward_fast::<1, 7, 9, 7, 9>(k, &cache, &mut y, Then::Store));
    let out = y[0].as_flat();
    assert!(out.iter().any(|v| v.is_nan()) && out.iter().any(|v| v.to_bits() == (-0.0f32).to_bits()));
    crate::Relu.forward(&y, &mut r, &mut (), &mut Mode::Infer);
    assert!(conv.forward_fast::<1, 7, 9, 7, 9>(k, &cache, &mut y_relu, Then::Relu));
    let bits = |t: &[f32]| t.iter().map(|v| v.to_bits()).collect::<std::vec::Vec<_>>();
    assert_eq!(bits(y_relu[0].as_flat()), bits(r[0].as_flat()), "the fused ReLU");
    let (mut p_fused, mut p) = ([f32::NAN; 8 * 4 * 5], [f32::NAN; 8 * 4 * 5]);
    assert!(conv.pools::<7, 9, 7, 9>(true));
    assert!(conv.forward_fast::<1, 7, 9, 7, 9>(k, &cache, &mut y_pool, Then::ReluPool(&mut p_fused, true)));
    assert!(k.maxpool2_forward(8, (7, 9), y[0].as_flat(), PoolRelu::Apply, &mut p));
    assert_eq!(bits(&p_fused), bits(&p), "the fused pooling");
    // Back through the routes left in `y_pool` (the layer's entry
    // point), and through the outputs: the same bits.
    let dp = [Tensor::<8, 4, 5>::from_fn(|c, i, j| (c * 20 + i * 5 + j) as f32 * 0.25 - 9.0)];
    let (mut d_routes, mut d) = ([Tensor::<8, 7, 9>::splat(f32::NAN)], [Tensor::<8, 7, 9>::splat(f32::NAN)]);
    let routes = (y_pool.as_flat(), 8, 8 * 7 * 9);
    assert!(k.maxpool2_backward_routes(8, (7, 9), routes, dp.as_flat(), d_routes.as_flat_mut()));
    assert!(k.maxpool2_backward(8, (7, 9), (y[0].as_flat(), &p), dp[0].as_flat(), d[0].as_flat_mut(), PoolRelu::Apply));
    assert_eq!(bits(d_routes[0].as_flat()), bits(d[0].as_flat()), "the pooling's gradient through the routes");
    assert!(d[0].as_flat().iter().any(|&v| v != 0.0));
}

/// The routes at ties and at the edges: a window whose bottom inputs
/// tie for the maximum (the bottom-left one gets it), one whose
/// top-right and bottom-left inputs do (top-right), a last window of
/// an odd row whose only input with the maximum is bottom-left while
/// the output past the row end computes to the same value (no route
/// there), windows of a last row alone; through the layer's entry
/// points, against the layers' passes from the stored outputs.
#[test]
fn routes_at_ties_and_at_the_edges_of_odd_rows() {
    if !kernels::active().is_fast() {
        return;
    }
    // Each output is its input plus 0.5 (the centre tap, the bias);
    // past the row end the input is padding, so the output 0.5.
    let mut conv = Conv2d::<1, 4, 3, 1, 1>::zeroed();
    for o in 0..4 {
        conv.weight[o][0][1][1] = 1.0;
    }
    conv.bias = [0.5; 4];
    let x = [Tensor::<1, 3, 5>::from_array([[
        [-1.0, -1.0, -2.0, 0.0, -1.0],
        [0.0, 0.0, 0.0, -3.0, 0.0],
        [0.0, 0.0, 1.0, -1.0, 0.0],
    ]])];
    let fused = ConvReluPool::<Conv2d<1, 4, 3, 1, 1>, 3, 5> { conv: conv.clone() };
    assert!(fused.pools_in_tiles::<3, 5>(true));
    let mut cache = <ConvReluPool<Conv2d<1, 4, 3, 1, 1>, 3, 5> as Layer<1, 3, 5>>::Cache::<1>::zeroed();
    let mut pooled = [Tensor::<4, 2, 3>::zeroed()];
    fused.forward(&x, &mut pooled, &mut cache, &mut Mode::Infer);
    let dp = [Tensor::<4, 2, 3>::from_fn(|c, i, j| (c * 6 + i * 3 + j) as f32 + 1.0)];
    let mut g = ConvReluPool::zeroed();
    fused.backward(&x, &pooled, &mut cache, &dp, None, &mut g, Grad::Add);
    // The layers one after the other, from the stored outputs.
    type Full = [Tensor<4, 3, 5>; 1];
    let (mut y, mut r, mut dr, mut d) = (Full::zeroed(), Full::zeroed(), Full::zeroed(), [Tensor::splat(f32::NAN)]);
    let mut p = [Tensor::<4, 2, 3>::zeroed()];
    conv.forward(&x, &mut y, &mut Flat::zeroed(), &mut Mode::Infer);
    Relu.forward(&y, &mut r, &mut (), &mut Mode::Infer);
    MaxPool2d::<2>.forward(&r, &mut p, &mut (), &mut Mode::Infer);
    MaxPool2d::<2>.backward(&r, &p, &mut (), &dp, Some(&mut dr), &mut MaxPool2d, Grad::Add);
    Relu.backward(&y, &r, &mut (), &dr, Some(&mut d), &mut Relu, Grad::Add);
    assert_eq!(pooled, p);
    assert_eq!(cache.grad, d, "the gradient routed from the records");
    // Window (0, 0): the bottom pair ties, the first gets it; (0, 1):
    // top-right and bottom-left tie, top-right gets it; (0, 2): only
    // its bottom-left input (the output past the row end has the same
    // value); the last row's windows: their top inputs alone.
    assert_eq!(d[0].0[0], [[0.0, 0.0, 0.0, 2.0, 0.0], [1.0, 0.0, 0.0, 0.0, 3.0], [4.0, 0.0, 5.0, 0.0, 6.0]]);
}

/// The [`Route`](crate::kernels::Route) record held in two floats.
fn route_of(r: &[f32]) -> crate::kernels::Route {
    let b = [r[0].to_ne_bytes(), r[1].to_ne_bytes()].concat();
    core::array::from_fn(|i| u16::from_ne_bytes([b[2 * i], b[2 * i + 1]]))
}

/// The cache contract on the backend this process runs (CI runs the
/// suite on each, `CONSTNET_ISA=reference` and `portable` too): backward reads the
/// input from the cache its forward filled, never from `x`. A cache
/// filled from another input gives that input's gradients (so every
/// backend gives the same result for the same call), and the right
/// cache gives the gradients of the finite-difference-checked path.
#[test]
fn backward_reads_the_input_from_the_cache_on_every_backend() {
    type C = Conv2d<2, 16, 3, 1, 1>;
    let mut conv = C::zeroed();
    conv.weight.as_flat_mut().iter_mut().enumerate().for_each(|(i, w)| *w = (i % 7) as f32 * 0.1 - 0.3);
    let x = [Tensor::<2, 6, 5>::from_fn(|c, i, j| (c * 30 + i * 5 + j) as f32 * 0.05 - 1.0)];
    let other = [Tensor::<2, 6, 5>::from_fn(|c, i, j| ((c + i * j) % 5) as f32 - 2.0)];
    let dy = [Tensor::<16, 6, 5>::from_fn(|o, i, j| ((o + i + 2 * j) % 9) as f32 * 0.25 - 1.0)];
    let (mut y, mut cache, mut cache_other) = ([Tensor::zeroed()], [Flat::zeroed()], [Flat::zeroed()]);
    conv.forward(&x, &mut y, &mut cache, &mut Mode::Infer);
    conv.forward(&other, &mut y, &mut cache_other, &mut Mode::Infer);
    let grads = |xs: &[Tensor<2, 6, 5>; 1], cache: &mut [PaddedInput<2, 6, 5, 1>; 1]| {
        let (mut g, mut dx) = (C::zeroed(), [Tensor::<2, 6, 5>::zeroed()]);
        conv.backward(xs, &y, cache, &dy, Some(&mut dx), &mut g, Grad::Add);
        (g, dx)
    };
    let (right, _) = grads(&x, &mut cache);
    let (crossed, _) = grads(&x, &mut cache_other);
    let (from_other, _) = grads(&other, &mut cache_other);
    assert_eq!(crossed, from_other, "the gradient follows the cache, not x");
    assert_ne!(right, crossed);
    // The right cache: the reference sum over the input itself.
    let mut want = C::zeroed();
    for (o, dyo) in dy[0].0.iter().enumerate() {
        want.bias[o] = dyo.iter().flatten().sum();
        for c in 0..2 {
            for m in 0..3 {
                for n in 0..3 {
                    let mut g = 0.0;
                    for i in 0..6 {
                        for j in 0..5 {
                            let (u, v) = ((i + m) as isize - 1, (j + n) as isize - 1);
                            if (0..6).contains(&u) && (0..5).contains(&v) {
                                g += dyo[i][j] * x[0].0[c][u as usize][v as usize];
                            }
                        }
                    }
                    want.weight[o][c][m][n] = g;
                }
            }
        }
    }
    for (a, b) in right.as_flat().iter().zip(want.as_flat()) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "gradient {a} vs reference {b}");
    }
}

#[test]
fn padding_paths_agree() {
    for (c, h, w, p) in [
        (1, 28, 28, 1),
        (8, 14, 14, 1),
        (3, 5, 17, 2),
        (2, 4, 33, 0),
        (2, 3, 40, 2),
        (1, 1, 1, 3),
        (2, 0, 3, 1),
        (1, 2, 3, 17),
        (0, 3, 3, 1),
    ] {
        let src: std::vec::Vec<f32> = (0..c * h * w).map(|i| i as f32 + 1.0).collect();
        let n = c * (h + 2 * p) * (w + 2 * p) + SLACK;
        let (mut a, mut b) = (std::vec![f32::NAN; n + 5], std::vec![f32::NAN; n + 5]);
        pad_planes(&src, c, h, w, p, &mut a);
        pad_planes_reference(&src, c, h, w, p, &mut b);
        for i in 0..n + 5 {
            assert!(
                a[i] == b[i] || (a[i].is_nan() && b[i].is_nan()),
                "({c}, {h}, {w}, {p})[{i}]: {} vs {}",
                a[i],
                b[i]
            );
        }
        assert!(a[n..].iter().all(|v| v.is_nan()), "writes stop after the slack");
    }
}

#[test]
fn fast_path_matches_reference_loops() {
    fast_matches_reference::<1, 1, 3, 1, 1, 28, 28, 28, 28>(1); // seed 1
    fast_matches_reference::<1, 8, 3, 1, 3, 28, 28, 28, 28>(2); // fashion10 conv1
    fast_matches_reference::<8, 16, 3, 1, 2, 14, 14, 14, 14>(3); // fashion10 conv2
    fast_matches_reference::<20, 19, 5, 2, 2, 9, 17, 9, 17>(4); // blocks 8+8+2+1, two dx blocks
    fast_matches_reference::<3, 15, 3, 0, 3, 7, 35, 5, 33>(5); // 'valid': dx padding 2; 3 segments
    fast_matches_reference::<2, 6, 2, 1, 2, 4, 5, 5, 6>(6); // even kernel, PAD = K - 1
    fast_matches_reference::<3, 64, 5, 2, 2, 9, 7, 9, 7>(7); // channels-last dW: 75 taps = 12 tiles of 6 + 3
    fast_matches_reference::<8, 48, 3, 1, 1, 6, 6, 6, 6>(8); // channels-last dW: 32 + 16 channels
    fast_matches_reference::<32, 16, 3, 1, 1, 3, 3, 3, 3>(10); // channels-last dW: 288 taps = 4 chunks of 64 + 32
    fast_matches_reference::<8, 16, 3, 1, 2, 7, 5, 7, 5>(9); // channels-last dW: 72 taps, one vector of channels
    fast_matches_reference::<30, 64, 3, 1, 1, 4, 3, 4, 3>(11); // channels-last dW: 270 taps in scratch chunks of 255 + 15
    fast_matches_reference::<8, 64, 3, 1, 1, 10, 9, 10, 9>(15); // channels-last dW in bands of 7 + 3 rows
    fast_matches_reference::<8, 16, 3, 1, 1, 20, 18, 20, 18>(16); // channels-last dW in bands of 14 + 6 rows
    fast_matches_reference::<9, 16, 3, 1, 1, 5, 7, 5, 7>(18); // 3x3 row tile: 81 taps = 72 + a tile of 3 kernel rows; rows of 3 pairs + 1
    fast_matches_reference::<114, 16, 3, 1, 1, 2, 2, 2, 2>(19); // 3x3 row tile: 1026 taps in scratch chunks of 1023 + 3 (one kernel row)
    fast_matches_reference::<8, 8192, 3, 0, 1, 3, 3, 1, 1>(21); // a scratch chunk of 2 taps, less than a kernel row
    fast_matches_reference::<3, 16, 5, 2, 1, 6, 5, 6, 5>(20); // 5x5, one vector of channels: the 24 x 16 tile
    fast_matches_reference::<12, 32, 5, 2, 2, 6, 26, 6, 26>(22); // channels-last forward: 300 taps, 2 groups, tiles of 14 + 12
    fast_matches_reference::<33, 16, 3, 1, 1, 4, 12, 4, 12>(23); // channels-last forward: 297 taps, tiles of 12
    fast_matches_reference::<3, 8, 5, 2, 2, 7, 21, 7, 21>(24); // pooled in the tiles: 5x5, rows of two segments, odd sides
    // The single-channel row kernels: one and two segments, 3x3 and
    // 5x5, rows left over after the 8- or 4-row tiles, all three starts.
    fast_matches_reference::<17, 1, 5, 2, 2, 11, 13, 11, 13>(12); // y: 8 + 3 rows; dx: 8 + 8 + 1 channels
    fast_matches_reference::<3, 20, 3, 1, 1, 10, 30, 10, 30>(13); // dx: 2 + 1 channels, two blocks (Load), 4 + 4 + 2 rows
    fast_matches_reference::<1, 1, 3, 0, 2, 12, 12, 10, 10>(14); // 'valid': y 8 + 2 rows of one segment
    fast_matches_reference::<1, 5, 5, 2, 2, 12, 12, 12, 12>(17); // dW: 4 channels in a tile, the fifth streamed (5x5)
}

/// The im2col path (`STRIDE > 1`, or `PAD >= K`) on every fast backend
/// against the reference loops: the forward pass, then the backward pass
/// added into a non-zero gradient, with and without `dx`. Then the layer
/// itself on the chosen backend, with `Grad::Overwrite` (over NaNs) and
/// `Grad::Add`.
fn im2col_matches_reference<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const PAD: usize,
    const STRIDE: usize,
    const BIAS: bool,
    const B: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    seed: u64,
) {
    use rand::{RngExt, SeedableRng};
    type Conv<const I: usize, const O: usize, const K: usize, const P: usize, const S: usize, const BI: bool> =
        Conv2d<I, O, K, P, S, BI>;
    assert!(Conv::<IN_C, OUT_C, K, PAD, STRIDE, BIAS>::IM2COL, "not an im2col shape");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut fill = |v: &mut [f32]| v.iter_mut().for_each(|x| *x = rng.random_range(-1.0..1.0));
    let mut conv = Conv::<IN_C, OUT_C, K, PAD, STRIDE, BIAS>::boxed_zeroed();
    fill(conv.as_flat_mut());
    if !BIAS {
        conv.bias = [0.0; OUT_C];
    }
    let mut x = <[Tensor<IN_C, H, W>; B]>::boxed_zeroed();
    fill(x.as_flat_mut());
    let mut dy = <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed();
    fill(dy.as_flat_mut());
    let terms = (IN_C * K * K + B * OH * OW + OUT_C * K * K) as f32;
    let close = |what: &str, fast: &[f32], slow: &[f32]| {
        assert_eq!(fast.len(), slow.len());
        for (i, (a, b)) in fast.iter().zip(slow).enumerate() {
            let tol = 2e-6 * (1.0 + b.abs()) * terms;
            assert!((a - b).abs() <= tol, "{what}[{i}]: fast {a} vs reference {b}, |diff| {} > {tol}", (a - b).abs());
        }
    };
    let mut cache = <[PaddedInput<IN_C, H, W, PAD>; B]>::boxed_zeroed();
    PaddedInput::fill_batch(&x, &mut cache);
    // The reference: y, and the gradients from zero.
    let mut y_slow = <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed();
    let (mut g_slow, mut dx_slow) = (Conv::boxed_zeroed(), <[Tensor<IN_C, H, W>; B]>::boxed_zeroed());
    for b in 0..B {
        conv.forward_one::<H, W, OH, OW>(&x[b], &mut y_slow[b]);
        conv.backward_one::<H, W, OH, OW>(&cache[b], &dy[b], Some(&mut dx_slow[b]), &mut g_slow);
    }
    let mut g_half = g_slow.clone();
    g_half.as_flat_mut().iter_mut().for_each(|g| *g += 0.5);
    for k in kernels::fast_backends() {
        let mut y = <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed();
        y.as_flat_mut().fill(f32::NAN);
        assert!(conv.forward_im2col::<B, H, W, OH, OW>(k, &cache, &mut y), "{k:?} declined");
        close("y", y.as_flat(), y_slow.as_flat());
        let (mut g, mut g_no_dx) = (Conv::boxed_zeroed(), Conv::boxed_zeroed());
        g.as_flat_mut().fill(0.5);
        g_no_dx.as_flat_mut().fill(0.5);
        let mut dx = <[Tensor<IN_C, H, W>; B]>::boxed_zeroed();
        dx.as_flat_mut().fill(f32::NAN);
        assert!(conv.backward_im2col::<B, H, W, OH, OW>(k, &cache, &dy, Some(&mut dx), &mut g));
        assert!(conv.backward_im2col::<B, H, W, OH, OW>(k, &cache, &dy, None, &mut g_no_dx));
        close("dw", g.as_flat(), g_half.as_flat());
        close("dx", dx.as_flat(), dx_slow.as_flat());
        assert_eq!(g, g_no_dx, "{k:?}: the parameter gradients without dx");
    }
    // The layer on this process's backend.
    let mut y = <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed();
    let mut cache = <[PaddedInput<IN_C, H, W, PAD>; B]>::boxed_zeroed();
    conv.forward(&x, &mut y, &mut cache, &mut Mode::Infer);
    close("layer y", y.as_flat(), y_slow.as_flat());
    let (mut g, mut dx) = (Conv::boxed_zeroed(), <[Tensor<IN_C, H, W>; B]>::boxed_zeroed());
    g.as_flat_mut().fill(f32::NAN);
    if !BIAS {
        g.bias = [0.0; OUT_C];
    }
    conv.backward(&x, &y, &mut cache, &dy, Some(&mut dx), &mut g, Grad::Overwrite);
    close("layer dw (Overwrite)", g.as_flat(), g_slow.as_flat());
    close("layer dx", dx.as_flat(), dx_slow.as_flat());
    g.as_flat_mut().iter_mut().for_each(|g| *g = 0.5);
    if !BIAS {
        g.bias = [0.0; OUT_C];
        g_half.bias = [0.0; OUT_C];
    }
    conv.backward(&x, &y, &mut cache, &dy, None, &mut g, Grad::Add);
    close("layer dw (Add)", g.as_flat(), g_half.as_flat());
}

#[test]
fn im2col_path_matches_reference_loops() {
    im2col_matches_reference::<16, 32, 3, 1, 2, false, 2, 28, 28, 14, 14>(1); // ResNet-8 layer2.0 conv1
    im2col_matches_reference::<32, 64, 3, 1, 2, false, 3, 14, 14, 7, 7>(2); // layer3.0 conv1: blocks across samples
    im2col_matches_reference::<16, 32, 1, 0, 2, false, 2, 28, 28, 14, 14>(3); // the 1x1 projection
    im2col_matches_reference::<3, 5, 3, 0, 2, true, 1, 9, 11, 4, 5>(4); // 'valid', odd sides, B = 1
    im2col_matches_reference::<2, 7, 5, 2, 3, true, 3, 13, 10, 5, 4>(5); // stride 3, 5x5
    im2col_matches_reference::<4, 6, 1, 0, 3, true, 2, 7, 8, 3, 3>(6); // 1x1, stride 3
    im2col_matches_reference::<20, 6, 5, 2, 2, true, 2, 30, 30, 15, 15>(7); // 500 taps: 3 forward chunks, 8 backward blocks
    im2col_matches_reference::<3, 200, 3, 1, 2, true, 2, 9, 9, 5, 5>(8); // 200 filters: forward blocks of 32 columns
    im2col_matches_reference::<2, 3, 2, 3, 1, true, 2, 4, 5, 9, 10>(9); // stride 1 with PAD >= K
    im2col_matches_reference::<1, 1, 3, 1, 2, true, 1, 1, 1, 1, 1>(10); // a 1x1 input
    im2col_matches_reference::<5, 9, 3, 1, 3, false, 5, 16, 17, 6, 6>(11); // stride 3, padded, odd
}

/// The 1x1 matrix-product path (`pointwise.rs`) on every fast backend
/// against the reference loops: the forward pass, the weight gradient
/// added into a non-zero gradient and the input gradient (over NaNs). Then
/// the layer itself on the chosen backend, whichever path it takes.
fn pointwise_matches_reference<
    const IN_C: usize,
    const OUT_C: usize,
    const BIAS: bool,
    const B: usize,
    const H: usize,
    const W: usize,
>(
    seed: u64,
) {
    use super::pointwise::Pass;
    use rand::{RngExt, SeedableRng};
    type Conv<const I: usize, const O: usize, const BI: bool> = Conv2d<I, O, 1, 0, 1, BI>;
    assert!(Conv::<IN_C, OUT_C, BIAS>::POINTWISE, "not a pointwise shape");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut fill = |v: &mut [f32]| v.iter_mut().for_each(|x| *x = rng.random_range(-1.0..1.0));
    let mut conv = Conv::<IN_C, OUT_C, BIAS>::boxed_zeroed();
    fill(conv.as_flat_mut());
    if !BIAS {
        conv.bias = [0.0; OUT_C];
    }
    let mut x = <[Tensor<IN_C, H, W>; B]>::boxed_zeroed();
    fill(x.as_flat_mut());
    let mut dy = <[Tensor<OUT_C, H, W>; B]>::boxed_zeroed();
    fill(dy.as_flat_mut());
    let terms = (IN_C + B * H * W + OUT_C) as f32;
    let close = |what: &str, fast: &[f32], slow: &[f32]| {
        assert_eq!(fast.len(), slow.len());
        for (i, (a, b)) in fast.iter().zip(slow).enumerate() {
            let tol = 2e-6 * (1.0 + b.abs()) * terms;
            assert!((a - b).abs() <= tol, "{what}[{i}]: fast {a} vs reference {b}, |diff| {} > {tol}", (a - b).abs());
        }
    };
    let mut cache = <[PaddedInput<IN_C, H, W, 0>; B]>::boxed_zeroed();
    PaddedInput::fill_batch(&x, &mut cache);
    let mut y_slow = <[Tensor<OUT_C, H, W>; B]>::boxed_zeroed();
    let (mut g_slow, mut dx_slow) = (Conv::boxed_zeroed(), <[Tensor<IN_C, H, W>; B]>::boxed_zeroed());
    for b in 0..B {
        conv.forward_one::<H, W, H, W>(&x[b], &mut y_slow[b]);
        conv.backward_one::<H, W, H, W>(&cache[b], &dy[b], Some(&mut dx_slow[b]), &mut g_slow);
    }
    let mut g_half = g_slow.clone();
    g_half.as_flat_mut().iter_mut().for_each(|g| *g += 0.5);
    for k in kernels::fast_backends() {
        let mut y = <[Tensor<OUT_C, H, W>; B]>::boxed_zeroed();
        y.as_flat_mut().fill(f32::NAN);
        assert!(conv.forward_pointwise::<B, H, W, H, W>(k, &cache, &mut y), "{k:?} declined");
        close("y", y.as_flat(), y_slow.as_flat());
        let mut g = Conv::<IN_C, OUT_C, BIAS>::boxed_zeroed();
        g.as_flat_mut().fill(0.5);
        assert!(Conv::weight_grad_pointwise::<B, H, W, H, W>(k, &cache, &dy, &mut g));
        close("dw", g.weight.as_flat(), g_half.weight.as_flat());
        assert!(g.bias.iter().all(|&b| b == 0.5), "{k:?}: the bias gradient untouched");
        let mut dx = <[Tensor<IN_C, H, W>; B]>::boxed_zeroed();
        dx.as_flat_mut().fill(f32::NAN);
        assert!(conv.input_grad_pointwise::<B, H, W, H, W>(k, &dy, &mut dx));
        close("dx", dx.as_flat(), dx_slow.as_flat());
    }
    // The reference backend declines, having written nothing.
    let reference = Kernels::of(crate::Isa::Reference).expect("the reference backend runs everywhere");
    let mut y = <[Tensor<OUT_C, H, W>; B]>::boxed_zeroed();
    y.as_flat_mut().fill(f32::NAN);
    assert!(!conv.forward_pointwise::<B, H, W, H, W>(reference, &cache, &mut y));
    assert!(y.as_flat().iter().all(|v| v.is_nan()), "the reference backend wrote y");
    let mut g = Conv::<IN_C, OUT_C, BIAS>::boxed_zeroed();
    assert!(!Conv::weight_grad_pointwise::<B, H, W, H, W>(reference, &cache, &dy, &mut g));
    assert!(!Conv::<IN_C, OUT_C, BIAS>::pointwise::<H, W>(reference, Pass::Forward));
    // The layer on this process's backend, with the ReLU fused as
    // `ConvRelu` does.
    let mut y = <[Tensor<OUT_C, H, W>; B]>::boxed_zeroed();
    let mut cache = <[PaddedInput<IN_C, H, W, 0>; B]>::boxed_zeroed();
    conv.forward(&x, &mut y, &mut cache, &mut Mode::Infer);
    close("layer y", y.as_flat(), y_slow.as_flat());
    let mut r = <[Tensor<OUT_C, H, W>; B]>::boxed_zeroed();
    conv.forward_padded::<IN_C, B, H, W, H, W>(&x, &mut cache, &mut r, true);
    let relu: std::vec::Vec<f32> = y.as_flat().iter().map(|&v| v.max(0.0)).collect();
    assert_eq!(r.as_flat(), &relu[..], "the forward pass with a ReLU");
    let (mut g, mut dx) = (Conv::boxed_zeroed(), <[Tensor<IN_C, H, W>; B]>::boxed_zeroed());
    g.as_flat_mut().fill(f32::NAN);
    if !BIAS {
        g.bias = [0.0; OUT_C];
    }
    conv.backward(&x, &y, &mut cache, &dy, Some(&mut dx), &mut g, Grad::Overwrite);
    close("layer dw (Overwrite)", g.as_flat(), g_slow.as_flat());
    close("layer dx", dx.as_flat(), dx_slow.as_flat());
    g.as_flat_mut().iter_mut().for_each(|g| *g = 0.5);
    if !BIAS {
        g.bias = [0.0; OUT_C];
        g_half.bias = [0.0; OUT_C];
    }
    conv.backward(&x, &y, &mut cache, &dy, None, &mut g, Grad::Add);
    close("layer dw (Add)", g.as_flat(), g_half.as_flat());
}

#[test]
fn pointwise_path_matches_reference_loops() {
    pointwise_matches_reference::<16, 32, false, 3, 7, 7>(1); // blocks of 96 across samples; dW transposed by 16
    pointwise_matches_reference::<64, 128, false, 2, 7, 7>(2); // MobileNet's pw4 (two samples)
    pointwise_matches_reference::<3, 5, true, 2, 16, 13>(3); // one product a sample (208 positions); 3 channels
    pointwise_matches_reference::<128, 128, true, 3, 7, 7>(4); // the widest scratch
    pointwise_matches_reference::<5, 17, true, 5, 3, 5>(5); // 15 positions: a block of 6 samples and a partial one
    pointwise_matches_reference::<32, 7, false, 1, 1, 1>(6); // one position
    pointwise_matches_reference::<16, 32, false, 2, 28, 28>(7); // MobileNet's pw1 (two samples)
}

/// 1x1 convolutions by finite differences, on both sides of the
/// products' block and in-place thresholds.
#[test]
fn gradients_pointwise_shapes() {
    check_layer::<Conv2d<3, 4, 1, 0, 1>, 3, 3, 5, 6, 4, 5, 6>(41).unwrap();
    check_layer::<Conv2d<16, 3, 1, 0, 1, false>, 2, 16, 4, 3, 3, 4, 3>(42).unwrap();
    check_layer::<Conv2d<2, 5, 1, 0, 1>, 1, 2, 14, 14, 5, 14, 14>(43).unwrap();
}

/// 1x1 stride-2 convolution and a stride-3 one by finite differences.
#[test]
fn gradients_im2col_shapes() {
    check_layer::<Conv2d<3, 4, 1, 0, 2>, 2, 3, 5, 6, 4, 3, 3>(31).unwrap();
    check_layer::<Conv2d<2, 3, 3, 1, 3, false>, 2, 2, 7, 8, 3, 3, 3>(32).unwrap();
    check_layer::<Conv2d<2, 3, 2, 2, 1>, 1, 2, 3, 3, 3, 6, 6>(33).unwrap();
}

/// ResNet-8's strided convolutions (batch 32): forward plus backward
/// (`dx` asked for) by the layer, against the reference loops, run
/// alternately. `cargo test --release --lib strided_speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn strided_speed() {
    strided_speed_of::<16, 32, 3, 1, 28, 28, 14, 14>("Conv2d<16,32,3,1,2> 16x28x28");
    strided_speed_of::<32, 64, 3, 1, 14, 14, 7, 7>("Conv2d<32,64,3,1,2> 32x14x14");
    strided_speed_of::<16, 32, 1, 0, 28, 28, 14, 14>("Conv2d<16,32,1,0,2> 16x28x28");
}

fn strided_speed_of<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const PAD: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    name: &str,
) {
    use std::time::Instant;
    const B: usize = 32;
    let mut conv = Conv2d::<IN_C, OUT_C, K, PAD, 2, false>::boxed_zeroed();
    conv.weight.as_flat_mut().iter_mut().enumerate().for_each(|(i, w)| *w = (i % 13) as f32 * 0.01 - 0.06);
    let mut x = <[Tensor<IN_C, H, W>; B]>::boxed_zeroed();
    x.as_flat_mut().iter_mut().enumerate().for_each(|(i, v)| *v = (i % 7) as f32 * 0.1 - 0.3);
    let mut dy = <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed();
    dy.as_flat_mut().iter_mut().enumerate().for_each(|(i, v)| *v = (i % 5) as f32 * 0.1 - 0.2);
    let mut y = <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed();
    let mut dx = <[Tensor<IN_C, H, W>; B]>::boxed_zeroed();
    let mut cache = <[PaddedInput<IN_C, H, W, PAD>; B]>::boxed_zeroed();
    let mut g = Conv2d::boxed_zeroed();
    let flops = 3.0 * 2.0 * (B * OUT_C * IN_C * K * K * OH * OW) as f64;
    let mut run = |fast: bool| {
        let t = Instant::now();
        if fast {
            conv.forward(&x, &mut y, &mut cache, &mut Mode::Infer);
            conv.backward(&x, &y, &mut cache, &dy, Some(&mut dx), &mut g, Grad::Overwrite);
        } else {
            PaddedInput::fill_batch(&x, &mut cache);
            for b in 0..B {
                conv.forward_one::<H, W, OH, OW>(&x[b], &mut y[b]);
            }
            g.zero();
            for b in 0..B {
                conv.backward_one::<H, W, OH, OW>(&cache[b], &dy[b], Some(&mut dx[b]), &mut g);
            }
        }
        t.elapsed().as_secs_f64()
    };
    let (mut new, mut old) = (std::vec::Vec::new(), std::vec::Vec::new());
    for _ in 0..3 {
        run(true);
        run(false);
    }
    for _ in 0..15 {
        new.push(run(true));
        old.push(run(false));
    }
    let median = |v: &mut std::vec::Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (n, o) = (median(&mut new), median(&mut old));
    std::println!(
        "{name} B={B} ({:?}): reference {:.3} ms ({:.1} GFLOP/s), new {:.3} ms ({:.1} GFLOP/s), {:.1}x",
        kernels::active(),
        o * 1e3,
        flops / o / 1e9,
        n * 1e3,
        flops / n / 1e9,
        o / n
    );
}
