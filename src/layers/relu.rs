//! `Relu`: `y = max(0, x)`; backward `dx = dy` where `y > 0`, else `0`.

use crate::Tensor;
use crate::layer::{Layer, Mode, assert_out_shape, elementwise_layer, zip_map};

/// Rectified linear unit, element-wise `max(0, x)`. The derivative at 0 is
/// taken as 0 (as in PyTorch and the tutorials' `relu_prime`).
///
/// PyTorch: `nn.ReLU()`.
///
/// # Shapes
/// Output shape = input shape.
///
/// ```
/// use constnet::{Flat, Layer, Mode, Relu, Tensor};
/// let x = [Tensor::<1, 1, 3>::from_array([[[-1.0, 0.0, 2.0]]])];
/// let mut y = [Tensor::<1, 1, 3>::zeroed()];
/// Relu.forward(&x, &mut y, &mut [()], &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[0.0, 0.0, 2.0]]]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Relu;
elementwise_layer!(Relu);

impl<const C: usize, const H: usize, const W: usize> Layer<C, H, W> for Relu {
    type Cache = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut [(); B],
        _mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("Relu", OC, OH, OW);
        zip_map(y, x, x, |x, _| x.max(0.0));
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        _x: &[Tensor<C, H, W>; B],
        y: &[Tensor<OC, OH, OW>; B],
        _cache: &[(); B],
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        _grads: &mut Self,
    ) {
        assert_out_shape!("Relu", OC, OH, OW);
        if let Some(dx) = dx {
            zip_map(dx, y, dy, |y, dy| if y > 0.0 { dy } else { 0.0 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients() {
        check_layer::<Relu, 2, 3, 4, 5, 3, 4, 5>(41).unwrap();
    }
}
