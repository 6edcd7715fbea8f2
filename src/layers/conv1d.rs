//! `Conv1d`: a 1-D convolution over sequences of `C` channels, `C x 1 x L`.
//!
//! Forward (cross-correlation, as PyTorch):
//! `y[o][t] = b[o] + Σ_c Σ_k w[o][c][k] · x[c][t·STRIDE + k - PAD]`,
//! the input zero outside `0..L`; `L_out = (L + 2·PAD - K) / STRIDE + 1`.
//!
//! Backward: `dw[o][c][k] = Σ_t dy[o][t] · x[c][t·STRIDE + k - PAD]`,
//! `db[o] = Σ_t dy[o][t]`, `dx[c][i] = Σ_o Σ_k w[o][c][k] · dy[o][t]` over
//! the `(t, k)` with `t·STRIDE + k - PAD = i`.

use super::conv2d::valid_range;
use super::im2col::Im2col;
use crate::flat::{same_layout, same_layout_mut};
use crate::layer::{
    Grad, Init, Layer, Mode, ParamTensor, Parameters, assert_out_shape, visit_weight_bias, visit_weight_bias_mut,
};
use crate::{Flat, Shape, Tensor, conv_out, kernels, math};
use rand::Rng;

/// A 1-D convolution of `K` taps with zero padding `PAD` and stride
/// `STRIDE`, on sequences held as `C x 1 x L` tensors (channels, one row,
/// the steps along it); `BIAS = false` leaves the bias out.
///
/// PyTorch: `nn.Conv1d(IN_C, OUT_C, K, stride=STRIDE, padding=PAD, bias=BIAS)`,
/// weight `[OUT_C, IN_C, K]`.
///
/// On the fast backends it runs the im2col path that `Conv2d` takes for
/// `STRIDE > 1` (it is [`Conv2dRect`](crate::Conv2dRect) with a `1 x K`
/// kernel on a `1 x L` plane): the taps gathered into columns, then the
/// kernels' matrix product (up to 16384 taps `IN_C*K` and 512 filters).
/// Elsewhere its reference loops run along the
/// sequence (an `axpy` per tap with stride 1, which the compiler
/// vectorises).
///
/// # Shapes
/// Input `IN_C x 1 x L`, output `OUT_C x 1 x conv_out(L, K, PAD, STRIDE)`.
/// A 2-D input does not build:
///
/// ```compile_fail
/// use constnet::{Conv1d, Shape};
/// // An image, 1 x 28 x 28, is not a sequence.
/// const N: usize = <Conv1d<1, 8, 3> as Shape<1, 28, 28>>::OUT_C;
/// ```
///
/// ```
/// use constnet::{Conv1d, Flat, Layer, Mode, Tensor};
/// // A difference filter: y[t] = x[t + 1] - x[t].
/// let mut conv = Conv1d::<1, 1, 2, 0, 1, false>::zeroed();
/// conv.weight[0][0] = [-1.0, 1.0];
/// let x = [Tensor::<1, 1, 5>::from_array([[[1., 4., 9., 16., 25.]]])];
/// let mut y = [Tensor::<1, 1, 4>::zeroed()];
/// conv.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[3., 5., 7., 9.]]]);
/// ```
#[repr(C)]
#[derive(Clone, Debug, PartialEq)]
pub struct Conv1d<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const PAD: usize = 0,
    const STRIDE: usize = 1,
    const BIAS: bool = true,
> {
    /// Filters, `[OUT_C][IN_C][K]` (PyTorch's layout).
    pub weight: [[[f32; K]; IN_C]; OUT_C],
    /// One bias per filter (zero and untouched when `BIAS = false`).
    pub bias: [f32; OUT_C],
}

// SAFETY: repr(C) struct of f32 arrays.
unsafe impl<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const PAD: usize,
    const STRIDE: usize,
    const BIAS: bool,
> Flat for Conv1d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const PAD: usize,
    const STRIDE: usize,
    const BIAS: bool,
    const C: usize,
    const H: usize,
    const W: usize,
