//! `Conv2d`: 2-D cross-correlation with zero padding and stride.
//!
//! Forward, for output channel `o`, row `i`, column `j` (x is 0 outside):
//!
//! ```text
//! y[o][i][j] = b[o] + sum_{c < IN_C} sum_{m,n < K} w[o][c][m][n] * x[c][i*S + m - P][j*S + n - P]
//! ```
//!
//! Backward, with `dy = dL/dy` (the same sum read the other way round):
//!
//! ```text
//! dL/dw[o][c][m][n] = sum_{i,j} dy[o][i][j] * x[c][i*S + m - P][j*S + n - P]
//! dL/db[o]          = sum_{i,j} dy[o][i][j]
//! dL/dx[c][u][v]    = sum_{o,m,n} w[o][c][m][n] * dy[o][i][j]   over (i, j) with i*S + m - P = u, j*S + n - P = v
//! ```
//!
//! The weight gradient is the correlation of the input with `dy`; the input
//! gradient is the "full" convolution of `dy` with the kernel — the closed
//! forms of the seed tutorials (`dL/df = dL/dZ1 * X`).

mod fast;
mod fused;
mod padded;
mod pointwise;
mod strided;
#[cfg(test)]
mod tests;

use crate::flat::{same_layout, same_layout_mut};
use crate::layer::{Grad, Init, Layer, Mode, ParamTensor, Parameters, visit_weight_bias, visit_weight_bias_mut};
use crate::layers::relu::relu_in_place;
use crate::{Flat, Shape, Tensor, conv_out, math};
use fast::Then;
pub use fused::{ConvRelu, ConvReluCache, ConvReluPool, ConvReluPoolCache};
use padded::PadPlane;
pub use padded::PaddedInput;
pub(crate) use padded::pad_planes;
use pointwise::Pass;
use rand::Rng;

/// 2-D convolution layer: `OUT_C` filters of `IN_C x K x K`, zero padding
/// `PAD` on every side, stride `STRIDE`, optional bias. It computes
/// cross-correlation, as PyTorch and TensorFlow do (see
/// [`convolve`](crate::convolve) for the true convolution).
///
/// PyTorch: `nn.Conv2d(IN_C, OUT_C, K, stride=STRIDE, padding=PAD, bias=BIAS)`;
/// `weight` has the same `[OUT_C][IN_C][K][K]` layout.
///
/// **Padding comes before stride here; PyTorch's positional order is the
/// other way round.** `nn.Conv2d(8, 16, 3, 2, 1)` (stride 2, padding 1)
/// is `Conv2d<8, 16, 3, 1, 2>`:
///
/// ```
/// use constnet::{Conv2d, Shape};
/// // nn.Conv2d(8, 16, 3, 2, 1) on 28 x 28: 14 x 14 outputs.
/// type Ported = Conv2d<8, 16, 3, 1, 2>; // IN_C, OUT_C, K, PAD = 1, STRIDE = 2
/// assert_eq!(<Ported as Shape<8, 28, 28>>::OUT_H, 14);
/// // The arguments copied in PyTorch's order give PAD = 2, STRIDE = 1: 30 x 30.
/// assert_eq!(<Conv2d<8, 16, 3, 2, 1> as Shape<8, 28, 28>>::OUT_H, 30);
/// ```
///
/// # Shapes
/// Input `IN_C x H x W`, output `OUT_C x conv_out(H, K, PAD, STRIDE) x conv_out(W, K, PAD, STRIDE)`.
/// With `BIAS = false` the `bias` array stays zero and is never trained or saved.
///
/// ```
/// use constnet::{Conv2d, Flat, Layer, Mode, Tensor};
/// // The 5x5 worked example of tutorial 001: valid 3x3 correlation.
/// let mut conv = Conv2d::<1, 1, 3, 0, 1, false>::zeroed();
/// conv.weight[0][0] = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 1.0]];
/// let img = Tensor::<1, 5, 5>::from_array([[
///     [0., 1., 1., 1., 0.], [0., 1., 0., 1., 0.], [0., 1., 1., 1., 0.],
///     [0., 1., 0., 1., 0.], [0., 1., 1., 1., 0.]]]);
/// let mut out = [Tensor::<1, 3, 3>::zeroed()];
/// conv.forward(&[img], &mut out, &mut Flat::zeroed(), &mut Mode::Infer);
/// assert_eq!(out[0].0, [[[1., 2., 1.], [0., 2., 0.], [1., 2., 1.]]]);
/// ```
///
/// A buffer of the wrong shape does not build, and the message names the rule:
///
/// ```compile_fail
/// use constnet::{Conv2d, Flat, Layer, Mode, Tensor};
/// let conv = Conv2d::<1, 1, 3, 0, 1>::zeroed();
/// let mut out = [Tensor::<1, 4, 4>::zeroed()]; // must be 3x3
/// conv.forward(&[Tensor::<1, 5, 5>::zeroed()], &mut out, &mut Flat::zeroed(), &mut Mode::Infer);
/// ```
#[repr(C)]
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const PAD: usize = 0,
    const STRIDE: usize = 1,
    const BIAS: bool = true,
