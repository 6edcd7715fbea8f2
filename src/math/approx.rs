//! `exp`, `tanh` and the logistic sigmoid as vector kernels: polynomial
//! approximations (Cephes' `expf` and `tanhf`, see docs/design.md §14)
//! that every backend evaluates with the same operations, so every
//! backend, and the scalar functions here, give the same bits.
//! [`Tanh`](crate::Tanh) and [`Sigmoid`](crate::Sigmoid) run them, and
//! [`Softmax`](crate::Softmax) and the losses on logits
//! ([`loss::bce_with_logits`](crate::loss::bce_with_logits),
//! [`loss::softmax_cross_entropy`](crate::loss::softmax_cross_entropy))
//! their exponentials.
//!
//! Maximum error over every `f32` (a sweep of all 2^32 bit patterns,
//! `cargo test --release --lib -- --ignored every_float`, 23 minutes on
//! one core), in units in the last place of the exact result (`libm`'s
//! `f64` functions), and in whole ulps from the `libm` function
//! (`libm::expf`, `libm::tanhf`, and [`math::sigmoid`](super::sigmoid) on
//! `libm::expf`):
//!
//! | function | vs exact | vs `libm` |
//! |---|---|---|
//! | [`exp`] | 0.99 ulp (at 59.280243) | 1 ulp |
//! | [`tanh`] | 1.34 ulp (at 0.62830955) | 2 ulp |
//! | [`sigmoid`] | 2.41 ulp (at -4.157294) | 2 ulp |
//!
//! Special values are exact: ±0, ±∞ and NaN give what `libm` gives (NaN
//! for NaN, `exp(-∞) = 0`, `exp(∞) = ∞`, `tanh(±∞) = ±1`, `tanh(±0) = ±0`,
//! `sigmoid(±∞) = 1, 0`); `exp` overflows to ∞ exactly where the
//! correctly rounded `e^x` does (the sweep counts an infinity against a
//! finite value as an infinite error), and its last nonzero results and
//! first zeros near `x = -103.97` are `libm::expf`'s (tested at those
//! floats); a subnormal `x` gives `tanh(x) = x`.
//!
//! ```
//! use constnet::math::approx;
//! assert_eq!(approx::exp(0.0), 1.0);
//! assert_eq!((approx::tanh(-1e4), approx::sigmoid(1e4), approx::sigmoid(-1e4)), (-1.0, 1.0, 0.0));
//! let x = [0.5f32, -2.0, 30.0];
//! let mut y = [0.0; 3];
//! approx::tanh_slice(&x, &mut y);
//! assert_eq!(y, x.map(approx::tanh));
//! assert!((y[0] - 0.5f32.tanh()).abs() <= 2.0 * f32::EPSILON * 0.5);
//! ```

use crate::kernels::{self, MathFn};

/// `e^x`, within 0.99 ulp of the exact value (the module's table).
#[inline]
pub fn exp(x: f32) -> f32 {
    kernels::vmath::scalar(MathFn::Exp, x)
}

/// `tanh(x)`, within 1.34 ulp of the exact value (the module's table).
#[inline]
pub fn tanh(x: f32) -> f32 {
    kernels::vmath::scalar(MathFn::Tanh, x)
}

/// The logistic sigmoid `1 / (1 + e^-x)`, without overflow at any input,
/// within 2.41 ulp of the exact value (the module's table):
/// `e = exp(-|x|)`, then `1/(1 + e)` for `x >= 0`, `e/(1 + e)` below.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    kernels::vmath::scalar(MathFn::Sigmoid, x)
}

/// `y[i] = exp(x[i])` over `x.len()` floats, on the active backend's
/// vectors (the bits of [`exp`]).
///
/// # Panics
/// If `y` is shorter than `x`.
#[inline]
pub fn exp_slice(x: &[f32], y: &mut [f32]) {
    kernels::active().math_map(MathFn::Exp, x, y);
}

/// `y[i] = tanh(x[i])` over `x.len()` floats, on the active backend's
/// vectors (the bits of [`tanh`]).
///
/// # Panics
/// If `y` is shorter than `x`.
#[inline]
pub fn tanh_slice(x: &[f32], y: &mut [f32]) {
    kernels::active().math_map(MathFn::Tanh, x, y);
}

