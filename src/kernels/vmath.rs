//! Vector `exp`, `tanh` and the logistic sigmoid, written once over the
//! vector width ([`Simd`]): every backend runs these operations in this
//! order, so every backend gives the same bits (the conformance tests
//! hold each to the scalar form, [`Lanes<1>`](super::simd::Lanes)).
//!
//! The approximations are Cephes' single-precision ones (S. L. Moshier,
//! `expf.c` and `tanhf.c`), evaluated with separate multiplies and adds
//! (no fused multiply-add, see [`simd`](super::simd)):
//!
//! - `exp(x)`: `x` clamped to `[-104, 89]` (beyond, `e^x` rounds to 0 or
//!   overflows anyway); `n = round(x·log2 e)` by adding and subtracting
//!   `1.5·2^23`; `r = (x - n·ln2_hi) - n·ln2_lo` (Cody and Waite: `ln2_hi`
//!   has 15 significant bits, so `n·ln2_hi` and the first difference are
//!   exact), `|r| <= ln2/2`; `e^r ≈ 1 + r + r²·P(r)`, `P` of degree 5;
//!   then `· 2^(n >> 1) · 2^(n - (n >> 1))`, two exact powers of two built
//!   in the exponent field, so that results in the subnormal range are
//!   rounded once (the last multiply) and `n = 128` still overflows
//!   correctly to infinity. NaN gives NaN.
//! - `exp(x - c)` (softmax's exponentials, `c` its largest logit): the
//!   difference rounded to `f32`, then `exp`.
//! - `tanh(x)`: for `|x| < 0.625`, `x + x·z·Q(z)` with `z = x²`, `Q` of
//!   degree 4 (relative accuracy near 0; a subnormal `x` gives `x`); else
//!   `±(1 - 2/(e^{2|x|} + 1))`, which is exactly `±1` from `|x| ≈ 9.01`.
//! - `sigmoid(x)`: `e = exp(-|x|)`, then `1/(1 + e)` for `x >= 0` and
//!   `e/(1 + e)` below: no overflow at any input, `sigmoid(±1e4)` is
//!   exactly 1 and 0, `sigmoid(±0) = 0.5`, and `sigmoid(x) >= 0.5` exactly
//!   when `x >= 0`.
//!
//! The measured errors (`math::approx`'s tests, a sweep of every float):
//! see [`crate::math::approx`] and docs/design.md.

use super::MathFn;
use super::simd::{SIGN, Simd};

/// `log2(e)`.
const LOG2E: f32 = core::f32::consts::LOG2_E;
/// `1.5 · 2^23`: adding it rounds a float of magnitude below `2^22` to
/// an integer, which then sits in the low bits of the sum.
const ROUND: f32 = 12_582_912.0;
/// The high part of `ln 2`, 0.693145751953125 (0x3f317200: 15 significant bits).
const LN2_HI: f32 = 0.693_145_75;
/// `ln 2 - LN2_HI`.
const LN2_LO: f32 = 1.428_606_8e-6;
/// Where `exp`'s input is clamped: below `-104`, `e^x` rounds to 0.
const EXP_LO: f32 = -104.0;
/// Above `89`, `e^x` overflows.
const EXP_HI: f32 = 89.0;
/// Cephes `expf`'s polynomial, `P(r)` with `e^r ≈ 1 + r + r²·P(r)`, from
/// the highest degree (Cephes writes 1.9875691500E-4, 1.3981999507E-3,
/// 8.3334519073E-3, 4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1;
/// these are the same `f32`s, written shortest).
const EXP_P: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5];
/// Below this magnitude `tanh` takes its polynomial.
const TANH_SMALL: f32 = 0.625;
/// Cephes `tanhf`'s polynomial, `Q(z)` with `tanh x ≈ x + x·z·Q(z)`,
/// `z = x²`, from the highest degree (Cephes: -5.70498872745E-3,
/// 2.06390887954E-2, -5.37397155531E-2, 1.33314422036E-1,
/// -3.33332819422E-1; the same `f32`s).
const TANH_Q: [f32; 5] = [-5.704_988_7e-3, 2.063_909e-2, -5.373_971_6e-2, 1.333_144_2e-1, -3.333_328e-1];

/// `P(x)` by Horner's rule, coefficients from the highest degree.
#[inline(always)]
fn horner<S: Simd, const K: usize>(s: S, x: S::F, c: [f32; K]) -> S::F {
    let mut p = s.splat(c[0]);
    for &c in &c[1..] {
        p = s.add(s.mul(p, x), s.splat(c));
    }
    p
}

/// `e^x`, lane by lane.
#[inline(always)]
pub(crate) fn exp<S: Simd>(s: S, x: S::F) -> S::F {
    let xc = s.min(s.max(x, s.splat(EXP_LO)), s.splat(EXP_HI));
    let t = s.add(s.mul(xc, s.splat(LOG2E)), s.splat(ROUND));
    let n = s.sub(t, s.splat(ROUND));
    let r = s.sub(s.sub(xc, s.mul(n, s.splat(LN2_HI))), s.mul(n, s.splat(LN2_LO)));
    let p = s.add(s.add(s.mul(horner(s, r, EXP_P), s.mul(r, r)), r), s.splat(1.0));
    // n as an integer: t and ROUND lie in one binade, ulp 1.
    let ni = s.sub_i(s.bits(t), s.bits(s.splat(ROUND)));
    let n1 = s.sra1_i(ni);
    let n2 = s.sub_i(ni, n1);
    let bias = s.splat_i(127);
    let two_n1 = s.float(s.shl23_i(s.add_i(n1, bias)));
    let two_n2 = s.float(s.shl23_i(s.add_i(n2, bias)));
    let y = s.mul(s.mul(p, two_n1), two_n2);
    s.select(s.is_nan(x), s.add(x, x), y)
}

