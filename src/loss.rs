//! Losses: value and gradient, stable at extreme inputs.
//!
//! Per-sample functions work on one value or slice; the `*_batch`
//! functions take a batch of `B` network outputs, return the **mean** loss
//! over the batch and write its gradient (`1/B` of each sample's) into the
//! buffer the network's backward pass reads.
//!
//! | loss | formula | gradient | PyTorch |
//! |---|---|---|---|
//! | [`bce`] | `-(y ln p + (1-y) ln(1-p))` | `(p-y) / (p(1-p))` | `nn.BCELoss` |
//! | [`bce_with_logits`] | the same with `p = sigmoid(z)` | `sigmoid(z) - y` | `nn.BCEWithLogitsLoss` |
//! | [`softmax_cross_entropy`] | `logsumexp(z) - z_k` | `softmax(z) - onehot(k)` | `nn.CrossEntropyLoss` |
//! | [`mse`] | `Σ (y - O)² / 2` | `O - y` | `nn.MSELoss(reduction='sum') / 2` |

use crate::layers::softmax::softmax;
use crate::math::{libm_exp, libm_ln, libm_log1p};
use crate::{Flat, Tensor};

/// The smallest `ln` value [`bce`] uses (PyTorch's `BCELoss` clamps at -100),
/// so `p` of exactly 0 or 1 gives a finite loss.
pub const LOG_FLOOR: f32 = -100.0;

/// Binary log-loss of a probability `p` for a target `y` in `[0, 1]`:
/// `-(y ln p + (1-y) ln(1-p))`, with each `ln` clamped at [`LOG_FLOOR`].
///
/// ```
/// use constnet::loss::bce;
/// assert!((bce(0.5, 1.0) - 2f32.ln()).abs() < 1e-6);
/// assert!(bce(1.0, 0.0).is_finite()); // sigmoid(1e4) is exactly 1.0
/// ```
pub fn bce(p: f32, y: f32) -> f32 {
    -(y * libm_ln(p).max(LOG_FLOOR) + (1.0 - y) * libm_ln(1.0 - p).max(LOG_FLOOR))
}

/// dL/dp of [`bce`]: `(p - y) / (p (1 - p))`, with the denominator kept at
/// least `1e-12` (as PyTorch does) so it is finite at `p = 0` or `1`.
///
/// ```
/// use constnet::loss::bce_grad;
/// assert!((bce_grad(0.25, 1.0) + 4.0).abs() < 1e-5);
/// assert!(bce_grad(1.0, 0.0).is_finite());
/// ```
pub fn bce_grad(p: f32, y: f32) -> f32 {
    (p - y) / (p * (1.0 - p)).max(1e-12)
}

/// Binary log-loss fused with the sigmoid, on a logit `z`: returns
/// `(loss, dL/dz)` = `(max(z,0) - z y + ln(1 + e^-|z|), sigmoid(z) - y)`,
/// exact for any finite `z` (no NaN or inf at `±1e4`). One exponential,
/// `e^-|z|`, serves both: it is the one [`softplus`](crate::math::softplus)`(-|z|)`
/// and [`sigmoid`](crate::math::sigmoid)`(z)` each compute, so the bits are theirs.
///
/// ```
/// use constnet::loss::bce_with_logits;
/// let (l, g) = bce_with_logits(1e4, 0.0);
/// assert_eq!((l, g), (1e4, 1.0));
/// let (l, g) = bce_with_logits(-1e4, 0.0);
/// assert_eq!((l, g), (0.0, 0.0));
/// ```
pub fn bce_with_logits(z: f32, y: f32) -> (f32, f32) {
    let e = libm_exp(-z.abs());
    let s = if z >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
    (z.max(0.0) - z * y + libm_log1p(e), s - y)
}

