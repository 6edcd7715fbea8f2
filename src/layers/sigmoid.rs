//! `Sigmoid`: `y = 1 / (1 + e^-x)`; backward `dx = dy * y * (1 - y)`.

use crate::layer::{Grad, Layer, Mode, assert_out_shape, elementwise_layer, zip_map};
use crate::math::approx;
use crate::{Flat, Tensor};

/// Logistic sigmoid, element-wise, computed without overflow at any input
/// (`sigmoid(±1e4)` is exactly 1 or 0). `s'(x) = s(x)(1 - s(x))`.
///
/// The forward pass runs [`approx::sigmoid_slice`] (within 2.41 ulp of the
/// exact sigmoid, the same bits on every backend; `y >= 0.5` exactly when
/// `x >= 0`).
///
/// PyTorch: `nn.Sigmoid()`. When it ends a network trained with log-loss,
/// use the fused [`bce_with_logits`](crate::loss::bce_with_logits) through
/// [`BackFrom::Logits`](crate::BackFrom::Logits):
/// `(p - y)` is exact where `dL/dp * p(1-p)` underflows.
///
/// # Shapes
/// Output shape = input shape.
///
/// ```
/// use constnet::{Flat, Layer, Mode, Sigmoid, Tensor};
/// let x = [Tensor::<1, 1, 3>::from_array([[[-1e4, 0.0, 1e4]]])];
/// let mut y = [Tensor::<1, 1, 3>::zeroed()];
/// Sigmoid.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[0.0, 0.5, 1.0]]]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sigmoid;
elementwise_layer!(Sigmoid);

impl<const C: usize, const H: usize, const W: usize> Layer<C, H, W> for Sigmoid {
    type Cache<const B: usize> = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        _mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("Sigmoid", OC, OH, OW);
        approx::sigmoid_slice(x.as_flat(), y.as_flat_mut());
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
        assert_out_shape!("Sigmoid", OC, OH, OW);
        if let Some(dx) = dx {
            zip_map(dx, y, dy, |y, dy| dy * y * (1.0 - y));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients() {
        check_layer::<Sigmoid, 2, 2, 3, 3, 2, 3, 3>(51).unwrap();
    }
}
