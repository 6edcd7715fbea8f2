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
use crate::flat::{same_layout, same_layout_mut};
use crate::layer::{Grad, Init, Layer, Mode, ParamTensor, Parameters, assert_out_shape};
use crate::{Flat, Shape, Tensor, conv_out, math};
use rand::Rng;

/// A 1-D convolution of `K` taps with zero padding `PAD` and stride
/// `STRIDE`, on sequences held as `C x 1 x L` tensors (channels, one row,
/// the steps along it); `BIAS = false` leaves the bias out.
///
/// PyTorch: `nn.Conv1d(IN_C, OUT_C, K, stride=STRIDE, padding=PAD, bias=BIAS)`,
/// weight `[OUT_C, IN_C, K]`.
///
/// The loops run along the sequence (an `axpy` per tap with stride 1,
/// which the compiler vectorises); there is no kernel of its own yet.
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
        f(ParamTensor { name: "weight", shape: &[OUT_C, IN_C, K], data: self.weight.as_flat() });
        if BIAS {
            f(ParamTensor { name: "bias", shape: &[OUT_C], data: &self.bias });
        }
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, &[usize], &mut [f32])) {
        f("weight", &[OUT_C, IN_C, K], self.weight.as_flat_mut());
        if BIAS {
            f("bias", &[OUT_C], &mut self.bias);
        }
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
}
