//! `Relu`: `y = max(0, x)`; backward `dx = dy` where `y > 0`, else `0`.

use crate::layer::{Grad, Layer, Mode, assert_out_shape, elementwise_layer, zip_map};
use crate::{Flat, Tensor};

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
/// Relu.forward(&x, &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[0.0, 0.0, 2.0]]]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Relu;
elementwise_layer!(Relu);

/// The ReLU of `x`: not `x.max(0.0)`, as which zero `max` returns for -0
/// is unspecified (-0 in debug builds here, +0 in release); this gives +0
/// for -0 and 0 for NaN, the kernels' bits.
#[inline(always)]
fn relu(x: f32) -> f32 {
    if x > 0.0 { x } else { 0.0 }
}

/// The ReLU's input gradient from its output `y` and output gradient `dy`.
#[inline(always)]
fn relu_grad(y: f32, dy: f32) -> f32 {
    if y > 0.0 { dy } else { 0.0 }
}

/// `max(v, 0)` in place, by the rule of [`Relu`]'s reference loop: for a
/// layer that runs a ReLU on its own outputs.
pub(crate) fn relu_in_place(v: &mut [f32]) {
    v.iter_mut().for_each(|v| *v = relu(*v));
}

/// The ReLU's backward pass in place: `dy` (the gradient of its outputs
/// `y`) becomes the gradient of its inputs, by [`Relu`]'s reference rule.
pub(crate) fn relu_grad_in_place(y: &[f32], dy: &mut [f32]) {
    dy.iter_mut().zip(y).for_each(|(d, &y)| *d = relu_grad(y, *d));
}

impl<const C: usize, const H: usize, const W: usize> Layer<C, H, W> for Relu {
    type Cache<const B: usize> = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        _mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("Relu", OC, OH, OW);
        if !crate::kernels::active().relu_forward(x.as_flat(), y.as_flat_mut()) {
            zip_map(y, x, x, |x, _| relu(x));
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
        assert_out_shape!("Relu", OC, OH, OW);
        if let Some(dx) = dx
            && !crate::kernels::active().relu_backward(y.as_flat(), dy.as_flat(), dx.as_flat_mut())
        {
            zip_map(dx, y, dy, relu_grad);
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

    /// The vector path (full vectors and a masked tail) against `f32::max`,
    /// including zeros, negative zero and NaN.
    #[test]
    fn forward_and_backward_match_the_scalar_rule() {
        let x = [Tensor::<1, 1, 37>::from_fn(|_, _, i| match i {
            0 => f32::NAN,
            1 => -0.0,
            2 => 0.0,
            _ => (i as f32 - 18.0) * 0.5,
        })];
        let mut y = [Tensor::<1, 1, 37>::zeroed()];
        Relu.forward(&x, &mut y, &mut (), &mut Mode::Infer);
        let dy = [Tensor::<1, 1, 37>::from_fn(|_, _, i| i as f32 + 1.0)];
        let mut dx = [Tensor::<1, 1, 37>::splat(f32::NAN)];
        Relu.backward(&x, &y, &mut (), &dy, Some(&mut dx), &mut Relu, crate::Grad::Add);
        for i in 0..37 {
            let (xi, yi) = (x[0].0[0][0][i], y[0].0[0][0][i]);
            let want: f32 = if xi > 0.0 { xi } else { 0.0 };
            assert_eq!(yi.to_bits(), want.to_bits(), "y[{i}] for x = {xi}: +0 for -0 and NaN");
            assert_eq!(dx[0].0[0][0][i], if yi > 0.0 { i as f32 + 1.0 } else { 0.0 }, "dx[{i}]");
        }
    }

    /// The kernels align their stores with a masked head: every
    /// start in a 64-byte line and every length up to past three vectors
    /// gives `x` (forward) or `dy` (backward) where `x > 0`, `+0` elsewhere
    /// (NaN and `-0` too), and writes nothing outside the span.
    #[test]
    fn the_kernels_at_every_alignment() {
        let k = crate::kernels::active();
        if !k.is_fast() {
            return;
        }
        #[repr(C, align(64))]
        struct Line([f32; 96]);
        let x = Line(core::array::from_fn(|i| match i % 7 {
            0 => f32::NAN,
            1 => -0.0,
            _ => (i as f32 - 40.0) * 0.25,
        }));
        for start in 0..16 {
            for n in 0..=50 {
                let (mut y, mut dx) = (Line([7.0; 96]), Line([7.0; 96]));
                let (xs, dys) = (&x.0[start..start + n], &x.0[start + 1..start + 1 + n]);
                assert!(k.relu_forward(xs, &mut y.0[start..start + n]));
                assert!(k.relu_backward(xs, dys, &mut dx.0[start..start + n]));
                for i in 0..95 {
                    let (xi, inside) = (x.0[i], (start..start + n).contains(&i));
                    let at = std::format!("start {start}, n {n}, [{i}] for x = {xi}");
                    let want = |v: f32| {
                        if !inside {
                            7.0
                        } else if xi > 0.0 {
                            v
                        } else {
                            0.0
                        }
                    };
                    assert_eq!(y.0[i].to_bits(), want(xi).to_bits(), "forward, {at}");
                    assert_eq!(dx.0[i].to_bits(), want(x.0[i + 1]).to_bits(), "backward, {at}");
                }
            }
        }
    }
}