/// Softmax cross-entropy on logits `z` for class `k`: writes
/// `softmax(z) - onehot(k)` into `dz` and returns `logsumexp(z) - z_k`,
/// computed with the maximum subtracted so no logit overflows it.
///
/// # Panics
/// If `k >= z.len()` or `dz.len() != z.len()`.
///
/// ```
/// use constnet::loss::softmax_cross_entropy;
/// let mut dz = [0.0; 3];
/// let l = softmax_cross_entropy(&[1e4, -1e4, 0.0], 0, &mut dz);
/// assert_eq!(l, 0.0);
/// assert_eq!(dz, [0.0, 0.0, 0.0]);
/// let l = softmax_cross_entropy(&[1e4, -1e4, 0.0], 1, &mut dz);
/// assert_eq!(l, 2e4);
/// ```
pub fn softmax_cross_entropy(z: &[f32], k: usize, dz: &mut [f32]) -> f32 {
    assert!(k < z.len(), "softmax_cross_entropy: class {k} is out of range for {} logits", z.len());
    assert_eq!(
        dz.len(),
        z.len(),
        "softmax_cross_entropy: gradient buffer has {} entries, logits {}",
        dz.len(),
        z.len()
    );
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum_exp: f32 = z.iter().map(|&v| crate::math::libm_exp(v - max)).sum();
    softmax(z, dz);
    dz[k] -= 1.0;
    max + libm_ln(sum_exp) - z[k]
}

/// Squared error `E = Σ (y - O)² / 2` (tutorial 002); writes `dE/dO = O - y`.
///
/// ```
/// use constnet::loss::mse;
/// let mut d = [0.0; 2];
/// assert_eq!(mse(&[1.0, 3.0], &[0.0, 1.0], &mut d), 2.5);
/// assert_eq!(d, [1.0, 2.0]);
/// ```
pub fn mse(o: &[f32], y: &[f32], d: &mut [f32]) -> f32 {
    let mut e = 0.0;
    for ((d, &o), &y) in d.iter_mut().zip(o).zip(y) {
        *d = o - y;
        e += 0.5 * (y - o) * (y - o);
    }
    e
}

/// Mean [`bce_with_logits`] over a batch of single logits; writes
/// `dL/dz / B` into `dz` (for [`BackFrom::Logits`](crate::BackFrom::Logits)).
pub fn bce_with_logits_batch<const B: usize>(
    z: &[Tensor<1, 1, 1>; B],
    y: &[f32; B],
    dz: &mut [Tensor<1, 1, 1>; B],
) -> f32 {
    let mut total = 0.0;
    for ((z, y), dz) in z.iter().zip(y).zip(dz.iter_mut()) {
        let (l, g) = bce_with_logits(z.0[0][0][0], *y);
        dz.0[0][0][0] = g / B as f32;
        total += l;
    }
    total / B as f32
}

/// Mean [`bce`] over a batch of probabilities; writes `dL/dp / B` into `dp`.
pub fn bce_batch<const B: usize>(p: &[Tensor<1, 1, 1>; B], y: &[f32; B], dp: &mut [Tensor<1, 1, 1>; B]) -> f32 {
    let mut total = 0.0;
    for ((p, y), dp) in p.iter().zip(y).zip(dp.iter_mut()) {
        let p = p.0[0][0][0];
        dp.0[0][0][0] = bce_grad(p, *y) / B as f32;
        total += bce(p, *y);
    }
    total / B as f32
}

/// Mean [`softmax_cross_entropy`] over a batch of logit vectors (each
/// sample's values, e.g. a `Tensor<N, 1, 1>`'s `N`); writes `dL/dz / B`
/// into `dz`.
///
/// # Panics
/// If a class is not below the number of a sample's values.
pub fn softmax_cross_entropy_batch<const B: usize, Z: Flat>(z: &[Z; B], classes: &[usize; B], dz: &mut [Z; B]) -> f32 {
    let mut total = 0.0;
    for ((z, &k), dz) in z.iter().zip(classes).zip(dz.iter_mut()) {
        total += softmax_cross_entropy(z.as_flat(), k, dz.as_flat_mut());
        dz.scale(1.0 / B as f32);
    }
    total / B as f32
}