> {
    /// Filters, `[OUT_C][IN_C][K][K]` (PyTorch's layout).
    pub weight: [[[[f32; K]; K]; IN_C]; OUT_C],
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
> Flat for Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
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
> Shape<C, H, W> for Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
    const OUT_C: usize = {
        assert!(C == IN_C, "Conv2d: the input must have IN_C channels");
        OUT_C
    };
    const OUT_H: usize = conv_out(H, K, PAD, STRIDE);
    const OUT_W: usize = conv_out(W, K, PAD, STRIDE);
}

/// The output positions `lo..hi` (along one axis) whose input position
/// `o*STRIDE + k - PAD` falls inside `0..n_in`, for kernel offset `k`.
#[inline(always)]
///
/// The range lies inside `0..n_out`; an empty one may start anywhere in it,
/// so a caller skips it before computing input positions from `lo`
/// (`lo + k - pad` underflows when the padding covers every output).
pub(crate) const fn valid_range(n_in: usize, n_out: usize, k: usize, pad: usize, stride: usize) -> (usize, usize) {
    let lo = if pad > k { (pad - k).div_ceil(stride) } else { 0 };
    let lo = if lo < n_out { lo } else { n_out };
    let hi = if n_in + pad > k {
        let h = (n_in - 1 + pad - k) / stride + 1;
        if h < n_out { h } else { n_out }
    } else {
        0
    };
    if hi < lo { (lo, lo) } else { (lo, hi) }
}

