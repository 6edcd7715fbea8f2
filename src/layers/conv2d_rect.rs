//! `Conv2dRect`: 2-D cross-correlation with a `KH x KW` kernel and
//! per-axis zero padding and stride.
//!
//! Forward, for output channel `o`, row `i`, column `j` (x is 0 outside):
//!
//! ```text
//! y[o][i][j] = b[o] + sum_{c < IN_C} sum_{m < KH, n < KW} w[o][c][m][n] * x[c][i*SH + m - PH][j*SW + n - PW]
//! ```
//!
//! Backward, with `dy = dL/dy`:
//!
//! ```text
//! dL/dw[o][c][m][n] = sum_{i,j} dy[o][i][j] * x[c][i*SH + m - PH][j*SW + n - PW]
//! dL/db[o]          = sum_{i,j} dy[o][i][j]
//! dL/dx[c][u][v]    = sum_{o,m,n} w[o][c][m][n] * dy[o][i][j]   over (i, j) with i*SH + m - PH = u, j*SW + n - PW = v
//! ```

use super::conv2d::valid_range;
use super::im2col::Im2col;
use crate::flat::{same_layout, same_layout_mut};
use crate::layer::{
    Grad, Init, Layer, Mode, ParamTensor, Parameters, assert_out_shape, visit_weight_bias, visit_weight_bias_mut,
};
use crate::{Flat, Shape, Tensor, conv_out, kernels};
use rand::Rng;

/// 2-D convolution layer with a rectangular `KH x KW` kernel and its own
/// padding and stride along each axis: `OUT_C` filters of `IN_C x KH x KW`,
/// `PH` zero rows above and below, `PW` zero columns left and right,
/// strides `SH` down and `SW` across, optional bias.
///
/// PyTorch: `nn.Conv2d(IN_C, OUT_C, (KH, KW), stride=(SH, SW),
/// padding=(PH, PW), bias=BIAS)`; `weight` has the same
/// `[OUT_C][IN_C][KH][KW]` layout and the state-dict names `weight` and
/// `bias`.
///
/// A type of its own, not more parameters on [`Conv2d`](crate::Conv2d):
/// `Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>` keeps its short spelling
/// and its cache, and a default parameter cannot repeat an earlier one
/// (`KW = K`) on stable Rust. As in `Conv2d`, padding comes before
/// stride, each as (rows, columns). `Conv2dRect<C, O, K, K, P, P, S, S>`
/// computes what `Conv2d<C, O, K, P, S>` does.
///
/// On the fast backends it runs im2col and the kernels' matrix product
/// (the path `Conv2d` takes for `STRIDE > 1`) for every shape of at most
/// 16384 taps (`IN_C*KH*KW`) and 512 filters; its reference loops run
/// elsewhere. It reads its input as given, padding as zeros, so its
/// cache is `()`.
///
/// # Shapes
/// Input `IN_C x H x W`, output
/// `OUT_C x conv_out(H, KH, PH, SH) x conv_out(W, KW, PW, SW)`. With
/// `BIAS = false` the `bias` array stays zero and is never trained or saved.
///
/// ```
/// use constnet::{Conv2dRect, Flat, Layer, Mode, Tensor};
/// // A 1 x 2 kernel, stride 2 across: the difference of pairs of columns.
/// let mut conv = Conv2dRect::<1, 1, 1, 2, 0, 0, 1, 2, false>::zeroed();
/// conv.weight[0][0] = [[-1.0, 1.0]];
/// let x = [Tensor::<1, 2, 4>::from_array([[[1., 4., 9., 16.], [0., 1., 0., 1.]]])];
/// let mut y = [Tensor::<1, 2, 2>::zeroed()];
/// conv.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[3., 7.], [1., 1.]]]);
/// ```
///
/// A kernel taller than the padded input does not build:
///
/// ```compile_fail
/// use constnet::{Conv2dRect, Shape};
/// // A 5 x 1 kernel on 3 rows without padding.
/// const N: usize = <Conv2dRect<1, 8, 5, 1> as Shape<1, 3, 28>>::OUT_H;
/// ```
#[repr(C)]
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2dRect<
    const IN_C: usize,
    const OUT_C: usize,
    const KH: usize,
    const KW: usize,
    const PH: usize = 0,
    const PW: usize = 0,
    const SH: usize = 1,
    const SW: usize = 1,
    const BIAS: bool = true,
