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

use crate::layers::softmax::softmax_sum;
use crate::math::{approx, libm_ln, libm_log1p};
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
/// `e^-|z|` by the vector `exp` of [`approx`] (within 1 ulp of
/// `libm::expf`, the same bits on every backend), serves both: the
/// gradient is [`approx::sigmoid`]`(z) - y` bit for bit; the `ln(1 + e)`
/// is `libm`'s `log1pf`.
///
/// Special values: `z = ±∞` gives the sigmoid's limits in the gradient,
/// `1 - y` and `-y`, and a loss that is not a number to train on: NaN
/// where `z·y` is `∞·0` or `∞ - ∞`, else `+∞` (`z = -∞`, `y > 0`). A NaN
/// `z` gives NaN for both.
///
/// PyTorch: `nn.BCEWithLogitsLoss`.
///
/// ```
/// use constnet::loss::bce_with_logits;
/// let (l, g) = bce_with_logits(1e4, 0.0);
/// assert_eq!((l, g), (1e4, 1.0));
/// let (l, g) = bce_with_logits(-1e4, 0.0);
/// assert_eq!((l, g), (0.0, 0.0));
/// ```
pub fn bce_with_logits(z: f32, y: f32) -> (f32, f32) {
    bce_with_logits_from(z, y, approx::exp(-z.abs()))
}

/// [`bce_with_logits`] given `e = e^-|z|` (computed a vector at a time by
/// [`bce_with_logits_batch`]).
#[inline]
fn bce_with_logits_from(z: f32, y: f32, e: f32) -> (f32, f32) {
    let s = if z >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
    (z.max(0.0) - z * y + libm_log1p(e), s - y)
}