> Shape<C, H, W> for Conv1d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
    const OUT_C: usize = {
        assert!(C == IN_C, "Conv1d: the input must have IN_C channels");
        assert!(H == 1, "Conv1d: the input must be a sequence, C x 1 x L; a 2-D input takes Conv2d");
        OUT_C
    };
    const OUT_H: usize = 1;
    const OUT_W: usize = conv_out(W, K, PAD, STRIDE);
}

impl<const IN_C: usize, const OUT_C: usize, const K: usize, const PAD: usize, const STRIDE: usize, const BIAS: bool>
    Conv1d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
    /// Forward pass of one sequence `x` (`IN_C` rows of `L`) into `y`.
    fn forward_one<const L: usize, const OL: usize>(&self, x: &[[f32; L]; IN_C], y: &mut [[f32; OL]; OUT_C]) {
        for (o, yo) in y.iter_mut().enumerate() {
            yo.fill(if BIAS { self.bias[o] } else { 0.0 });
            for (c, xc) in x.iter().enumerate() {
                for (k, &w) in self.weight[o][c].iter().enumerate() {
                    let (lo, hi) = valid_range(L, OL, k, PAD, STRIDE);
                    if lo >= hi {
                        continue;
                    }
                    if STRIDE == 1 {
                        math::axpy(&mut yo[lo..hi], w, &xc[lo + k - PAD..hi + k - PAD]);
                    } else {
                        for t in lo..hi {
                            yo[t] += w * xc[t * STRIDE + k - PAD];
                        }
                    }
                }
            }
        }
    }

    /// Backward pass of one sequence: adds dL/dw and dL/db into `grads`
    /// and, if asked, overwrites `dx`.
    fn backward_one<const L: usize, const OL: usize>(
        &self,
        x: &[[f32; L]; IN_C],
        dy: &[[f32; OL]; OUT_C],
        mut dx: Option<&mut [[f32; L]; IN_C]>,
        grads: &mut Self,
    ) {
        if let Some(dx) = dx.as_deref_mut() {
            dx.iter_mut().for_each(|row| row.fill(0.0));
        }
        for (o, dyo) in dy.iter().enumerate() {
            if BIAS {
                grads.bias[o] += math::sum(dyo);
            }
            for (c, xc) in x.iter().enumerate() {
                for k in 0..K {
                    let (lo, hi) = valid_range(L, OL, k, PAD, STRIDE);
                    if lo >= hi {
                        continue;
                    }
                    let w = self.weight[o][c][k];
                    let d = &dyo[lo..hi];
                    if STRIDE == 1 {
                        grads.weight[o][c][k] += math::dot(d, &xc[lo + k - PAD..hi + k - PAD]);
                        if let Some(dx) = dx.as_deref_mut() {
                            math::axpy(&mut dx[c][lo + k - PAD..hi + k - PAD], w, d);
                        }
                    } else {
                        let mut g = 0.0;
                        for (t, &dv) in (lo..hi).zip(d) {
                            let i = t * STRIDE + k - PAD;
                            g += dv * xc[i];
                            if let Some(dx) = dx.as_deref_mut() {
                                dx[c][i] += w * dv;
                            }
                        }
                        grads.weight[o][c][k] += g;
                    }
                }
            }
        }
    }
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const PAD: usize,
    const STRIDE: usize,
    const BIAS: bool,
    const C: usize,
    const H: usize,
    const W: usize,
