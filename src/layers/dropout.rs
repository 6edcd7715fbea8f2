//! `Dropout`: inverted dropout with rate `p = PERCENT / 100`.
//!
//! Training: each element is kept with probability `1 - p` and scaled by
//! `1 / (1 - p)`, so the expected output equals the input:
//! `y = x * m`, `m = 0` (probability `p`) or `1/(1-p)`.
//! Inference: `y = x`.
//! Backward: `dx = dy * m`, with the mask `m` that forward kept.

use crate::layer::{Grad, Layer, Mode, assert_out_shape};
use crate::{Flat, Tensor};
use rand::RngExt;

/// Inverted dropout with rate `PERCENT / 100` (`Dropout<40>` drops 40 %).
/// The mask is drawn from the generator of [`Mode::Train`] and kept in the
/// layer's cache for the backward pass; in [`Mode::Infer`] and
/// [`Mode::Predict`] the layer is the identity.
///
/// PyTorch: `nn.Dropout(p=PERCENT/100)` (`model.train()` / `model.eval()`).
///
/// # Shapes
/// Output shape = input shape.
///
/// ```
/// use constnet::{Dropout, Flat, Layer, Mode, Tensor};
/// use rand::SeedableRng;
/// let x = [Tensor::<1, 1, 1000>::splat(1.0)];
/// let mut y = [Tensor::<1, 1, 1000>::zeroed()];
/// let mut mask = [Tensor::<1, 1, 1000>::zeroed()];
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
/// Dropout::<40>.forward(&x, &mut y, &mut mask, &mut Mode::Train(&mut rng));
/// let dropped = y[0].as_flat().iter().filter(|&&v| v == 0.0).count();
/// assert!((350..450).contains(&dropped));
/// assert!(y[0].as_flat().iter().all(|&v| v == 0.0 || (v - 1.0 / 0.6).abs() < 1e-6));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dropout<const PERCENT: usize>;
// SAFETY: zero-sized.
unsafe impl<const PERCENT: usize> Flat for Dropout<PERCENT> {}
impl<const PERCENT: usize> crate::Parameters for Dropout<PERCENT> {}
impl<const PERCENT: usize, const C: usize, const H: usize, const W: usize> crate::Shape<C, H, W> for Dropout<PERCENT> {
    const OUT_C: usize = {
        assert!(PERCENT < 100, "Dropout: PERCENT must be below 100");
        C
    };
    const OUT_H: usize = H;
    const OUT_W: usize = W;
}

impl<const PERCENT: usize, const C: usize, const H: usize, const W: usize> Layer<C, H, W> for Dropout<PERCENT> {
    /// The mask `m`: `0` or `1/(1-p)` per element.
    type Cache<const B: usize> = [Tensor<C, H, W>; B];

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        cache: &mut [Tensor<C, H, W>; B],
        mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("Dropout", OC, OH, OW);
        let p = PERCENT as f32 / 100.0;
        let keep = 1.0 / (1.0 - p);
        match mode {
            Mode::Train(rng) => {
                for m in cache.as_flat_mut() {
                    *m = if rng.random::<f32>() < p { 0.0 } else { keep };
                }
            }
            Mode::Infer | Mode::Predict => cache.as_flat_mut().fill(1.0),
        }
        crate::layer::zip_map(y, x, cache, |x, m| x * m);
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        _x: &[Tensor<C, H, W>; B],
        _y: &[Tensor<OC, OH, OW>; B],
        cache: &mut [Tensor<C, H, W>; B],
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        _grads: &mut Self,
        _grad: Grad,
    ) {
        assert_out_shape!("Dropout", OC, OH, OW);
        if let Some(dx) = dx {
            for ((dx, m), dy) in dx.as_flat_mut().iter_mut().zip(cache.as_flat()).zip(dy.as_flat()) {
                *dx = dy * m;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients_with_a_kept_mask() {
        check_layer::<Dropout<40>, 2, 2, 3, 4, 2, 3, 4>(81).unwrap();
    }

    #[test]
    fn inference_is_identity() {
        let x = [Tensor::<1, 2, 2>::from_array([[[1.0, -2.0], [3.0, 4.0]]])];
        let mut y = [Tensor::<1, 2, 2>::zeroed()];
        let mut m = [Tensor::<1, 2, 2>::zeroed()];
        Dropout::<50>.forward(&x, &mut y, &mut m, &mut Mode::Infer);
        assert_eq!(x, y);
    }
}
