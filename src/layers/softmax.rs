//! `Softmax`: `y_i = e^{x_i} / sum_j e^{x_j}` over each sample's `C*H*W`
//! values; backward `dx_i = y_i * (dy_i - sum_j dy_j * y_j)`.

use crate::kernels::{self, MathFn};
use crate::layer::{Grad, Layer, Mode, assert_out_shape, elementwise_layer};
use crate::{Flat, Tensor, math};

/// Softmax over all `C*H*W` values of each sample (for a dense layer's
/// `Tensor<N, 1, 1>` output: over the `N` classes). Computed as
/// `e^{x_i - max x}` so no input overflows it, with the vector `exp` of
/// [`math::approx`] (within 1 ulp of `libm::expf`):
/// the same bits on every backend.
///
/// PyTorch: `nn.Softmax(dim=1)` on `x.flatten(1)`. To train a classifier,
/// prefer the fused [`softmax_cross_entropy`](crate::loss::softmax_cross_entropy)
/// on the logits via [`BackFrom::Logits`](crate::BackFrom::Logits).
///
/// # Shapes
/// Output shape = input shape.
///
/// ```
/// use constnet::{Flat, Layer, Mode, Softmax, Tensor};
/// let x = [Tensor::<3, 1, 1>::from_array([[[1e4]], [[0.0]], [[1e4]]])];
/// let mut y = [Tensor::<3, 1, 1>::zeroed()];
/// Softmax.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].as_flat(), &[0.5, 0.0, 0.5]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Softmax;
elementwise_layer!(Softmax);

/// Writes `softmax(x)` into `y`: `y_i = e^{x_i - m} / Σ_j e^{x_j - m}`,
/// `m` the largest of `x`, stable for any finite input.
///
/// The exponentials run on the active backend's vectors
/// ([`approx::exp`](crate::math::approx::exp) of the rounded difference,
/// within 1 ulp of `libm::expf`), the sum in [`math::sum`]'s order, then
/// one division per value: the same bits on every backend.
///
/// Special values: a `-∞` input gets probability 0 (if another input is
/// finite); a `+∞` or NaN input, or inputs all `-∞`, make every output
/// NaN (`∞ - ∞` and NaN reach the sum), as the `libm` form did.
///
/// # Panics
/// If `y` is shorter than `x`.
///
/// ```
/// let mut y = [0.0; 3];
/// constnet::layers::softmax::softmax(&[1e4, f32::NEG_INFINITY, 1e4], &mut y);
/// assert_eq!(y, [0.5, 0.0, 0.5]);
/// ```
pub fn softmax(x: &[f32], y: &mut [f32]) {
    softmax_sum(x, y);
}

/// [`softmax`], returning `(m, s)`: the largest input and the sum of the
/// `e^{x_i - m}` (so `ln Σ e^{x_i} = m + ln s`).
pub(crate) fn softmax_sum(x: &[f32], y: &mut [f32]) -> (f32, f32) {
    assert!(y.len() >= x.len(), "softmax: y holds {} values, x {}", y.len(), x.len());
    let y = &mut y[..x.len()];
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    kernels::active().math_map(MathFn::ExpSub(max), x, y);
    let s = math::sum(y);
    y.iter_mut().for_each(|y| *y /= s);
    (max, s)
}

impl<const C: usize, const H: usize, const W: usize> Layer<C, H, W> for Softmax {
    type Cache<const B: usize> = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        _mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("Softmax", OC, OH, OW);
        for (x, y) in x.iter().zip(y.iter_mut()) {
            softmax(x.as_flat(), y.as_flat_mut());
        }
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        _x: &[Tensor<C, H, W>; B],
        y: &[Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        _grads: &mut Self,
        _grad: Grad,
    ) {
        assert_out_shape!("Softmax", OC, OH, OW);
        let Some(dx) = dx else { return };
        for ((dx, y), dy) in dx.iter_mut().zip(y).zip(dy) {
            let (y, dy) = (y.as_flat(), dy.as_flat());
            let s = math::dot(y, dy);
            for ((dx, &y), &dy) in dx.as_flat_mut().iter_mut().zip(y).zip(dy) {
                *dx = y * (dy - s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients() {
        check_layer::<Softmax, 2, 10, 1, 1, 10, 1, 1>(71).unwrap();
        check_layer::<Softmax, 1, 2, 2, 3, 2, 2, 3>(72).unwrap();
        check_layer::<Softmax, 3, 5, 1, 1, 5, 1, 1>(73).unwrap();
    }

    /// Extreme logits give exact probabilities; a `-∞` input probability
    /// 0; a `+∞` or NaN input, or inputs all `-∞`, NaN everywhere.
    #[test]
    fn extreme_and_special_values() {
        let inf = f32::INFINITY;
        let mut y = [0.0; 4];
        softmax(&[1e4, -1e4, 0.0, 1e4], &mut y);
        assert_eq!(y, [0.5, 0.0, 0.0, 0.5]);
        softmax(&[-1e4, -1e4, -1e4, -1e4], &mut y);
        assert_eq!(y, [0.25; 4]);
        softmax(&[0.0, -inf, 0.0, -inf], &mut y);
        assert_eq!(y, [0.5, 0.0, 0.5, 0.0]);
        for bad in [[0.0, inf, 1.0, 2.0], [0.0, f32::NAN, 1.0, 2.0], [-inf; 4]] {
            softmax(&bad, &mut y);
            assert!(y.iter().all(|v| v.is_nan()), "softmax({bad:?}) = {y:?}");
        }
    }

    /// Within a few ulps of the `libm` form, at lengths with whole vectors
    /// and tails; the outputs sum to 1 within rounding.
    #[test]
    fn close_to_libm_and_sums_to_one() {
        for n in [1usize, 3, 4, 7, 8, 10, 16, 19, 40] {
            let x: std::vec::Vec<f32> = (0..n).map(|i| ((i * 29 % 13) as f32 - 6.0) * 2.3).collect();
            let mut y = std::vec![0.0; n];
            softmax(&x, &mut y);
            let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: std::vec::Vec<f64> = x.iter().map(|&v| math::libm_exp(v - max) as f64).collect();
            let s: f64 = e.iter().sum();
            for (i, (&got, &e)) in y.iter().zip(&e).enumerate() {
                let (want, tol) = (e / s, 4e-7 * e / s);
                let diff = got as f64 - want;
                assert!(diff.abs() <= tol, "n = {n}, i = {i}: {got} vs libm {want}, diff {diff:e} > {tol:e}");
            }
            let total: f64 = y.iter().map(|&v| v as f64).sum();
            let tol = 1e-6 * n as f64;
            assert!((total - 1.0).abs() <= tol, "n = {n}: sum {total}, diff {:e} > {tol:e}", total - 1.0);
        }
    }
}
