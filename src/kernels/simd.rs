//! The crate's own SIMD vocabulary: a trait over the vector width, so a
//! kernel ([`vmath`](super::vmath)) is written once and runs on every
//! backend with the same operations in the same order.
//!
//! A backend is a zero-sized token that implements [`Simd`]: the portable
//! [`Lanes<N>`] here (`[f32; N]` operated lane by lane, which the compiler
//! vectorises; `Lanes<1>` is the scalar form), `avx512::simd::Avx512`
//! (16 lanes) and `avx2::simd::Avx2` (8 lanes). A token of an ISA's
//! backend exists only where the CPU runs that ISA (its constructor is
//! `unsafe`), so the trait's methods are safe.
//!
//! Every operation is one IEEE-754 operation per lane, correctly rounded
//! (add, sub, mul, div), exact (bit operations, integer operations,
//! compares, selects), or defined by its rule on every backend
//! ([`min`](Simd::min)/[`max`](Simd::max): x86's `minps`/`maxps`). There
//! is no fused multiply-add: the portable backend has none in `no_std`
//! (`f32::mul_add` is `std`-only, `libm::fmaf` is a slow software routine)
//! and a kernel that used one on some backends only would give other bits
//! there. So a kernel gives the same bits on every backend, and the
//! conformance tests hold each backend to the scalar `Lanes<1>`.

/// The sign bit of an `f32`.
pub(crate) const SIGN: u32 = 0x8000_0000;

/// Vectors of [`LANES`](Self::LANES) floats, their `i32` bit patterns and
/// lane masks, and the operations the vector math needs.
pub(crate) trait Simd: Copy {
    /// Floats per vector.
    const LANES: usize;
    /// A vector of floats.
    type F: Copy;
    /// A vector of `i32`s (a float vector's bits, reinterpreted).
    type I: Copy;
    /// A lane mask: the result of a compare.
    type M: Copy;

    /// Every lane `v`.
    fn splat(self, v: f32) -> Self::F;
    /// Every lane `v`.
    fn splat_i(self, v: i32) -> Self::I;
    /// The first [`LANES`](Self::LANES) floats of `x`.
    ///
    /// # Panics
    /// If `x` is shorter.
    fn load(self, x: &[f32]) -> Self::F;
    /// `x` (shorter than a vector) in the first lanes, `+0` in the others.
    fn load_tail(self, x: &[f32]) -> Self::F;
    /// Stores `v` into the first [`LANES`](Self::LANES) floats of `y`.
    ///
    /// # Panics
    /// If `y` is shorter.
    fn store(self, y: &mut [f32], v: Self::F);
    /// Stores the first `y.len()` lanes of `v` (fewer than a vector) into `y`.
    fn store_tail(self, y: &mut [f32], v: Self::F);

