//! Finite-difference gradient checks (std feature): the test every layer's
//! and loss's backward pass must pass, public so a user's own layer can be
//! checked the same way.
//!
//! For a layer `y = f(x; θ)` and a fixed random upstream gradient `g`, the
//! scalar `L = Σ g ⊙ y` has `dL/dx = backward(dy = g)`. Each analytic
//! derivative is compared with the central difference
//! `(L(v + ε) - L(v - ε)) / 2ε`, accumulated in `f64`.

use crate::{Flat, Grad, Layer, Mode, Tensor};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::boxed::Box;
use std::format;
use std::string::String;
use std::vec::Vec;

/// Central-difference step.
pub const EPS: f32 = 1e-2;
/// Absolute tolerance on a derivative.
pub const ATOL: f64 = 2e-3;
/// Relative tolerance on a derivative.
pub const RTOL: f64 = 1e-2;

/// Compares an analytic derivative with a numeric one; the error message
/// names both values, the difference and the tolerance.
pub fn compare(what: &str, analytic: f64, numeric: f64) -> Result<(), String> {
    let diff = (analytic - numeric).abs();
    let tol = ATOL + RTOL * analytic.abs().max(numeric.abs());
    if diff <= tol && diff.is_finite() {
        Ok(())
    } else {
        Err(format!("{what}: analytic {analytic:.6} vs numeric {numeric:.6}, |diff| {diff:.2e} > tolerance {tol:.2e}"))
    }
}

/// Uniform values in `±[0.1, 1]`, away from the kinks of ReLU and max-pool
/// ties at zero.
fn fill_away_from_zero(v: &mut [f32], rng: &mut SmallRng) {
    for x in v {
        let m: f32 = rng.random_range(0.1..1.0);
        *x = if rng.random::<bool>() { m } else { -m };
    }
}

/// Distinct values spaced by `3ε` (at least `2/len`), none within `1.5ε` of
/// zero, in random order: no finite-difference step crosses a ReLU kink or
/// changes which input of a max-pool window is the largest.
fn fill_distinct(v: &mut [f32], rng: &mut SmallRng) {
    let spacing = (3.0 * EPS).max(2.0 / v.len() as f32);
    let n = v.len();
    for (k, x) in v.iter_mut().enumerate() {
        *x = (k as f32 + 0.5 - (n / 2) as f32) * spacing; // half-integers: never 0
    }
    for i in (1..n).rev() {
        v.swap(i, rng.random_range(0..=i));
    }
}

/// Checks `L::backward` against finite differences, for a layer with random
/// parameters and a random batch of `B` inputs (seeded by `seed`), for both
/// the input gradient and every parameter gradient.
///
/// ```
/// use constnet::gradcheck::check_layer;
/// check_layer::<constnet::Conv2d<2, 3, 3, 1, 1>, 2, 2, 5, 5, 3, 5, 5>(7).unwrap();
/// ```
///
/// # Errors
/// The first derivative that disagrees, with both values.
pub fn check_layer<
    L,
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const OC: usize,
    const OH: usize,
    const OW: usize,
>(
    seed: u64,
) -> Result<(), String>
where
    L: Layer<C, H, W>,
{
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut layer = L::boxed_zeroed();
    fill_away_from_zero(layer.as_flat_mut(), &mut rng);
    let mut x = <[Tensor<C, H, W>; B]>::boxed_zeroed();
    fill_distinct(x.as_flat_mut(), &mut rng);
    check_from::<L, B, C, H, W, OC, OH, OW>(layer, x, seed, rng)
}

/// [`check_layer`] at the parameters and inputs given (the upstream
/// gradient and any dropout mask drawn from `seed`): for a layer with a
/// kink (a ReLU, a max-pool), whose finite differences are not its
/// derivative where an output lies within [`EPS`] of the kink, at a point
/// the caller has chosen clear of them.
///
/// # Errors
/// As [`check_layer`].
pub fn check_layer_at<
    L,
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const OC: usize,
    const OH: usize,
    const OW: usize,
>(
    layer: &L,
    x: &[Tensor<C, H, W>; B],
    seed: u64,
) -> Result<(), String>
where
    L: Layer<C, H, W>,
{
    let (mut l, mut xs) = (L::boxed_zeroed(), <[Tensor<C, H, W>; B]>::boxed_zeroed());
    l.as_flat_mut().copy_from_slice(layer.as_flat());
    xs.as_flat_mut().copy_from_slice(x.as_flat());
    check_from::<L, B, C, H, W, OC, OH, OW>(l, xs, seed, SmallRng::seed_from_u64(seed))
}