/// `tanh(x)`, lane by lane: computed on `|x|`, the sign of `x` set last
/// (so `tanh(-0) = -0`; rounding is symmetric, so nothing else changes).
#[inline(always)]
pub(crate) fn tanh<S: Simd>(s: S, x: S::F) -> S::F {
    let sign = s.and(x, s.splat(f32::from_bits(SIGN)));
    let ax = s.xor(x, sign);
    // Small |x|: |x| + |x|·z·Q(z).
    let z = s.mul(ax, ax);
    let small = s.add(s.mul(s.mul(horner(s, z, TANH_Q), z), ax), ax);
    // Large |x|: 1 - 2/(e^{2|x|} + 1).
    let e = exp(s, s.add(ax, ax));
    let one = s.splat(1.0);
    let large = s.sub(one, s.div(s.splat(2.0), s.add(e, one)));
    s.xor(s.select(s.lt(ax, s.splat(TANH_SMALL)), small, large), sign)
}

/// `1 / (1 + e^-x)`, lane by lane, without overflow.
#[inline(always)]
pub(crate) fn sigmoid<S: Simd>(s: S, x: S::F) -> S::F {
    let sign = s.splat(f32::from_bits(SIGN));
    let minus_ax = s.xor(s.and(x, s.splat(f32::from_bits(!SIGN))), sign);
    let e = exp(s, minus_ax);
    let one = s.splat(1.0);
    let num = s.select(s.ge(x, s.splat(0.0)), one, e);
    s.div(num, s.add(one, e))
}

/// A function of a vector, as a type: [`map_with`] takes it as a type
/// parameter (a value of it, which may carry constants, as
/// [`act::Act`](super::act::Act) does) rather than a closure, because a closure defined here (in a
/// function without `#[target_feature]`) is compiled without the
/// backend's features and was not inlined: every intrinsic in it became
/// a call.
pub(crate) trait VecFn {
    /// The function of one vector.
    fn apply<S: Simd>(&self, s: S, x: S::F) -> S::F;
}

struct Exp;
struct ExpSub(f32);
struct Tanh;
struct Sigmoid;

impl VecFn for Exp {
    #[inline(always)]
    fn apply<S: Simd>(&self, s: S, x: S::F) -> S::F {
        exp(s, x)
    }
}

impl VecFn for ExpSub {
    #[inline(always)]
    fn apply<S: Simd>(&self, s: S, x: S::F) -> S::F {
        exp(s, s.sub(x, s.splat(self.0)))
    }
}

impl VecFn for Tanh {
    #[inline(always)]
    fn apply<S: Simd>(&self, s: S, x: S::F) -> S::F {
        tanh(s, x)
    }
}

impl VecFn for Sigmoid {
    #[inline(always)]
    fn apply<S: Simd>(&self, s: S, x: S::F) -> S::F {
        sigmoid(s, x)
    }
}

/// `y[i] = F(x[i])` over `x.len()` floats (`y` as long), a vector at a
/// time, then the tail in one vector.
#[inline(always)]
pub(crate) fn map_with<S: Simd, F: VecFn>(s: S, f: &F, x: &[f32], y: &mut [f32]) {
    let y = &mut y[..x.len()];
    let mut xc = x.chunks_exact(S::LANES);
    let mut yc = y.chunks_exact_mut(S::LANES);
    for (x, y) in (&mut xc).zip(&mut yc) {
        s.store(y, f.apply(s, s.load(x)));
    }
    let (xt, yt) = (xc.remainder(), yc.into_remainder());
    if !xt.is_empty() {
        s.store_tail(yt, f.apply(s, s.load_tail(xt)));
    }
}

/// `y[i] = f(x[i])` for the function `f` names, over `x.len()` floats.
///
/// # Panics
/// If `y` is shorter than `x`.
#[inline(always)]
pub(crate) fn map<S: Simd>(s: S, f: MathFn, x: &[f32], y: &mut [f32]) {
    match f {
        MathFn::Exp => map_with(s, &Exp, x, y),
        MathFn::ExpSub(c) => map_with(s, &ExpSub(c), x, y),
        MathFn::Tanh => map_with(s, &Tanh, x, y),
        MathFn::Sigmoid => map_with(s, &Sigmoid, x, y),
    }
}

/// `f(x)` for one float: the scalar form, [`Lanes<1>`](super::simd::Lanes).
#[inline]
pub(crate) fn scalar(f: MathFn, x: f32) -> f32 {
    let s = super::simd::Lanes::<1>;
    let v = [x];
    match f {
        MathFn::Exp => exp(s, v)[0],
        MathFn::ExpSub(c) => ExpSub(c).apply(s, v)[0],
        MathFn::Tanh => tanh(s, v)[0],
        MathFn::Sigmoid => sigmoid(s, v)[0],
    }
}