    /// `a + b`.
    fn add(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a - b`.
    fn sub(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a * b`.
    fn mul(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a / b`.
    fn div(self, a: Self::F, b: Self::F) -> Self::F;
    /// `if a < b { a } else { b }` (x86's `minps`: `b` if either is NaN).
    fn min(self, a: Self::F, b: Self::F) -> Self::F;
    /// `if a > b { a } else { b }` (x86's `maxps`: `b` if either is NaN).
    fn max(self, a: Self::F, b: Self::F) -> Self::F;
    /// The bits of `a` AND those of `b`.
    fn and(self, a: Self::F, b: Self::F) -> Self::F;
    /// The bits of `a` XOR those of `b`.
    fn xor(self, a: Self::F, b: Self::F) -> Self::F;

    /// `a < b` (false if either is NaN).
    fn lt(self, a: Self::F, b: Self::F) -> Self::M;
    /// `a >= b` (false if either is NaN).
    fn ge(self, a: Self::F, b: Self::F) -> Self::M;
    /// Whether `a` is NaN.
    fn is_nan(self, a: Self::F) -> Self::M;
    /// `if m { a } else { b }`, lane by lane.
    fn select(self, m: Self::M, a: Self::F, b: Self::F) -> Self::F;

    /// The bits of `a` as `i32`s (`f32::to_bits`).
    fn bits(self, a: Self::F) -> Self::I;
    /// `i32` bits as floats (`f32::from_bits`).
    fn float(self, a: Self::I) -> Self::F;
    /// `a + b`, wrapping.
    fn add_i(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a - b`, wrapping.
    fn sub_i(self, a: Self::I, b: Self::I) -> Self::I;
    /// `a << 23`: an exponent field from a biased exponent.
    fn shl23_i(self, a: Self::I) -> Self::I;
    /// `a >> 1`, arithmetic (rounds toward minus infinity).
    fn sra1_i(self, a: Self::I) -> Self::I;

    /// The sums of adjacent pairs of the `2·LANES` floats `v = lo ++ hi`:
    /// lane `k` is `v[2k] + v[2k+1]` (a 2x2 pool's row of windows).
    fn pair_sums(self, lo: Self::F, hi: Self::F) -> Self::F;
    /// Each lane twice: `(lo, hi)` with `(lo ++ hi)[2k] = (lo ++ hi)[2k+1] =
    /// a[k]` (a 2x2 pool's gradient spread over its windows' columns).
    fn spread(self, a: Self::F) -> (Self::F, Self::F);
}

/// The portable backend: `N` lanes as `[f32; N]`, every operation a loop
/// over the lanes that the compiler vectorises (SSE2 on any x86-64);
/// [`Lanes<1>`] is the scalar form of every kernel.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Lanes<const N: usize>;

/// The portable vector width: 8 lanes (two SSE registers, one AVX one).
pub(crate) type Portable = Lanes<8>;

/// `[f(a[0], b[0]), …]`.
#[inline(always)]
fn zip<T: Copy, U: Copy, const N: usize>(a: [T; N], b: [T; N], f: impl Fn(T, T) -> U) -> [U; N] {
    core::array::from_fn(|i| f(a[i], b[i]))
}

/// A mask lane: all ones for true.
#[inline(always)]
fn lane(t: bool) -> u32 {
    if t { u32::MAX } else { 0 }
}

impl<const N: usize> Simd for Lanes<N> {
    const LANES: usize = N;
    type F = [f32; N];
    type I = [i32; N];
    /// All ones or all zeros a lane, as the AVX2 backend's masks, so that
    /// selects are bit operations the compiler vectorises.
    type M = [u32; N];

    #[inline(always)]
    fn splat(self, v: f32) -> [f32; N] {
        [v; N]
    }
    #[inline(always)]
    fn splat_i(self, v: i32) -> [i32; N] {
        [v; N]
    }
    #[inline(always)]
    fn load(self, x: &[f32]) -> [f32; N] {
        x[..N].try_into().expect("N floats")
    }
    #[inline(always)]
    fn load_tail(self, x: &[f32]) -> [f32; N] {
        let mut v = [0.0; N];
        v[..x.len()].copy_from_slice(x);
        v
    }
    #[inline(always)]
    fn store(self, y: &mut [f32], v: [f32; N]) {
        y[..N].copy_from_slice(&v);
    }
    #[inline(always)]
    fn store_tail(self, y: &mut [f32], v: [f32; N]) {
        let n = y.len();
        y.copy_from_slice(&v[..n]);
    }

    #[inline(always)]
    fn add(self, a: [f32; N], b: [f32; N]) -> [f32; N] {
        zip(a, b, |a, b| a + b)
    }
    #[inline(always)]
    fn sub(self, a: [f32; N], b: [f32; N]) -> [f32; N] {
        zip(a, b, |a, b| a - b)
    }
    #[inline(always)]
    fn mul(self, a: [f32; N], b: [f32; N]) -> [f32; N] {
        zip(a, b, |a, b| a * b)
    }
    #[inline(always)]
    fn div(self, a: [f32; N], b: [f32; N]) -> [f32; N] {
        zip(a, b, |a, b| a / b)
    }
    #[inline(always)]
    fn min(self, a: [f32; N], b: [f32; N]) -> [f32; N] {
        zip(a, b, |a, b| if a < b { a } else { b })
    }
    #[inline(always)]
    fn max(self, a: [f32; N], b: [f32; N]) -> [f32; N] {
        zip(a, b, |a, b| if a > b { a } else { b })
    }
    #[inline(always)]
    fn and(self, a: [f32; N], b: [f32; N]) -> [f32; N] {
        zip(a, b, |a, b| f32::from_bits(a.to_bits() & b.to_bits()))
    }
    #[inline(always)]
    fn xor(self, a: [f32; N], b: [f32; N]) -> [f32; N] {
        zip(a, b, |a, b| f32::from_bits(a.to_bits() ^ b.to_bits()))
    }

    #[inline(always)]
    fn lt(self, a: [f32; N], b: [f32; N]) -> [u32; N] {
        zip(a, b, |a, b| lane(a < b))
    }
    #[inline(always)]
    fn ge(self, a: [f32; N], b: [f32; N]) -> [u32; N] {
        zip(a, b, |a, b| lane(a >= b))
    }
    #[inline(always)]
    fn is_nan(self, a: [f32; N]) -> [u32; N] {
        a.map(|a| lane(a.is_nan()))
    }
    #[inline(always)]
    fn select(self, m: [u32; N], a: [f32; N], b: [f32; N]) -> [f32; N] {
        core::array::from_fn(|i| f32::from_bits((a[i].to_bits() & m[i]) | (b[i].to_bits() & !m[i])))
    }

    #[inline(always)]
    fn bits(self, a: [f32; N]) -> [i32; N] {
        a.map(|a| a.to_bits() as i32)
    }
    #[inline(always)]
    fn float(self, a: [i32; N]) -> [f32; N] {
        a.map(|a| f32::from_bits(a as u32))
    }
    #[inline(always)]
    fn add_i(self, a: [i32; N], b: [i32; N]) -> [i32; N] {
        zip(a, b, i32::wrapping_add)
    }
    #[inline(always)]
    fn sub_i(self, a: [i32; N], b: [i32; N]) -> [i32; N] {
        zip(a, b, i32::wrapping_sub)
    }
    #[inline(always)]
    fn shl23_i(self, a: [i32; N]) -> [i32; N] {
        a.map(|a| a.wrapping_shl(23))
    }
    #[inline(always)]
    fn sra1_i(self, a: [i32; N]) -> [i32; N] {
        a.map(|a| a >> 1)
    }
    #[inline(always)]
    fn pair_sums(self, lo: [f32; N], hi: [f32; N]) -> [f32; N] {
        let v = |i: usize| if i < N { lo[i] } else { hi[i - N] };
        core::array::from_fn(|k| v(2 * k) + v(2 * k + 1))
    }
    #[inline(always)]
    fn spread(self, a: [f32; N]) -> ([f32; N], [f32; N]) {
        (core::array::from_fn(|i| a[i / 2]), core::array::from_fn(|i| a[(N + i) / 2]))
    }
}