/// `y[i] = sigmoid(x[i])` over `x.len()` floats, on the active backend's
/// vectors (the bits of [`sigmoid`]).
///
/// # Panics
/// If `y` is shorter than `x`.
#[inline]
pub fn sigmoid_slice(x: &[f32], y: &mut [f32]) {
    kernels::active().math_map(MathFn::Sigmoid, x, y);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// The largest error in each of the module table's two columns, and
    /// where it occurs.
    #[derive(Clone, Copy, Debug, Default)]
    struct Worst {
        /// Ulps of the exact value (real-valued), and the input.
        exact: (f64, f32),
        /// Ulps from `libm` (whole ulps), and the input.
        libm: (u64, f32),
    }

    /// The exact value of `f` (`libm`'s `f64` functions: their error, under
    /// one `f64` ulp, is 2^-29 `f32` ulps) and `libm`'s `f32` result.
    fn reference(f: MathFn, x: f32) -> (f64, f32) {
        let x64 = x as f64;
        match f {
            MathFn::Exp => (libm::exp(x64), libm::expf(x)),
            // The difference is rounded first: its exponential is `exp`'s.
            MathFn::ExpSub(c) => reference(MathFn::Exp, x - c),
            MathFn::Tanh => (libm::tanh(x64), libm::tanhf(x)),
            MathFn::Sigmoid => {
                let exact = if x64 >= 0.0 {
                    1.0 / (1.0 + libm::exp(-x64))
                } else {
                    let e = libm::exp(x64);
                    e / (1.0 + e)
                };
                (exact, crate::math::sigmoid(x))
            }
        }
    }

    /// `|got - exact|` in units of the last place of an `f32` at `exact`
    /// (`2^(e - 23)` for `2^e <= |exact| < 2^(e+1)`, `2^-149` for the
    /// subnormals); infinite if only one is infinite or NaN.
    fn ulps_of_exact(got: f32, exact: f64) -> f64 {
        let rounded = exact as f32;
        if got.is_nan() || rounded.is_nan() || got.is_infinite() || rounded.is_infinite() {
            let same = (got.is_nan() && rounded.is_nan()) || got == rounded;
            return if same { 0.0 } else { f64::INFINITY };
        }
        let e = (((exact.abs().to_bits() >> 52) & 0x7ff) as i32 - 1023).max(-126);
        (got as f64 - exact).abs() / libm::exp2((e - 23) as f64)
    }

    /// Whole ulps between two floats (`u64::MAX` if only one is NaN; ±0 are one).
    fn ulps_apart(a: f32, b: f32) -> u64 {
        if a.is_nan() || b.is_nan() {
            return if a.is_nan() && b.is_nan() { 0 } else { u64::MAX };
        }
        let key = |x: f32| {
            let i = x.to_bits() as i32;
            if i < 0 { -((i & 0x7fff_ffff) as i64) } else { i as i64 }
        };
        key(a).abs_diff(key(b))
    }

    /// The errors of `f` (run through the active backend's vectors) over `xs`.
    fn measure(f: MathFn, xs: &[f32], worst: &mut Worst) {
        let mut y = std::vec![0.0; xs.len()];
        crate::kernels::active().math_map(f, xs, &mut y);
        for (&x, &got) in xs.iter().zip(&y) {
            let (exact, libm) = reference(f, x);
            let e = ulps_of_exact(got, exact);
            if e > worst.exact.0 {
                worst.exact = (e, x);
            }
            let d = ulps_apart(got, libm);
            if d > worst.libm.0 {
                worst.libm = (d, x);
            }
        }
    }

    /// The bounds the module's table states: ulps of the exact value, ulps from `libm`.
    fn bound(f: MathFn) -> (f64, u64) {
        match f {
            MathFn::Exp | MathFn::ExpSub(_) => (0.99, 1),
            MathFn::Tanh => (1.34, 2),
            MathFn::Sigmoid => (2.41, 2),
        }
    }

    const FNS: [MathFn; 3] = [MathFn::Exp, MathFn::Tanh, MathFn::Sigmoid];

    /// Where the approximations change regime or saturate: `exp`'s
    /// overflow (88.72) and underflow to subnormals (-87.34) and to 0
    /// (-103.97), `tanh`'s switch to the exponential form (0.625) and its
    /// saturation (9.01), the sigmoid's subnormal outputs, around 0.
    const EDGES: [f32; 8] = [88.72284, -87.33655, -103.97208, 0.625, 9.010913, -88.0, 1e-3, 16.63];

    /// `2 * half` consecutive floats around `x` and around `-x`.
    fn around(x: f32, half: u32, out: &mut Vec<f32>) {
        for x in [x, -x] {
            let b = x.to_bits();
            out.extend((b - half..b + half).map(f32::from_bits));
        }
    }

    /// A sweep through every float (every 9973rd bit pattern, so every
    /// exponent and both signs), and every float within 2^14 of the edges:
    /// the errors stay within the module table's bounds.
    #[test]
    fn errors_within_the_stated_bounds_on_a_dense_sweep() {
        let mut xs: Vec<f32> = (0..=u32::MAX).step_by(9973).map(f32::from_bits).collect();
        for e in EDGES {
            around(e, 1 << 14, &mut xs);
        }
        for f in FNS {
            let mut worst = Worst::default();
            measure(f, &xs, &mut worst);
            let (exact, libm) = bound(f);
            std::eprintln!("{f:?}: {worst:?}");
            assert!(
                worst.exact.0 <= exact,
                "{f:?}: {:.3} ulps of the exact value at {:e} > {exact}",
                worst.exact.0,
                worst.exact.1
            );
            assert!(worst.libm.0 <= libm, "{f:?}: {} ulps from libm at {:e} > {libm}", worst.libm.0, worst.libm.1);
        }
    }

    /// Every one of the 2^32 floats (23 minutes in release on one core of
    /// a shared Zen 5): the measurement behind the module's table, printed.
    #[test]
    #[ignore = "minutes: cargo test --release --lib -- --ignored every_float"]
    fn every_float_within_the_stated_bounds() {
        let mut over = Vec::new();
        for f in FNS {
            let mut worst = Worst::default();
            let mut xs = std::vec![0.0f32; 1 << 16];
            for hi in 0..1u32 << 16 {
                for (lo, x) in xs.iter_mut().enumerate() {
                    *x = f32::from_bits(hi << 16 | lo as u32);
                }
                measure(f, &xs, &mut worst);
            }
            std::eprintln!("every float, {f:?}: {worst:?}");
            let (exact, libm) = bound(f);
            if !(worst.exact.0 <= exact && worst.libm.0 <= libm) {
                over.push((f, worst));
            }
        }
        assert!(over.is_empty(), "beyond the stated bounds: {over:?}");
    }

    /// ±0, ±∞, NaN, subnormals, the largest floats and the saturations.
    #[test]
    fn special_values() {
        let (inf, nan) = (f32::INFINITY, f32::NAN);
        let tiny = f32::from_bits(1);
        for x in [0.0f32, -0.0] {
            assert_eq!(exp(x), 1.0);
            assert_eq!(tanh(x).to_bits(), x.to_bits(), "tanh keeps the zero's sign");
            assert_eq!(sigmoid(x), 0.5);
        }
        assert_eq!((exp(inf), exp(-inf), exp(f32::MAX), exp(f32::MIN)), (inf, 0.0, inf, 0.0));
        assert_eq!((tanh(inf), tanh(-inf), tanh(f32::MAX), tanh(f32::MIN)), (1.0, -1.0, 1.0, -1.0));
        assert_eq!((sigmoid(inf), sigmoid(-inf), sigmoid(1e4), sigmoid(-1e4)), (1.0, 0.0, 1.0, 0.0));
        assert!(exp(nan).is_nan() && tanh(nan).is_nan() && sigmoid(nan).is_nan());
        assert!(exp(-nan).is_nan() && tanh(-nan).is_nan() && sigmoid(-nan).is_nan());
        // Subnormals: tanh(x) = x; e^x = 1; sigmoid(x) = 1/2.
        for x in [tiny, -tiny, f32::MIN_POSITIVE / 3.0, -f32::MIN_POSITIVE / 3.0] {
            assert_eq!(tanh(x), x);
            assert_eq!(exp(x), 1.0);
            assert_eq!(sigmoid(x), 0.5);
        }
        // The overflow and underflow boundaries of libm::expf, and its
        // subnormal results.
        for x in [
            88.72283f32,
            88.72284,
            88.7229,
            -87.33654,
            -87.3366,
            -103.0,
            -103.97207,
            -103.97208,
            -103.97209,
            -104.0,
            -110.0,
        ] {
            let (got, want) = (exp(x), libm::expf(x));
            assert!(ulps_apart(got, want) <= 1, "exp({x:e}) = {got:e}, libm {want:e}");
            assert_eq!((got.is_infinite(), got == 0.0), (want.is_infinite(), want == 0.0), "exp({x:e})");
        }
        // The sigmoid's output is at least 1/2 exactly where its input is not negative.
        for x in [1e-30f32, 1e-8, 6e-8, 1e-3, 0.5] {
            assert!(sigmoid(x) >= 0.5 && sigmoid(-x) < 0.5 || sigmoid(-x) == 0.5, "sigmoid(±{x:e})");
            assert!(sigmoid(-x) <= 0.5);
        }
        assert_eq!((sigmoid(-88.0) > 0.0, sigmoid(-104.0)), (true, 0.0));
    }
}
