//! `Relu6`, `LeakyRelu`, `Hardswish` and `Silu`: the activations of
//! MobileNet-style networks, element-wise, on the kernels' vectors on every
//! backend (`kernels::act`, the same bits on each).
//!
//! - `Relu6`: `y = min(max(x, 0), 6)`; `dx = dy` for `0 < x < 6`, else 0.
//! - `LeakyRelu<P>`: `y = x` for `x > 0`, else `(P/1000)·x`; `dx = dy` for
//!   `x > 0`, else `(P/1000)·dy`.
//! - `Hardswish`: `y = x·min(max(x + 3, 0), 6)/6`; `dx = 0` for `x <= -3`,
//!   `dy·(x/3 + 1/2)` for `-3 < x < 3`, `dy` from 3 up (PyTorch's kinks).
//! - `Silu`: `y = x·σ(x)`; `dx = dy·σ(x)·(1 + x·(1 - σ(x)))`, with the
//!   vector sigmoid of [`math::approx`](crate::math::approx) (2.4 ulp).
//!
//! The first three give PyTorch's bits, signed zeros included; a NaN input
//! gives NaN forward, and a gradient as PyTorch's scalar formulas give it
//! (its vector loops differ there). `Silu`'s output is within 3 ulp of
//! PyTorch's; its gradient within a relative 2e-5 (both are about 1e-4
//! from the exact value where the gradient crosses zero, near -1.28).

use crate::kernels::{self, act::Act};
use crate::layer::{Grad, Layer, Mode, assert_out_shape, elementwise_layer};
use crate::{Flat, Tensor};

/// The layers' forward and backward passes: `act` on the flat batch.
macro_rules! act_layer {
    ($name:ident $(<const $p:ident: u32>)?, $label:literal, $act:expr) => {
        impl<$(const $p: u32,)? const C: usize, const H: usize, const W: usize> Layer<C, H, W> for $name$(<$p>)? {
            type Cache<const B: usize> = ();

            fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
                &self,
                x: &[Tensor<C, H, W>; B],
                y: &mut [Tensor<OC, OH, OW>; B],
                _cache: &mut (),
                _mode: &mut Mode<'_>,
            ) {
                assert_out_shape!($label, OC, OH, OW);
                kernels::active().act_forward($act, x.as_flat(), y.as_flat_mut());
            }

            fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
                &self,
                x: &[Tensor<C, H, W>; B],
                _y: &[Tensor<OC, OH, OW>; B],
                _cache: &mut (),
                dy: &[Tensor<OC, OH, OW>; B],
                dx: Option<&mut [Tensor<C, H, W>; B]>,
                _grads: &mut Self,
                _grad: Grad,
            ) {
                assert_out_shape!($label, OC, OH, OW);
                if let Some(dx) = dx {
                    kernels::active().act_backward($act, x.as_flat(), dy.as_flat(), dx.as_flat_mut());
                }
            }
        }
    };
}

/// ReLU capped at 6, element-wise (MobileNet's activation).
///
/// PyTorch: `nn.ReLU6()`.
///
/// # Shapes
/// Output shape = input shape.
///
/// ```
/// use constnet::{Flat, Layer, Mode, Relu6, Tensor};
/// let x = [Tensor::<1, 1, 4>::from_array([[[-2.0, 0.5, 6.0, 9.0]]])];
/// let mut y = [Tensor::<1, 1, 4>::zeroed()];
/// Relu6.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[0.0, 0.5, 6.0, 6.0]]]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Relu6;
elementwise_layer!(Relu6);
act_layer!(Relu6, "Relu6", Act::Relu6);

/// Leaky ReLU with negative slope `PER_MILLE / 1000` (10, PyTorch's
/// default 0.01, unless given), element-wise.
///
/// PyTorch: `nn.LeakyReLU(PER_MILLE / 1000)`.
///
/// # Shapes
/// Output shape = input shape.
///
/// ```
/// use constnet::{Flat, Layer, LeakyRelu, Mode, Tensor};
/// let x = [Tensor::<1, 1, 3>::from_array([[[-2.0, 0.0, 3.0]]])];
/// let mut y = [Tensor::<1, 1, 3>::zeroed()];
/// LeakyRelu::<200>.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[-0.4, 0.0, 3.0]]]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LeakyRelu<const PER_MILLE: u32 = 10>;

impl<const P: u32> LeakyRelu<P> {
    /// The negative slope, `P / 1000`.
    pub const SLOPE: f32 = P as f32 / 1000.0;
}

// SAFETY: zero-sized.
unsafe impl<const P: u32> Flat for LeakyRelu<P> {}
impl<const P: u32> crate::Parameters for LeakyRelu<P> {}
impl<const P: u32, const C: usize, const H: usize, const W: usize> crate::Shape<C, H, W> for LeakyRelu<P> {
    const OUT_C: usize = C;
    const OUT_H: usize = H;
    const OUT_W: usize = W;
}
act_layer!(LeakyRelu<const P: u32>, "LeakyRelu", Act::LeakyRelu(LeakyRelu::<P>::SLOPE));

/// Hard swish, `x·ReLU6(x + 3)/6`, element-wise (MobileNetV3's activation).
///
/// PyTorch: `nn.Hardswish()`.
///
/// # Shapes
/// Output shape = input shape.
///
/// ```
/// use constnet::{Flat, Hardswish, Layer, Mode, Tensor};
/// let x = [Tensor::<1, 1, 4>::from_array([[[-4.0, -1.5, 0.0, 5.0]]])];
/// let mut y = [Tensor::<1, 1, 4>::zeroed()];
/// Hardswish.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[0.0, -0.375, 0.0, 5.0]]]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Hardswish;
elementwise_layer!(Hardswish);
act_layer!(Hardswish, "Hardswish", Act::Hardswish);

/// SiLU (swish), `x·sigmoid(x)`, element-wise (EfficientNet's and
/// MobileNetV3's activation).
///
/// PyTorch: `nn.SiLU()`.
///
/// # Shapes
/// Output shape = input shape.
///
/// ```
/// use constnet::{Flat, Layer, Mode, Silu, Tensor};
/// let x = [Tensor::<1, 1, 3>::from_array([[[-1e4, 0.0, 1e4]]])];
/// let mut y = [Tensor::<1, 1, 3>::zeroed()];
/// Silu.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[-0.0, 0.0, 1e4]]]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Silu;
elementwise_layer!(Silu);
act_layer!(Silu, "Silu", Act::Silu);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    /// Finite differences, with inputs kept away from the kinks (the
    /// checker's inputs are uniform in (-1, 1); the kinks of ReLU6 and
    /// hard swish at 6 and ±3 are outside, the leaky ReLU's at 0 is a
    /// measure-zero event the checker's step avoids).
    #[test]
    fn gradients() {
        check_layer::<Relu6, 2, 2, 3, 4, 2, 3, 4>(91).unwrap();
        check_layer::<LeakyRelu<200>, 2, 2, 3, 4, 2, 3, 4>(92).unwrap();
        check_layer::<LeakyRelu, 2, 3, 2, 5, 3, 2, 5>(93).unwrap();
        check_layer::<Hardswish, 2, 2, 3, 4, 2, 3, 4>(94).unwrap();
        check_layer::<Silu, 2, 2, 3, 4, 2, 3, 4>(95).unwrap();
    }
}