impl<const IN_C: usize, const OUT_C: usize, const K: usize, const PAD: usize, const STRIDE: usize, const BIAS: bool>
    Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
    /// Forward pass of one sample (see the module doc for the formula).
    fn forward_one<const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        x: &Tensor<IN_C, H, W>,
        y: &mut Tensor<OUT_C, OH, OW>,
    ) {
        for (o, yo) in y.0.iter_mut().enumerate() {
            let b = if BIAS { self.bias[o] } else { 0.0 };
            yo.iter_mut().for_each(|row| row.fill(b));
            for (c, xc) in x.0.iter().enumerate() {
                for m in 0..K {
                    let (oy_lo, oy_hi) = valid_range(H, OH, m, PAD, STRIDE);
                    for oy in oy_lo..oy_hi {
                        let xrow = &xc[oy * STRIDE + m - PAD];
                        let yrow = &mut yo[oy];
                        for n in 0..K {
                            let w = self.weight[o][c][m][n];
                            let (lo, hi) = valid_range(W, OW, n, PAD, STRIDE);
                            if lo >= hi {
                                continue;
                            }
                            if STRIDE == 1 {
                                let xs = &xrow[lo + n - PAD..hi + n - PAD];
                                math::axpy(&mut yrow[lo..hi], w, xs);
                            } else {
                                for ox in lo..hi {
                                    yrow[ox] += w * xrow[ox * STRIDE + n - PAD];
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Backward pass of one sample: adds dL/dw and dL/db into `grads` and,
    /// if asked, overwrites `dx` with dL/dx. The input is read from its
    /// padded copy `x` (the cache), as the fast path reads it.
    fn backward_one<const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        x: &PaddedInput<IN_C, H, W, PAD>,
        dy: &Tensor<OUT_C, OH, OW>,
        mut dx: Option<&mut Tensor<IN_C, H, W>>,
        grads: &mut Self,
    ) {
        if let Some(dx) = dx.as_deref_mut() {
            dx.zero();
        }
        for (o, dyo) in dy.0.iter().enumerate() {
            if BIAS {
                grads.bias[o] += dyo.iter().map(|row| math::sum(row)).sum::<f32>();
            }
            for c in 0..IN_C {
                let xc = &x.planes[c].rows;
                for m in 0..K {
                    let (oy_lo, oy_hi) = valid_range(H, OH, m, PAD, STRIDE);
                    for n in 0..K {
                        let (lo, hi) = valid_range(W, OW, n, PAD, STRIDE);
                        if lo >= hi {
                            continue;
                        }
                        let w = self.weight[o][c][m][n];
                        let mut g = 0.0;
                        for oy in oy_lo..oy_hi {
                            let iy = oy * STRIDE + m - PAD;
                            let dyrow = &dyo[oy][lo..hi];
                            if STRIDE == 1 {
                                g += math::dot(dyrow, &xc[iy].mid[lo + n - PAD..hi + n - PAD]);
                                if let Some(dx) = dx.as_deref_mut() {
                                    math::axpy(&mut dx.0[c][iy][lo + n - PAD..hi + n - PAD], w, dyrow);
                                }
                            } else {
                                for (ox, &d) in (lo..hi).zip(dyrow) {
                                    let ix = ox * STRIDE + n - PAD;
                                    g += d * xc[iy].mid[ix];
                                    if let Some(dx) = dx.as_deref_mut() {
                                        dx.0[c][iy][ix] += w * d;
                                    }
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
    const K: usize,
    const PAD: usize,
    const STRIDE: usize,
    const BIAS: bool,
    const C: usize,
    const H: usize,
    const W: usize,
> Layer<C, H, W> for Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
    /// The inputs with their zero padding written out (see [`PaddedInput`]).
    /// Backward reads the input from here, on every backend, and not from
    /// its `x`: pass the cache this input's forward filled.
    type Cache<const B: usize> = [PaddedInput<C, H, W, PAD>; B];

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        cache: &mut [PaddedInput<C, H, W, PAD>; B],
        _mode: &mut Mode<'_>,
    ) {
        crate::layer::assert_out_shape!("Conv2d", OC, OH, OW);
        self.forward_padded::<C, B, H, W, OH, OW>(x, cache, same_layout_mut(y), false);
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        _y: &[Tensor<OC, OH, OW>; B],
        cache: &mut [PaddedInput<C, H, W, PAD>; B],
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        grads: &mut Self,
        grad: Grad,
    ) {
        crate::layer::assert_out_shape!("Conv2d", OC, OH, OW);
        let _ = x; // read from its padded copy, on every path
        self.backward_padded::<C, B, H, W, OH, OW>(cache, same_layout(dy), dx, grads, grad);
    }
}

impl<const IN_C: usize, const OUT_C: usize, const K: usize, const PAD: usize, const STRIDE: usize, const BIAS: bool>
    Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
    /// `x` padded into `padded`, then the convolution of the batch into
    /// `y`, as `max(y, 0)` if `relu` (a ReLU after it: the bits `Relu`
    /// gives): by the stride-1 kernels where they take the shape, else by
    /// im2col and a matrix product (`strided.rs`), and by the reference
    /// loops where the kernels decline. (`C` is `IN_C`, as the layer's
    /// `Shape` asserts.)
    pub(super) fn forward_padded<
        const C: usize,
        const B: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    >(
        &self,
        x: &[Tensor<C, H, W>; B],
        padded: &mut [PaddedInput<C, H, W, PAD>; B],
        y: &mut [Tensor<OUT_C, OH, OW>; B],
        relu: bool,
    ) {
        let (x, padded): (&[Tensor<IN_C, H, W>; B], &mut [PaddedInput<IN_C, H, W, PAD>; B]) =
            (same_layout(x), same_layout_mut(padded));
        PaddedInput::fill_batch(x, padded);
        if let Some(k) = Self::fast()
            && Self::pointwise::<H, W>(k, Pass::Forward)
            && self.forward_pointwise::<B, H, W, OH, OW>(k, padded, y)
        {
            if relu {
                relu_in_place(y.as_flat_mut());
            }
            return;
        }
        let then = if relu { Then::Relu } else { Then::Store };
        if let Some(k) = Self::fast()
            && self.forward_fast::<B, H, W, OH, OW>(k, padded, y, then)
        {
            return;
        }
        if !self.forward_im2col::<B, H, W, OH, OW>(crate::kernels::active(), padded, y) {
            for (x, y) in x.iter().zip(y.iter_mut()) {
                self.forward_one::<H, W, OH, OW>(x, y);
            }
        }
        if relu {
            relu_in_place(y.as_flat_mut());
        }
    }

    /// The backward pass of a batch from its padded inputs, the parameter
    /// gradients in `grads` as `grad` says, on the same paths as
    /// [`forward_padded`](Self::forward_padded). (`C` is `IN_C`.)
    pub(super) fn backward_padded<
        const C: usize,
        const B: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    >(
        &self,
        padded: &[PaddedInput<C, H, W, PAD>; B],
        dy: &[Tensor<OUT_C, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        grads: &mut Self,
        grad: Grad,
    ) {
        grad.start(grads);
        let padded: &[PaddedInput<IN_C, H, W, PAD>; B] = same_layout(padded);
        let mut dx = dx.map(same_layout_mut::<_, [Tensor<IN_C, H, W>; B]>);
        if let Some(k) = Self::fast() {
            if BIAS {
                let mut sums = [0.0; OUT_C];
                for dy in dy {
                    math::plane_sums(dy.as_flat(), OH * OW, &mut sums);
                    for (gb, s) in grads.bias.iter_mut().zip(&sums) {
                        *gb += s;
                    }
                }
            }
            if !(Self::pointwise::<H, W>(k, Pass::WeightGrad)
                && Self::weight_grad_pointwise::<B, H, W, OH, OW>(k, padded, dy, grads))
            {
                self.weight_grad_fast::<B, H, W, OH, OW>(k, padded, dy, grads);
            }
            if let Some(dx) = dx
                && !(Self::pointwise::<H, W>(k, Pass::InputGrad)
                    && self.input_grad_pointwise::<B, H, W, OH, OW>(k, dy, dx))
            {
                self.input_grad_fast::<B, H, W, OH, OW>(k, dy, dx);
            }
            return;
        }
        if self.backward_im2col::<B, H, W, OH, OW>(crate::kernels::active(), padded, dy, dx.as_deref_mut(), grads) {
            return;
        }
        for b in 0..B {
            self.backward_one::<H, W, OH, OW>(&padded[b], &dy[b], dx.as_deref_mut().map(|d| &mut d[b]), grads);
        }
    }
}

impl<const IN_C: usize, const OUT_C: usize, const K: usize, const PAD: usize, const STRIDE: usize, const BIAS: bool>
    Parameters for Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
    /// Fans as PyTorch computes them: `fan_in = IN_C*K*K`, `fan_out = OUT_C*K*K`.
    fn init(&mut self, init: Init, rng: &mut dyn Rng) {
        init.fill(self.weight.as_flat_mut(), IN_C * K * K, OUT_C * K * K, rng);
        self.bias = [0.0; OUT_C];
    }

    fn visit(&self, f: &mut dyn FnMut(ParamTensor<'_>)) {
        visit_weight_bias(self.weight.as_flat(), &[OUT_C, IN_C, K, K], BIAS.then_some(&self.bias), f);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, &[usize], &mut [f32])) {
        visit_weight_bias_mut(self.weight.as_flat_mut(), &[OUT_C, IN_C, K, K], BIAS.then_some(&mut self.bias), f);
    }
}
