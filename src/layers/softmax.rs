//! `Softmax`: `y_i = e^{x_i} / sum_j e^{x_j}` over each sample's `C*H*W`
//! values; backward `dx_i = y_i * (dy_i - sum_j dy_j * y_j)`.

use crate::layer::{Grad, Layer, Mode, assert_out_shape, elementwise_layer};
use crate::{Flat, Tensor, math};

/// Softmax over all `C*H*W` values of each sample (for a dense layer's
/// `Tensor<N, 1, 1>` output: over the `N` classes). Computed as
/// `e^{x_i - max x}` so no input overflows it.
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

/// Writes `softmax(x)` into `y` (same length), stable for any finite input.
pub fn softmax(x: &[f32], y: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0;
    for (y, &x) in y.iter_mut().zip(x) {
        *y = math::libm_exp(x - max);
        s += *y;
    }
    y.iter_mut().for_each(|y| *y /= s);
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
    }
}