/// Softmax cross-entropy on logits `z` for class `k`: writes
/// `softmax(z) - onehot(k)` into `dz` and returns `logsumexp(z) - z_k`,
/// computed with the maximum subtracted so no logit overflows it. The
/// exponentials are [`softmax`](crate::layers::softmax::softmax)'s (the
/// vector `exp`, the same bits on every backend), so `dz + onehot(k)` is
/// the `Softmax` layer's output bit for bit; the logarithm of their sum
/// is `libm`'s `logf`.
///
/// Special values: a `-∞` logit has probability 0 (the loss is `+∞` if
/// it is class `k`'s); a `+∞` or NaN logit gives NaN everywhere.
///
/// PyTorch: `nn.CrossEntropyLoss` on one sample.
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
    let (max, sum_exp) = softmax_sum(z, dz);
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
/// The batch's `e^-|z|` run a vector at a time
/// ([`approx::exp_slice`]): each sample's bits are [`bce_with_logits`]'s.
pub fn bce_with_logits_batch<const B: usize>(
    z: &[Tensor<1, 1, 1>; B],
    y: &[f32; B],
    dz: &mut [Tensor<1, 1, 1>; B],
) -> f32 {
    let minus_abs: [f32; B] = core::array::from_fn(|i| -z[i].0[0][0][0].abs());
    let mut e = [0.0f32; B];
    approx::exp_slice(&minus_abs, &mut e);
    let mut total = 0.0;
    for (((z, y), dz), e) in z.iter().zip(y).zip(dz.iter_mut()).zip(e) {
        let (l, g) = bce_with_logits_from(z.0[0][0][0], *y, e);
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

    /// The shared exponential gives the bits of `ln(1 + e^-|z|)` and
    /// [`approx::sigmoid`]`(z)` computed apart, at extremes and signed
    /// zeros (and a NaN for a NaN, whose sign bit may differ); the batch
    /// gives each sample's bits.
    #[test]
    fn bce_with_logits_has_the_bits_of_the_vector_sigmoid() {
        let mut zs = std::vec![0.0f32, -0.0, 1e-30, -1e-30, 88.0, -88.0, 104.0, -104.0, 1e4, -1e4, f32::NAN];
        zs.extend((-400..=400).map(|i| i as f32 * 0.0371));
        let bits = |v: f32| if v.is_nan() { f32::NAN.to_bits() } else { v.to_bits() };
        for &z in &zs {
            for y in [0.0, 1.0, 0.3] {
                let (l, g) = bce_with_logits(z, y);
                let softplus = libm_log1p(approx::exp(-z.abs()));
                let (l0, g0) = (z.max(0.0) - z * y + softplus, approx::sigmoid(z) - y);
                assert_eq!((bits(l), bits(g)), (bits(l0), bits(g0)), "z = {z}, y = {y}");
            }
        }
        // 7 samples: a vector and a tail on every backend.
        for chunk in zs.chunks_exact(7) {
            let z: [Tensor<1, 1, 1>; 7] = core::array::from_fn(|i| Tensor::splat(chunk[i]));
            let y: [f32; 7] = core::array::from_fn(|i| [0.0, 1.0, 0.3][i % 3]);
            let mut dz = [Tensor::zeroed(); 7];
            let mean = bce_with_logits_batch(&z, &y, &mut dz);
            let mut total = 0.0;
            for i in 0..7 {
                let (l, g) = bce_with_logits(chunk[i], y[i]);
                total += l;
                assert_eq!(bits(dz[i].0[0][0][0]), bits(g / 7.0), "z = {}", chunk[i]);
            }
            assert_eq!(bits(mean), bits(total / 7.0));
        }
    }

    /// The loss follows `libm`'s form (`math::sigmoid` and `math::softplus`
    /// on `libm::expf`) within a few ulps: the vector `exp` is within 1 ulp
    /// of `libm::expf`.
    #[test]
    fn bce_with_logits_is_within_ulps_of_the_libm_form() {
        use crate::math::{sigmoid, softplus};
        for i in -2000..=2000 {
            let z = i as f32 * 0.0173;
            for y in [0.0, 1.0, 0.3] {
                let (l, g) = bce_with_logits(z, y);
                let (l0, g0) = (z.max(0.0) - z * y + softplus(-z.abs()), sigmoid(z) - y);
                let tol = |v: f32| 4.0 * f32::EPSILON * v.abs().max(f32::MIN_POSITIVE);
                let (tl, tg) = (tol(l0), tol(1.0));
                assert!((l - l0).abs() <= tl, "z = {z}, y = {y}: loss {l} vs libm {l0}, diff {:e} > {tl:e}", l - l0);
                assert!((g - g0).abs() <= tg, "z = {z}, y = {y}: grad {g} vs libm {g0}, diff {:e} > {tg:e}", g - g0);
            }
        }
    }

    /// Infinite and NaN logits: the gradients are the sigmoid's limits,
    /// the losses as documented.
    #[test]
    fn bce_with_logits_special_values() {
        let inf = f32::INFINITY;
        for y in [0.0f32, 1.0, 0.3] {
            let (l, g) = bce_with_logits(inf, y);
            assert!(l.is_nan() && g == 1.0 - y, "z = inf, y = {y}: ({l}, {g})");
            let (l, g) = bce_with_logits(-inf, y);
            assert_eq!(g, -y, "z = -inf, y = {y}");
            assert!(if y > 0.0 { l == inf } else { l.is_nan() }, "z = -inf, y = {y}: loss {l}");
            let (l, g) = bce_with_logits(f32::NAN, y);
            assert!(l.is_nan() && g.is_nan());
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

    /// Softmax cross-entropy's gradient is the `Softmax` layer's output
    /// minus the one-hot, bit for bit, and its loss is within a few ulps
    /// of `libm`'s form; at several lengths (vectors and tails).
    #[test]
    fn softmax_cross_entropy_is_the_softmax_and_near_libm() {
        use crate::layers::softmax::softmax;
        for n in [1usize, 2, 3, 4, 5, 9, 10, 17, 33] {
            let z: std::vec::Vec<f32> = (0..n).map(|i| ((i * 37 % 11) as f32 - 5.0) * 1.7).collect();
            let (mut dz, mut p) = (std::vec![0.0; n], std::vec![0.0; n]);
            softmax(&z, &mut p);
            for k in 0..n {
                let l = softmax_cross_entropy(&z, k, &mut dz);
                for i in 0..n {
                    let want = if i == k { p[i] - 1.0 } else { p[i] };
                    assert_eq!(dz[i].to_bits(), want.to_bits(), "n = {n}, k = {k}, i = {i}");
                }
                let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let s: f64 = z.iter().map(|&v| crate::math::libm_exp(v - max) as f64).sum();
                let l0 = max as f64 + s.ln() - z[k] as f64;
                let tol = 1e-5 * (1.0 + l0.abs());
                assert!(
                    (l as f64 - l0).abs() <= tol,
                    "n = {n}, k = {k}: {l} vs libm {l0}, diff {:e} > {tol:e}",
                    l as f64 - l0
                );
            }
        }
    }

    /// A `-∞` logit has probability 0 (and an infinite loss as the target);
    /// a `+∞` or NaN logit gives NaN everywhere.
    #[test]
    fn softmax_cross_entropy_special_values() {
        let inf = f32::INFINITY;
        let mut dz = [0.0; 3];
        let l = softmax_cross_entropy(&[0.0, -inf, 0.0], 0, &mut dz);
        assert_eq!((l, dz), (libm_ln(2.0), [-0.5, 0.0, 0.5]));
        let l = softmax_cross_entropy(&[0.0, -inf, 0.0], 1, &mut dz);
        assert_eq!((l, dz), (inf, [0.5, -1.0, 0.5]));
        for bad in [inf, f32::NAN] {
            let l = softmax_cross_entropy(&[0.0, bad, 1.0], 0, &mut dz);
            assert!(l.is_nan() && dz.iter().all(|v| v.is_nan()), "{bad}: {l}, {dz:?}");
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