> Layer<C, H, W> for Conv1d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
    type Cache<const B: usize> = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        _mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("Conv1d", OC, OH, OW);
        // `C == IN_C`, `H == 1` and `OC == OUT_C`, as the shape checks asserted.
        let x: &[[[f32; W]; IN_C]; B] = same_layout(x);
        let y: &mut [[[f32; OW]; OUT_C]; B] = same_layout_mut(y);
        // The `1 x K` convolution of a `1 x W` plane, padded along the row.
        let bias = if BIAS { Some(&self.bias) } else { None };
        let fast = Im2col::<IN_C, OUT_C, 1, K, 0, PAD, 1, STRIDE, false>::forward::<B, 1, W, 1, OW>;
        if fast(kernels::active(), x.as_flat(), IN_C * W, self.weight.as_flat(), bias, y.as_flat_mut()) {
            return;
        }
        for (x, y) in x.iter().zip(y.iter_mut()) {
            self.forward_one(x, y);
        }
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        _y: &[Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        grads: &mut Self,
        grad: Grad,
    ) {
        assert_out_shape!("Conv1d", OC, OH, OW);
        grad.start(grads);
        let x: &[[[f32; W]; IN_C]; B] = same_layout(x);
        let dy: &[[[f32; OW]; OUT_C]; B] = same_layout(dy);
        let mut dx = dx.map(same_layout_mut::<_, [[[f32; W]; IN_C]; B]>);
        let (dw, db) = (grads.weight.as_flat_mut(), if BIAS { Some(&mut grads.bias) } else { None });
        let fast = Im2col::<IN_C, OUT_C, 1, K, 0, PAD, 1, STRIDE, false>::backward::<B, 1, W, 1, OW>;
        let dx_flat = dx.as_deref_mut().map(|d| d.as_flat_mut());
        if fast(kernels::active(), x.as_flat(), IN_C * W, dy.as_flat(), dx_flat, self.weight.as_flat(), dw, db) {
            return;
        }
        for b in 0..B {
            self.backward_one(&x[b], &dy[b], dx.as_deref_mut().map(|d| &mut d[b]), grads);
        }
    }
}

