//! `GlobalAvgPool2d`: the mean of each channel's plane, `C x H x W → C x 1 x 1`.
//!
//! Forward: `y[c] = (1 / HW) · Σ_ij x[c][i][j]`.
//!
//! Backward: every input of plane `c` receives `dy[c] / HW`.

use crate::layer::{Grad, Layer, Mode, assert_out_shape};
use crate::{Flat, Tensor, math};

/// Global average pooling: each channel's mean over its whole plane, what
/// ResNet and MobileNet put before their classifier.
///
/// PyTorch: `nn.AdaptiveAvgPool2d(1)` (or `x.mean((2, 3), keepdim=True)`).
///
/// The sums are [`math::plane_sums`], which runs on the kernels' vector
/// lane sums where the backend has them (all the planes of the batch in
/// one call); the backward pass is one fill per plane.
///
/// # Shapes
/// Input `C x H x W`, output `C x 1 x 1`.
///
/// ```
/// use constnet::{Flat, GlobalAvgPool2d, Layer, Mode, Tensor};
/// let x = Tensor::<2, 2, 2>::from_array([[[1., 2.], [3., 4.]], [[0., 0.], [0., 8.]]]);
/// let mut y = [Tensor::<2, 1, 1>::zeroed()];
/// GlobalAvgPool2d.forward(&[x], &mut y, &mut (), &mut Mode::Infer);
/// assert_eq!(y[0].0, [[[2.5]], [[2.0]]]);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GlobalAvgPool2d;

// SAFETY: zero-sized.
unsafe impl Flat for GlobalAvgPool2d {}
impl crate::Parameters for GlobalAvgPool2d {}
impl<const C: usize, const H: usize, const W: usize> crate::Shape<C, H, W> for GlobalAvgPool2d {
    const OUT_C: usize = C;
    const OUT_H: usize = 1;
    const OUT_W: usize = 1;
}

impl<const C: usize, const H: usize, const W: usize> Layer<C, H, W> for GlobalAvgPool2d {
    type Cache<const B: usize> = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        _mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("GlobalAvgPool2d", OC, OH, OW);
        let y = y.as_flat_mut();
        math::plane_sums(x.as_flat(), H * W, y);
        let scale = 1.0 / (H * W) as f32;
        for v in y {
            *v *= scale;
        }
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        _x: &[Tensor<C, H, W>; B],
        _y: &[Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        _grads: &mut Self,
        _grad: Grad,
    ) {
        assert_out_shape!("GlobalAvgPool2d", OC, OH, OW);
        let Some(dx) = dx else { return };
        let scale = 1.0 / (H * W) as f32;
        for (plane, &g) in dx.as_flat_mut().chunks_exact_mut(H * W).zip(dy.as_flat()) {
            plane.fill(g * scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients() {
        check_layer::<GlobalAvgPool2d, 2, 3, 5, 4, 3, 1, 1>(71).unwrap();
        check_layer::<GlobalAvgPool2d, 1, 16, 7, 7, 16, 1, 1>(72).unwrap();
    }

    /// The mean of each plane, whatever the plane's length (under and over
    /// the kernels' vector width, odd lengths) and the batch.
    #[test]
    fn means_match_a_plain_loop() {
        fn case<const C: usize, const H: usize, const W: usize, const B: usize>() {
            let x: [Tensor<C, H, W>; B] =
                core::array::from_fn(|b| Tensor::from_fn(|c, i, j| ((b * 7 + c * 5 + i * 3 + j) % 11) as f32 - 5.0));
            let mut y = [Tensor::<C, 1, 1>::zeroed(); B];
            GlobalAvgPool2d.forward(&x, &mut y, &mut (), &mut Mode::Infer);
            for b in 0..B {
                for c in 0..C {
                    let want = x[b].0[c].iter().flatten().map(|&v| v as f64).sum::<f64>() / (H * W) as f64;
                    assert!((y[b].0[c][0][0] as f64 - want).abs() < 1e-5, "{C}x{H}x{W}, sample {b}, channel {c}");
                }
            }
        }
        case::<3, 1, 1, 2>();
        case::<5, 3, 3, 3>();
        case::<4, 8, 8, 2>();
        case::<6, 7, 9, 4>();
    }
}