/// The check at `layer` and `x`, the upstream gradient drawn from `rng`.
fn check_from<
    L,
    const B: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const OC: usize,
    const OH: usize,
    const OW: usize,
>(
    mut layer: Box<L>,
    mut x: Box<[Tensor<C, H, W>; B]>,
    seed: u64,
    mut rng: SmallRng,
) -> Result<(), String>
where
    L: Layer<C, H, W>,
{
    let mut g = <[Tensor<OC, OH, OW>; B]>::boxed_zeroed();
    fill_away_from_zero(g.as_flat_mut(), &mut rng);

    // L(x, θ) = Σ g ⊙ f(x; θ), with the same dropout mask on every call.
    let loss = |layer: &L, x: &[Tensor<C, H, W>; B]| -> f64 {
        let mut y = <[Tensor<OC, OH, OW>; B]>::boxed_zeroed();
        let mut cache = L::Cache::<B>::boxed_zeroed();
        let mut mask_rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
        layer.forward(x, &mut y, &mut cache, &mut Mode::Train(&mut mask_rng));
        y.as_flat().iter().zip(g.as_flat()).map(|(&a, &b)| a as f64 * b as f64).sum()
    };

    let mut y = <[Tensor<OC, OH, OW>; B]>::boxed_zeroed();
    let mut cache = L::Cache::<B>::boxed_zeroed();
    let mut mask_rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    layer.forward(&x, &mut y, &mut cache, &mut Mode::Train(&mut mask_rng));
    let mut grads = L::boxed_zeroed();
    let mut dx = <[Tensor<C, H, W>; B]>::boxed_zeroed();
    dx.as_flat_mut().fill(f32::NAN); // backward must overwrite every element
    layer.backward(&x, &y, &mut cache, &g, Some(&mut dx), &mut grads, Grad::Add);

    for i in 0..x.as_flat().len() {
        let orig = x.as_flat()[i];
        x.as_flat_mut()[i] = orig + EPS;
        let up = loss(&layer, &x);
        x.as_flat_mut()[i] = orig - EPS;
        let down = loss(&layer, &x);
        x.as_flat_mut()[i] = orig;
        compare(&format!("dL/dx[{i}]"), dx.as_flat()[i] as f64, (up - down) / (2.0 * EPS as f64))?;
    }
    for i in 0..layer.as_flat().len() {
        let orig = layer.as_flat()[i];
        layer.as_flat_mut()[i] = orig + EPS;
        let up = loss(&layer, &x);
        layer.as_flat_mut()[i] = orig - EPS;
        let down = loss(&layer, &x);
        layer.as_flat_mut()[i] = orig;
        compare(&format!("dL/dθ[{i}]"), grads.as_flat()[i] as f64, (up - down) / (2.0 * EPS as f64))?;
    }

    // Grad::Add adds into the parameter gradients: a second call from the
    // same cache doubles them.
    let first: Vec<f32> = grads.as_flat().to_vec();
    layer.backward(&x, &y, &mut cache, &g, None, &mut grads, Grad::Add);
    for (i, (a, b)) in first.iter().zip(grads.as_flat()).enumerate() {
        compare(&format!("accumulated dL/dθ[{i}]"), 2.0 * *a as f64, *b as f64)?;
    }
    // Grad::Overwrite reads nothing of the old gradients (NaN here).
    grads.as_flat_mut().fill(f32::NAN);
    layer.backward(&x, &y, &mut cache, &g, None, &mut grads, Grad::Overwrite);
    for (i, (a, b)) in first.iter().zip(grads.as_flat()).enumerate() {
        compare(&format!("overwritten dL/dθ[{i}]"), *a as f64, *b as f64)?;
    }
    Ok(())
}

/// Checks the gradient `grad` of a scalar function `f` at `x` by central
/// differences with step `eps` (for losses and whole networks: a small step
/// keeps a network's ReLUs and max-pools on the same side of their kinks).
///
/// # Errors
/// The first derivative that disagrees, with both values.
pub fn check_scalar(what: &str, f: impl Fn(&[f32]) -> f64, x: &[f32], grad: &[f32], eps: f32) -> Result<(), String> {
    let mut x: Box<[f32]> = x.into();
    for i in 0..x.len() {
        let orig = x[i];
        x[i] = orig + eps;
        let up = f(&x);
        x[i] = orig - eps;
        let down = f(&x);
        x[i] = orig;
        compare(&format!("{what}[{i}]"), grad[i] as f64, (up - down) / (2.0 * eps as f64))?;
    }
    Ok(())
}