impl<const IN_C: usize, const OUT_C: usize, const K: usize, const PAD: usize, const STRIDE: usize, const BIAS: bool>
    Parameters for Conv1d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
    /// Fans as PyTorch computes them: `fan_in = IN_C*K`, `fan_out = OUT_C*K`.
    fn init(&mut self, init: Init, rng: &mut dyn Rng) {
        init.fill(self.weight.as_flat_mut(), IN_C * K, OUT_C * K, rng);
        self.bias = [0.0; OUT_C];
    }

    fn visit(&self, f: &mut dyn FnMut(ParamTensor<'_>)) {
        visit_weight_bias(self.weight.as_flat(), &[OUT_C, IN_C, K], BIAS.then_some(&self.bias), f);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, &[usize], &mut [f32])) {
        visit_weight_bias_mut(self.weight.as_flat_mut(), &[OUT_C, IN_C, K], BIAS.then_some(&mut self.bias), f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients() {
        check_layer::<Conv1d<2, 3, 3>, 2, 2, 1, 9, 3, 1, 7>(81).unwrap();
        check_layer::<Conv1d<3, 2, 3, 1, 1>, 2, 3, 1, 8, 2, 1, 8>(82).unwrap();
        check_layer::<Conv1d<2, 4, 5, 2, 2>, 3, 2, 1, 11, 4, 1, 6>(83).unwrap();
        check_layer::<Conv1d<1, 2, 4, 1, 3, false>, 2, 1, 1, 10, 2, 1, 3>(84).unwrap();
        // Padding that covers every output (PyTorch takes these shapes).
        check_layer::<Conv1d<1, 1, 5, 2>, 2, 1, 1, 1, 1, 1, 1>(85).unwrap();
        check_layer::<Conv1d<2, 1, 7, 3, 2>, 1, 2, 1, 1, 1, 1, 1>(86).unwrap();
    }

    /// The im2col path on every fast backend against the reference loops:
    /// forward, then backward added into a non-zero gradient, with and
    /// without `dx`.
    fn fast_matches_reference<
        const IN_C: usize,
        const OUT_C: usize,
        const K: usize,
        const PAD: usize,
        const STRIDE: usize,
        const BIAS: bool,
        const B: usize,
        const L: usize,
        const OL: usize,
    >(
        seed: u64,
    ) {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut fill = |v: &mut [f32]| v.iter_mut().for_each(|x| *x = rng.random_range(-1.0..1.0));
        let mut conv = Conv1d::<IN_C, OUT_C, K, PAD, STRIDE, BIAS>::boxed_zeroed();
        fill(conv.as_flat_mut());
        if !BIAS {
            conv.bias = [0.0; OUT_C];
        }
        let mut x = <[[[f32; L]; IN_C]; B]>::boxed_zeroed();
        fill(x.as_flat_mut());
        let mut dy = <[[[f32; OL]; OUT_C]; B]>::boxed_zeroed();
        fill(dy.as_flat_mut());
        let terms = (IN_C * K + B * OL + OUT_C * K) as f32;
        let close = |what: &str, fast: &[f32], slow: &[f32]| {
            assert_eq!(fast.len(), slow.len());
            for (i, (a, b)) in fast.iter().zip(slow).enumerate() {
                let tol = 2e-6 * (1.0 + b.abs()) * terms;
                assert!(
                    (a - b).abs() <= tol,
                    "{what}[{i}]: fast {a} vs reference {b}, |diff| {} > {tol}",
                    (a - b).abs()
                );
            }
        };
        let mut y_slow = <[[[f32; OL]; OUT_C]; B]>::boxed_zeroed();
        let (mut g_slow, mut dx_slow) = (Conv1d::boxed_zeroed(), <[[[f32; L]; IN_C]; B]>::boxed_zeroed());
        for b in 0..B {
            conv.forward_one(&x[b], &mut y_slow[b]);
            conv.backward_one(&x[b], &dy[b], Some(&mut dx_slow[b]), &mut g_slow);
        }
        let mut g_half = g_slow.clone();
        g_half.as_flat_mut().iter_mut().for_each(|g| *g += 0.5);
        if !BIAS {
            g_half.bias = [0.0; OUT_C];
        }
        type Engine<const I: usize, const O: usize, const K: usize, const P: usize, const S: usize> =
            Im2col<I, O, 1, K, 0, P, 1, S, false>;
        let bias = if BIAS { Some(&conv.bias) } else { None };
        for k in crate::kernels::fast_backends() {
            let mut y = <[[[f32; OL]; OUT_C]; B]>::boxed_zeroed();
            y.as_flat_mut().fill(f32::NAN);
            let w = conv.weight.as_flat();
            let forward = Engine::<IN_C, OUT_C, K, PAD, STRIDE>::forward::<B, 1, L, 1, OL>;
            assert!(forward(k, x.as_flat(), IN_C * L, w, bias, y.as_flat_mut()), "{k:?} declined");
            close("y", y.as_flat(), y_slow.as_flat());
            for with_dx in [true, false] {
                let mut g = Conv1d::<IN_C, OUT_C, K, PAD, STRIDE, BIAS>::boxed_zeroed();
                g.as_flat_mut().fill(0.5);
                if !BIAS {
                    g.bias = [0.0; OUT_C];
                }
                let mut dx = <[[[f32; L]; IN_C]; B]>::boxed_zeroed();
                dx.as_flat_mut().fill(f32::NAN);
                let db = if BIAS { Some(&mut g.bias) } else { None };
                let backward = Engine::<IN_C, OUT_C, K, PAD, STRIDE>::backward::<B, 1, L, 1, OL>;
                let dx_flat = with_dx.then(|| dx.as_flat_mut());
                let ran = backward(k, x.as_flat(), IN_C * L, dy.as_flat(), dx_flat, w, g.weight.as_flat_mut(), db);
                assert!(ran, "{k:?} declined");
                close("dw", g.as_flat(), g_half.as_flat());
                if with_dx {
                    close("dx", dx.as_flat(), dx_slow.as_flat());
                }
            }
        }
    }

    #[test]
    fn fast_path_matches_reference_loops() {
        fast_matches_reference::<28, 64, 5, 2, 1, true, 4, 28, 28>(1); // example 09's conv1
        fast_matches_reference::<64, 64, 3, 1, 1, true, 3, 14, 14>(2); // example 09's conv2
        fast_matches_reference::<3, 4, 3, 1, 2, true, 2, 9, 5>(3); // the golden shape
        fast_matches_reference::<2, 5, 4, 1, 3, false, 2, 10, 3>(4); // stride 3, no bias
        fast_matches_reference::<1, 2, 5, 2, 1, true, 2, 1, 1>(5); // padding covers every output
        fast_matches_reference::<2, 3, 7, 3, 2, true, 3, 1, 1>(6);
        fast_matches_reference::<3, 7, 2, 4, 1, true, 2, 6, 13>(7); // PAD > K: outputs on padding only
    }

    /// Example 09's two convolutions (batch 32): forward plus backward
    /// (`dx` asked for) by the layer, against the reference loops (the
    /// layer before it had a fast path), run alternately.
    /// `cargo test --release --lib conv1d_speed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn conv1d_speed() {
        speed_of::<28, 64, 5, 2, 28, 28>("Conv1d<28,64,5,2> 28x1x28");
        speed_of::<64, 64, 3, 1, 14, 14>("Conv1d<64,64,3,1> 64x1x14");
    }

    fn speed_of<
        const IN_C: usize,
        const OUT_C: usize,
        const K: usize,
        const PAD: usize,
        const L: usize,
        const OL: usize,
    >(
        name: &str,
    ) {
        use std::time::Instant;
        const B: usize = 32;
        let mut conv = Conv1d::<IN_C, OUT_C, K, PAD>::boxed_zeroed();
        conv.as_flat_mut().iter_mut().enumerate().for_each(|(i, w)| *w = (i % 13) as f32 * 0.01 - 0.06);
        let mut x = <[Tensor<IN_C, 1, L>; B]>::boxed_zeroed();
        x.as_flat_mut().iter_mut().enumerate().for_each(|(i, v)| *v = (i % 7) as f32 * 0.1 - 0.3);
        let mut dy = <[Tensor<OUT_C, 1, OL>; B]>::boxed_zeroed();
        dy.as_flat_mut().iter_mut().enumerate().for_each(|(i, v)| *v = (i % 5) as f32 * 0.1 - 0.2);
        let mut y = <[Tensor<OUT_C, 1, OL>; B]>::boxed_zeroed();
        let mut dx = <[Tensor<IN_C, 1, L>; B]>::boxed_zeroed();
        let mut g = Conv1d::boxed_zeroed();
        let flops = 3.0 * 2.0 * (B * OUT_C * IN_C * K * OL) as f64;
        let mut run = |fast: bool| {
            let t = Instant::now();
            if fast {
                conv.forward(&x, &mut y, &mut (), &mut Mode::Infer);
                conv.backward(&x, &y, &mut (), &dy, Some(&mut dx), &mut g, Grad::Overwrite);
            } else {
                let xs: &[[[f32; L]; IN_C]; B] = same_layout(&*x);
                let ys: &mut [[[f32; OL]; OUT_C]; B] = same_layout_mut(&mut *y);
                for b in 0..B {
                    conv.forward_one(&xs[b], &mut ys[b]);
                }
                g.zero();
                let dys: &[[[f32; OL]; OUT_C]; B] = same_layout(&*dy);
                let dxs: &mut [[[f32; L]; IN_C]; B] = same_layout_mut(&mut *dx);
                for b in 0..B {
                    conv.backward_one(&xs[b], &dys[b], Some(&mut dxs[b]), &mut g);
                }
            }
            t.elapsed().as_secs_f64()
        };
        let (mut new, mut old, mut ratios) = (std::vec::Vec::new(), std::vec::Vec::new(), std::vec::Vec::new());
        for _ in 0..3 {
            run(true);
            run(false);
        }
        for _ in 0..21 {
            let (n, o) = (run(true), run(false));
            new.push(n);
            old.push(o);
            ratios.push(o / n);
        }
        let median = |v: &mut std::vec::Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (n, o, r) = (median(&mut new), median(&mut old), median(&mut ratios));
        std::println!(
            "{name} B={B} ({:?}): reference loops {:.3} ms ({:.1} GFLOP/s), layer {:.3} ms ({:.1} GFLOP/s), median pair ratio {:.1}x",
            crate::kernels::active(),
            o * 1e3,
            flops / o / 1e9,
            n * 1e3,
            flops / n / 1e9,
            r
        );
    }
}
