//! `Tanh`: `y = tanh(x)`; backward `dx = dy * (1 - y^2)`.

use crate::layer::{Grad, Layer, Mode, assert_out_shape, elementwise_layer, zip_map};
use crate::math::approx;
use crate::{Flat, Tensor};

/// Hyperbolic tangent, element-wise. `tanh'(x) = 1 - tanh(x)^2`.
///
/// The forward pass runs [`approx::tanh_slice`] (a polynomial within 1.34
/// ulp of the exact `tanh`, the same bits on every backend).
///
/// PyTorch: `nn.Tanh()`.
///
/// # Shapes
/// Output shape = input shape.
///
/// ```
/// use constnet::{Flat, Layer, Mode, Tanh, Tensor};
/// let x = [Tensor::<1, 1, 3>::from_array([[[-1e4, 0.0, 1e4]]])];
/// let mut y = [Tensor::<1, 1, 3>::zeroed()];
/// Tanh.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[-1.0, 0.0, 1.0]]]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tanh;
elementwise_layer!(Tanh);

impl<const C: usize, const H: usize, const W: usize> Layer<C, H, W> for Tanh {
    type Cache<const B: usize> = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        _mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("Tanh", OC, OH, OW);
        approx::tanh_slice(x.as_flat(), y.as_flat_mut());
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
        assert_out_shape!("Tanh", OC, OH, OW);
        if let Some(dx) = dx {
            zip_map(dx, y, dy, |y, dy| dy * (1.0 - y * y));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients() {
        check_layer::<Tanh, 2, 2, 3, 3, 2, 3, 3>(61).unwrap();
    }
}