> {
    /// Filters, `[OUT_C][IN_C][KH][KW]` (PyTorch's layout).
    pub weight: [[[[f32; KW]; KH]; IN_C]; OUT_C],
    /// One bias per filter (zero and untouched when `BIAS = false`).
    pub bias: [f32; OUT_C],
}

// SAFETY: repr(C) struct of f32 arrays.
unsafe impl<
    const IN_C: usize,
    const OUT_C: usize,
    const KH: usize,
    const KW: usize,
    const PH: usize,
    const PW: usize,
    const SH: usize,
    const SW: usize,
    const BIAS: bool,
> Flat for Conv2dRect<IN_C, OUT_C, KH, KW, PH, PW, SH, SW, BIAS>
{
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const KH: usize,
    const KW: usize,
    const PH: usize,
    const PW: usize,
    const SH: usize,
    const SW: usize,
    const BIAS: bool,
    const C: usize,
    const H: usize,
    const W: usize,
> Shape<C, H, W> for Conv2dRect<IN_C, OUT_C, KH, KW, PH, PW, SH, SW, BIAS>
{
    const OUT_C: usize = {
        assert!(C == IN_C, "Conv2dRect: the input must have IN_C channels");
        assert!(KH > 0 && KW > 0, "Conv2dRect: the kernel KH x KW must be at least 1 x 1");
        assert!(SH > 0 && SW > 0, "Conv2dRect: the strides SH and SW must be at least 1");
        assert!(H + 2 * PH >= KH, "Conv2dRect: the kernel height KH is larger than the padded input H + 2*PH");
        assert!(W + 2 * PW >= KW, "Conv2dRect: the kernel width KW is larger than the padded input W + 2*PW");
        OUT_C
    };
    const OUT_H: usize = conv_out(H, KH, PH, SH);
    const OUT_W: usize = conv_out(W, KW, PW, SW);
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const KH: usize,
    const KW: usize,
    const PH: usize,
    const PW: usize,
    const SH: usize,
    const SW: usize,
    const BIAS: bool,
> Conv2dRect<IN_C, OUT_C, KH, KW, PH, PW, SH, SW, BIAS>
{
    /// Forward pass of one sample by the reference loops (see the module
    /// doc for the formula).
    pub(crate) fn forward_one<const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        x: &Tensor<IN_C, H, W>,
        y: &mut Tensor<OUT_C, OH, OW>,
    ) {
        for (o, yo) in y.0.iter_mut().enumerate() {
            let b = if BIAS { self.bias[o] } else { 0.0 };
            yo.iter_mut().for_each(|row| row.fill(b));
            for (c, xc) in x.0.iter().enumerate() {
                for m in 0..KH {
                    let (oy_lo, oy_hi) = valid_range(H, OH, m, PH, SH);
                    for n in 0..KW {
                        let (lo, hi) = valid_range(W, OW, n, PW, SW);
                        let w = self.weight[o][c][m][n];
                        for oy in oy_lo..oy_hi {
                            let xrow = &xc[oy * SH + m - PH];
                            for ox in lo..hi {
                                yo[oy][ox] += w * xrow[ox * SW + n - PW];
                            }
                        }
                    }
                }
            }
        }
    }

    /// Backward pass of one sample by the reference loops: adds dL/dw and
    /// dL/db into `grads` and, if asked, overwrites `dx` with dL/dx.
    pub(crate) fn backward_one<const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        x: &Tensor<IN_C, H, W>,
        dy: &Tensor<OUT_C, OH, OW>,
        mut dx: Option<&mut Tensor<IN_C, H, W>>,
        grads: &mut Self,
    ) {
        if let Some(dx) = dx.as_deref_mut() {
            dx.zero();
        }
        for (o, dyo) in dy.0.iter().enumerate() {
            if BIAS {
                grads.bias[o] += dyo.iter().flatten().sum::<f32>();
            }
            for (c, xc) in x.0.iter().enumerate() {
                for m in 0..KH {
                    let (oy_lo, oy_hi) = valid_range(H, OH, m, PH, SH);
                    for n in 0..KW {
                        let (lo, hi) = valid_range(W, OW, n, PW, SW);
                        let w = self.weight[o][c][m][n];
                        let mut g = 0.0;
                        for oy in oy_lo..oy_hi {
                            let iy = oy * SH + m - PH;
                            for ox in lo..hi {
                                let ix = ox * SW + n - PW;
                                g += dyo[oy][ox] * xc[iy][ix];
                                if let Some(dx) = dx.as_deref_mut() {
                                    dx.0[c][iy][ix] += w * dyo[oy][ox];
                                }
                            }
                        }
                        grads.weight[o][c][m][n] += g;
                    }
                }
            }
        }
    }
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const KH: usize,
    const KW: usize,
    const PH: usize,
    const PW: usize,
    const SH: usize,
    const SW: usize,
    const BIAS: bool,
    const C: usize,
    const H: usize,
    const W: usize,
> Layer<C, H, W> for Conv2dRect<IN_C, OUT_C, KH, KW, PH, PW, SH, SW, BIAS>
{
    type Cache<const B: usize> = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        _mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("Conv2dRect", OC, OH, OW);
        // `C == IN_C` and `OC == OUT_C`, as the shape checks asserted.
        let x: &[Tensor<IN_C, H, W>; B] = same_layout(x);
        let y: &mut [Tensor<OUT_C, OH, OW>; B] = same_layout_mut(y);
        let bias = if BIAS { Some(&self.bias) } else { None };
        let (w, xs) = (self.weight.as_flat(), IN_C * H * W);
        let fast = Im2col::<IN_C, OUT_C, KH, KW, PH, PW, SH, SW, false>::forward::<B, H, W, OH, OW>;
        if !fast(kernels::active(), x.as_flat(), xs, w, bias, y.as_flat_mut()) {
            for (x, y) in x.iter().zip(y.iter_mut()) {
                self.forward_one(x, y);
            }
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
        assert_out_shape!("Conv2dRect", OC, OH, OW);
        grad.start(grads);
        let x: &[Tensor<IN_C, H, W>; B] = same_layout(x);
        let dy: &[Tensor<OUT_C, OH, OW>; B] = same_layout(dy);
        let mut dx = dx.map(same_layout_mut::<_, [Tensor<IN_C, H, W>; B]>);
        let (dw, db) = (grads.weight.as_flat_mut(), if BIAS { Some(&mut grads.bias) } else { None });
        let fast = Im2col::<IN_C, OUT_C, KH, KW, PH, PW, SH, SW, false>::backward::<B, H, W, OH, OW>;
        let dx_flat = dx.as_deref_mut().map(|d| d.as_flat_mut());
        if fast(kernels::active(), x.as_flat(), IN_C * H * W, dy.as_flat(), dx_flat, self.weight.as_flat(), dw, db) {
            return;
        }
        for b in 0..B {
            self.backward_one(&x[b], &dy[b], dx.as_deref_mut().map(|d| &mut d[b]), grads);
        }
    }
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const KH: usize,
    const KW: usize,
    const PH: usize,
    const PW: usize,
    const SH: usize,
    const SW: usize,
    const BIAS: bool,
> Parameters for Conv2dRect<IN_C, OUT_C, KH, KW, PH, PW, SH, SW, BIAS>
{
    /// Fans as PyTorch computes them: `fan_in = IN_C*KH*KW`, `fan_out = OUT_C*KH*KW`.
    fn init(&mut self, init: Init, rng: &mut dyn Rng) {
        init.fill(self.weight.as_flat_mut(), IN_C * KH * KW, OUT_C * KH * KW, rng);
        self.bias = [0.0; OUT_C];
    }

    fn visit(&self, f: &mut dyn FnMut(ParamTensor<'_>)) {
        visit_weight_bias(self.weight.as_flat(), &[OUT_C, IN_C, KH, KW], BIAS.then_some(&self.bias), f);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, &[usize], &mut [f32])) {
        visit_weight_bias_mut(self.weight.as_flat_mut(), &[OUT_C, IN_C, KH, KW], BIAS.then_some(&mut self.bias), f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Conv2d;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients() {
        // A 2 x 3 kernel, padding (1, 0), strides (1, 2).
        check_layer::<Conv2dRect<2, 3, 2, 3, 1, 0, 1, 2>, 2, 2, 5, 7, 3, 6, 3>(91).unwrap();
        // 3 x 1, padding (0, 2), strides (2, 1), no bias.
        check_layer::<Conv2dRect<3, 2, 3, 1, 0, 2, 2, 1, false>, 2, 3, 7, 4, 2, 3, 8>(92).unwrap();
        // 1 x 5 along rows only (a Conv1d on each row), stride 3 across.
        check_layer::<Conv2dRect<2, 4, 1, 5, 0, 2, 1, 3>, 3, 2, 3, 11, 4, 3, 4>(93).unwrap();
        // Padding that covers every output, unequal on the two axes.
        check_layer::<Conv2dRect<1, 2, 5, 3, 2, 1, 1, 1>, 2, 1, 1, 1, 2, 1, 1>(94).unwrap();
        check_layer::<Conv2dRect<2, 1, 3, 7, 3, 3, 2, 2>, 1, 2, 1, 1, 1, 3, 1>(95).unwrap();
        // Padding larger than the kernel on one axis.
        check_layer::<Conv2dRect<2, 2, 2, 3, 3, 1, 2, 1>, 2, 2, 3, 4, 2, 4, 4>(96).unwrap();
    }

    /// The fast path on every fast backend against the reference loops:
    /// forward, then backward added into a non-zero gradient, with and
    /// without `dx`. Then the layer on this process's backend.
    fn fast_matches_reference<
        const IN_C: usize,
        const OUT_C: usize,
        const KH: usize,
        const KW: usize,
        const PH: usize,
        const PW: usize,
        const SH: usize,
        const SW: usize,
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
        type Engine<
            const I: usize,
            const O: usize,
            const KH: usize,
            const KW: usize,
            const PH: usize,
            const PW: usize,
            const SH: usize,
            const SW: usize,
        > = Im2col<I, O, KH, KW, PH, PW, SH, SW, false>;
        assert!(Engine::<IN_C, OUT_C, KH, KW, PH, PW, SH, SW>::FITS, "not a shape the fast path takes");
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut fill = |v: &mut [f32]| v.iter_mut().for_each(|x| *x = rng.random_range(-1.0..1.0));
        let mut conv = Conv2dRect::<IN_C, OUT_C, KH, KW, PH, PW, SH, SW, BIAS>::boxed_zeroed();
        fill(conv.as_flat_mut());
        if !BIAS {
            conv.bias = [0.0; OUT_C];
        }
        let mut x = <[Tensor<IN_C, H, W>; B]>::boxed_zeroed();
        fill(x.as_flat_mut());
        let mut dy = <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed();
        fill(dy.as_flat_mut());
        let terms = (IN_C * KH * KW + B * OH * OW + OUT_C * KH * KW) as f32;
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
        let mut y_slow = <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed();
        let (mut g_slow, mut dx_slow) = (Conv2dRect::boxed_zeroed(), <[Tensor<IN_C, H, W>; B]>::boxed_zeroed());
        for b in 0..B {
            conv.forward_one::<H, W, OH, OW>(&x[b], &mut y_slow[b]);
            conv.backward_one::<H, W, OH, OW>(&x[b], &dy[b], Some(&mut dx_slow[b]), &mut g_slow);
        }
        let mut g_half = g_slow.clone();
        g_half.as_flat_mut().iter_mut().for_each(|g| *g += 0.5);
        let bias = if BIAS { Some(&conv.bias) } else { None };
        let xs = IN_C * H * W;
        for k in kernels::fast_backends() {
            let mut y = <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed();
            y.as_flat_mut().fill(f32::NAN);
            let w = conv.weight.as_flat();
            let ran = Engine::<IN_C, OUT_C, KH, KW, PH, PW, SH, SW>::forward::<B, H, W, OH, OW>(
                k,
                x.as_flat(),
                xs,
                w,
                bias,
                y.as_flat_mut(),
            );
            assert!(ran, "{k:?} declined");
            close("y", y.as_flat(), y_slow.as_flat());
            for with_dx in [true, false] {
                let mut g = Conv2dRect::<IN_C, OUT_C, KH, KW, PH, PW, SH, SW, BIAS>::boxed_zeroed();
                g.as_flat_mut().fill(0.5);
                let mut dx = <[Tensor<IN_C, H, W>; B]>::boxed_zeroed();
                dx.as_flat_mut().fill(f32::NAN);
                let db = if BIAS { Some(&mut g.bias) } else { None };
                let ran = Engine::<IN_C, OUT_C, KH, KW, PH, PW, SH, SW>::backward::<B, H, W, OH, OW>(
                    k,
                    x.as_flat(),
                    xs,
                    dy.as_flat(),
                    with_dx.then(|| dx.as_flat_mut()),
                    w,
                    g.weight.as_flat_mut(),
                    db,
                );
                assert!(ran, "{k:?} declined");
                if !BIAS {
                    g.bias = g_half.bias;
                }
                close("dw", g.as_flat(), g_half.as_flat());
                if with_dx {
                    close("dx", dx.as_flat(), dx_slow.as_flat());
                }
            }
        }
        // The layer on this process's backend, `Grad::Overwrite` over NaNs.
        let mut y = <[Tensor<OUT_C, OH, OW>; B]>::boxed_zeroed();
        conv.forward(&x, &mut y, &mut (), &mut Mode::Infer);
        close("layer y", y.as_flat(), y_slow.as_flat());
        let (mut g, mut dx) = (Conv2dRect::boxed_zeroed(), <[Tensor<IN_C, H, W>; B]>::boxed_zeroed());
        g.as_flat_mut().fill(f32::NAN);
        if !BIAS {
            g.bias = [0.0; OUT_C];
        }
        conv.backward(&x, &y, &mut (), &dy, Some(&mut dx), &mut g, Grad::Overwrite);
        close("layer dw", g.as_flat(), g_slow.as_flat());
        close("layer dx", dx.as_flat(), dx_slow.as_flat());
    }

    #[test]
    fn fast_path_matches_reference_loops() {
        fast_matches_reference::<3, 5, 2, 3, 1, 0, 1, 2, true, 2, 6, 9, 7, 4>(1); // 2 x 3, strides (1, 2)
        fast_matches_reference::<4, 6, 3, 1, 0, 2, 2, 1, false, 3, 9, 5, 4, 9>(2); // 3 x 1, padding (0, 2)
        fast_matches_reference::<2, 7, 1, 7, 0, 3, 1, 1, true, 2, 3, 20, 3, 20>(3); // 1 x 7 'same' along rows
        fast_matches_reference::<2, 3, 5, 3, 2, 1, 1, 1, true, 2, 1, 1, 1, 1>(4); // padding covers every output
        fast_matches_reference::<3, 4, 2, 3, 3, 1, 2, 1, true, 2, 3, 4, 4, 4>(5); // PH > KH: whole rows of padding
        fast_matches_reference::<20, 6, 5, 5, 2, 2, 2, 2, true, 2, 30, 30, 15, 15>(6); // 500 taps: chunks and blocks
        fast_matches_reference::<3, 200, 3, 2, 1, 1, 2, 3, true, 2, 9, 9, 5, 4>(7); // 200 filters
        fast_matches_reference::<16, 32, 3, 3, 1, 1, 1, 1, true, 3, 8, 8, 8, 8>(8); // square stride 1: what Conv2d's kernels run
    }

    /// `Conv2dRect<C, O, K, K, P, P, S, S>` gives what `Conv2d<C, O, K, P, S>` gives.
    #[test]
    fn square_is_conv2d() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
        let mut conv = Conv2d::<3, 4, 3, 1, 2>::zeroed();
        conv.as_flat_mut().iter_mut().for_each(|v| *v = rng.random_range(-1.0..1.0));
        let rect: &Conv2dRect<3, 4, 3, 3, 1, 1, 2, 2> = same_layout(&conv);
        let mut x = [Tensor::<3, 9, 8>::zeroed(); 2];
        x.as_flat_mut().iter_mut().for_each(|v| *v = rng.random_range(-1.0..1.0));
        let (mut y, mut y_rect) = ([Tensor::<4, 5, 4>::zeroed(); 2], [Tensor::<4, 5, 4>::zeroed(); 2]);
        conv.forward(&x, &mut y, &mut Flat::zeroed(), &mut Mode::Infer);
        rect.forward(&x, &mut y_rect, &mut (), &mut Mode::Infer);
        for (a, b) in y.as_flat().iter().zip(y_rect.as_flat()) {
            assert!((a - b).abs() <= 1e-5, "Conv2d {a} vs Conv2dRect {b}");
        }
    }
}