/// Mean [`mse`] over a batch of single outputs; writes `dE/dO / B` into `d`.
pub fn mse_batch<const B: usize>(o: &[Tensor<1, 1, 1>; B], y: &[f32; B], d: &mut [Tensor<1, 1, 1>; B]) -> f32 {
    let mut total = 0.0;
    for ((o, y), d) in o.iter().zip(y).zip(d.iter_mut()) {
        total += mse(o.as_flat(), core::slice::from_ref(y), d.as_flat_mut());
        d.scale(1.0 / B as f32);
    }
    total / B as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_scalar;
    use crate::math::sigmoid;

    const EXTREMES: [f32; 6] = [-1e4, -30.0, -1.0, 0.5, 30.0, 1e4];

    #[test]
    fn bce_gradient_matches_finite_differences() {
        for &p in &[0.1f32, 0.3, 0.7, 0.9] {
            for &y in &[0.0, 1.0, 0.25] {
                check_scalar("dbce/dp", |v| bce(v[0], y) as f64, &[p], &[bce_grad(p, y)], 1e-2).unwrap();
            }
        }
    }

    #[test]
    fn bce_with_logits_gradient_and_value() {
        for &z in &[-5.0f32, -0.3, 0.0, 0.8, 4.0] {
            for &y in &[0.0, 1.0] {
                let (l, g) = bce_with_logits(z, y);
                check_scalar("dbce/dz", |v| bce_with_logits(v[0], y).0 as f64, &[z], &[g], 1e-2).unwrap();
                assert!((l - bce(sigmoid(z), y)).abs() < 1e-5, "fused {l} vs plain {}", bce(sigmoid(z), y));
            }
        }
    }

    /// The shared exponential gives the bits of `softplus(-|z|)` and
    /// `sigmoid(z)` computed apart, at extremes and signed zeros (and a NaN
    /// for a NaN, whose sign bit may differ).
    #[test]
    fn bce_with_logits_has_the_bits_of_softplus_and_sigmoid() {
        use crate::math::{sigmoid, softplus};
        let mut zs = std::vec![0.0f32, -0.0, 1e-30, -1e-30, 88.0, -88.0, 104.0, -104.0, 1e4, -1e4, f32::NAN];
        zs.extend((-400..=400).map(|i| i as f32 * 0.0371));
        for z in zs {
            for y in [0.0, 1.0, 0.3] {
                let (l, g) = bce_with_logits(z, y);
                let (l0, g0) = (z.max(0.0) - z * y + softplus(-z.abs()), sigmoid(z) - y);
                let bits = |v: f32| if v.is_nan() { f32::NAN.to_bits() } else { v.to_bits() };
                assert_eq!((bits(l), bits(g)), (bits(l0), bits(g0)), "z = {z}, y = {y}");
            }
        }
    }

    #[test]
    fn softmax_cross_entropy_gradient() {
        let z = [0.3f32, -1.2, 2.0, 0.1, 0.0];
        for k in 0..5 {
            let mut dz = [0.0; 5];
            softmax_cross_entropy(&z, k, &mut dz);
            check_scalar("dce/dz", |v| softmax_cross_entropy(v, k, &mut [0.0; 5]) as f64, &z, &dz, 1e-2).unwrap();
            assert!(dz.iter().sum::<f32>().abs() < 1e-6);
        }
    }

    #[test]
    fn mse_gradient() {
        let o = [0.3f32, -1.2];
        let y = [1.0f32, 0.5];
        let mut d = [0.0; 2];
        mse(&o, &y, &mut d);
        check_scalar("dmse/dO", |v| mse(v, &y, &mut [0.0; 2]) as f64, &o, &d, 1e-2).unwrap();
    }

    #[test]
    fn no_nan_or_inf_at_extreme_logits() {
        for &z in &EXTREMES {
            for &y in &[0.0, 1.0] {
                let (l, g) = bce_with_logits(z, y);
                assert!(l.is_finite() && g.is_finite(), "bce_with_logits({z}, {y}) = ({l}, {g})");
                let p = sigmoid(z);
                assert!(bce(p, y).is_finite() && bce_grad(p, y).is_finite(), "bce at p = {p}");
            }
            let logits = [z, -z, 0.0, z * 0.5];
            for k in 0..4 {
                let mut dz = [0.0; 4];
                let l = softmax_cross_entropy(&logits, k, &mut dz);
                assert!(l.is_finite() && dz.iter().all(|v| v.is_finite()), "CE({logits:?}, {k}) = {l}, {dz:?}");
            }
        }
    }

    #[test]
    fn batch_losses_are_means_and_scale_the_gradient() {
        let z = [Tensor::<1, 1, 1>::splat(0.0), Tensor::splat(2.0)];
        let mut dz = [Tensor::zeroed(); 2];
        let l = bce_with_logits_batch(&z, &[1.0, 0.0], &mut dz);
        let expect = (bce_with_logits(0.0, 1.0).0 + bce_with_logits(2.0, 0.0).0) / 2.0;
        assert!((l - expect).abs() < 1e-6);
        assert!((dz[1].0[0][0][0] - (sigmoid(2.0) / 2.0)).abs() < 1e-6);
    }
}
