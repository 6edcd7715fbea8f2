//! [`Simd`] for NEON: 4 lanes in a `float32x4_t`, masks as all-ones
//! `uint32x4_t` lanes, and the kernels written over it ([`vmath`],
//! [`act`], [`avgpool`]) on them.
//!
//! Where NEON's instruction differs from the trait's rule, the rule is
//! built from compares and selects: `vminq_f32`/`vmaxq_f32` give NaN if
//! either input is NaN, the trait x86's `minps`/`maxps` (`b` then). NEON
//! has no masked load or store: a tail goes through a zeroed 4-float
//! array on the stack.

use crate::kernels::MathFn;
use crate::kernels::simd::Simd;
use crate::kernels::{act, avgpool, vmath};
use core::arch::aarch64::*;

/// Floats per NEON vector.
const V: usize = 4;

/// The NEON backend's token: it exists only where the CPU has NEON
/// ([`Neon::new`] is `unsafe`), which makes its methods' intrinsics
/// sound. They are `#[inline(always)]` and compiled with NEON inside the
/// `#[target_feature]` functions that call them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Neon(());

impl Neon {
    /// # Safety
    /// The CPU has NEON.
    #[inline(always)]
    pub(crate) unsafe fn new() -> Self {
        Neon(())
    }
}

// SAFETY (every method): a `Neon` exists only on a CPU with NEON; loads
// and stores stay inside the slices (checked, or through a local array
// for a tail).
impl Simd for Neon {
    const LANES: usize = V;
    type F = float32x4_t;
    type I = int32x4_t;
    type M = uint32x4_t;

    #[inline(always)]
    fn splat(self, v: f32) -> float32x4_t {
        unsafe { vdupq_n_f32(v) }
    }
    #[inline(always)]
    fn splat_i(self, v: i32) -> int32x4_t {
        unsafe { vdupq_n_s32(v) }
    }
    #[inline(always)]
    fn load(self, x: &[f32]) -> float32x4_t {
        assert!(x.len() >= V);
        unsafe { vld1q_f32(x.as_ptr()) }
    }
    #[inline(always)]
    fn load_tail(self, x: &[f32]) -> float32x4_t {
        let mut v = [0.0f32; V];
        v[..x.len()].copy_from_slice(x);
        unsafe { vld1q_f32(v.as_ptr()) }
    }
    #[inline(always)]
    fn store(self, y: &mut [f32], v: float32x4_t) {
        assert!(y.len() >= V);
        unsafe { vst1q_f32(y.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn store_tail(self, y: &mut [f32], v: float32x4_t) {
        let mut t = [0.0f32; V];
        unsafe { vst1q_f32(t.as_mut_ptr(), v) };
        let n = y.len();
        y.copy_from_slice(&t[..n]);
    }

    #[inline(always)]
    fn add(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vsubq_f32(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vmulq_f32(a, b) }
    }
    #[inline(always)]
    fn div(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vdivq_f32(a, b) }
    }
    #[inline(always)]
    fn min(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // x86's rule, not `vminq_f32`'s (NaN if either is NaN).
        unsafe { vbslq_f32(vcltq_f32(a, b), a, b) }
    }
    #[inline(always)]
    fn max(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vbslq_f32(vcgtq_f32(a, b), a, b) }
    }
    #[inline(always)]
    fn and(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b))) }
    }
    #[inline(always)]
    fn xor(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b))) }
    }

    #[inline(always)]
    fn lt(self, a: float32x4_t, b: float32x4_t) -> uint32x4_t {
        unsafe { vcltq_f32(a, b) }
    }
    #[inline(always)]
    fn ge(self, a: float32x4_t, b: float32x4_t) -> uint32x4_t {
        unsafe { vcgeq_f32(a, b) }
    }
    #[inline(always)]
    fn is_nan(self, a: float32x4_t) -> uint32x4_t {
        unsafe { vmvnq_u32(vceqq_f32(a, a)) }
    }
    #[inline(always)]
    fn select(self, m: uint32x4_t, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vbslq_f32(m, a, b) }
    }

    #[inline(always)]
    fn bits(self, a: float32x4_t) -> int32x4_t {
        unsafe { vreinterpretq_s32_f32(a) }
    }
    #[inline(always)]
    fn float(self, a: int32x4_t) -> float32x4_t {
        unsafe { vreinterpretq_f32_s32(a) }
    }
    #[inline(always)]
    fn add_i(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vaddq_s32(a, b) }
    }
    #[inline(always)]
    fn sub_i(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vsubq_s32(a, b) }
    }
    #[inline(always)]
    fn shl23_i(self, a: int32x4_t) -> int32x4_t {
        unsafe { vshlq_n_s32::<23>(a) }
    }
    #[inline(always)]
    fn sra1_i(self, a: int32x4_t) -> int32x4_t {
        unsafe { vshrq_n_s32::<1>(a) }
    }
    #[inline(always)]
    fn pair_sums(self, lo: float32x4_t, hi: float32x4_t) -> float32x4_t {
        // lo0+lo1, lo2+lo3, hi0+hi1, hi2+hi3.
        unsafe { vpaddq_f32(lo, hi) }
    }
    #[inline(always)]
    fn spread(self, a: float32x4_t) -> (float32x4_t, float32x4_t) {
        // a0 a0 a1 a1 and a2 a2 a3 a3.
        unsafe { (vzip1q_f32(a, a), vzip2q_f32(a, a)) }
    }
}

/// [`avgpool::forward`] on 4 lanes.
///
/// # Safety
/// NEON.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn avgpool2_forward(planes: usize, hw: (usize, usize), x: &[f32], y: &mut [f32]) {
    // SAFETY: the caller's contract.
    avgpool::forward(unsafe { Neon::new() }, planes, hw, x, y)
}

/// [`avgpool::backward`] on 4 lanes.
///
/// # Safety
/// NEON.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn avgpool2_backward(planes: usize, hw: (usize, usize), dy: &[f32], dx: &mut [f32]) {
    // SAFETY: the caller's contract.
    avgpool::backward(unsafe { Neon::new() }, planes, hw, dy, dx)
}

/// [`vmath::map`] on 4 lanes: `y[i] = f(x[i])` over `x.len()` floats.
///
/// # Safety
/// NEON.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn math_map(f: MathFn, x: &[f32], y: &mut [f32]) {
    // SAFETY: the caller's contract.
    vmath::map(unsafe { Neon::new() }, f, x, y)
}

/// [`act::map`] on 4 lanes: `y[i] = act(x[i])`.
///
/// # Safety
/// NEON.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn act_map(a: act::Act, x: &[f32], y: &mut [f32]) {
    // SAFETY: the caller's contract.
    act::map(unsafe { Neon::new() }, a, x, y)
}

/// [`act::map_grad`] on 4 lanes: `dx[i] = dy[i] · act'(x[i])`.
///
/// # Safety
/// NEON.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn act_map_grad(a: act::Act, x: &[f32], dy: &[f32], dx: &mut [f32]) {
    // SAFETY: the caller's contract.
    act::map_grad(unsafe { Neon::new() }, a, x, dy, dx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::simd::Lanes;
    use std::format;

    /// The lanes of a vector.
    fn f(v: float32x4_t) -> [u32; 4] {
        let mut out = [0.0f32; 4];
        unsafe { vst1q_f32(out.as_mut_ptr(), v) };
        out.map(f32::to_bits)
    }

    fn i(v: int32x4_t) -> [i32; 4] {
        let mut out = [0i32; 4];
        unsafe { vst1q_s32(out.as_mut_ptr(), v) };
        out
    }

    fn m(v: uint32x4_t) -> [u32; 4] {
        let mut out = [0u32; 4];
        unsafe { vst1q_u32(out.as_mut_ptr(), v) };
        out
    }

    /// Every operation gives the portable `Lanes<4>`'s bits (its rules:
    /// x86's `min`/`max` with NaNs, ordered compares, the pair sums and
    /// spreads' lane orders, masked tails), on pairs of special values.
    #[test]
    fn every_operation_gives_the_portable_bits() {
        // SAFETY: NEON is baseline on aarch64.
        let n = unsafe { Neon::new() };
        let p = Lanes::<4>;
        let specials = [0.0f32, -0.0, 1.5, -2.25, f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-40, 3e38];
        let mut quads = std::vec::Vec::new();
        for (k, &a) in specials.iter().enumerate() {
            for (j, &b) in specials.iter().enumerate() {
                quads.push((
                    [a, b, specials[(k + j) % 10], specials[(k * 3 + j) % 10]],
                    [b, a, specials[(k + 2 * j) % 10], a],
                ));
            }
        }
        let bits = |v: [f32; 4]| v.map(f32::to_bits);
        for (a, b) in quads {
            let (va, vb) = (n.load(&a), n.load(&b));
            let ctx = format!("{a:?}, {b:?}");
            assert_eq!(f(n.min(va, vb)), bits(p.min(a, b)), "min {ctx}");
            assert_eq!(f(n.max(va, vb)), bits(p.max(a, b)), "max {ctx}");
            assert_eq!(m(n.lt(va, vb)), p.lt(a, b), "lt {ctx}");
            assert_eq!(m(n.ge(va, vb)), p.ge(a, b), "ge {ctx}");
            assert_eq!(m(n.is_nan(va)), p.is_nan(a), "is_nan {ctx}");
            assert_eq!(f(n.select(n.lt(va, vb), va, vb)), bits(p.select(p.lt(a, b), a, b)), "select {ctx}");
            assert_eq!(f(n.and(va, vb)), bits(p.and(a, b)), "and {ctx}");
            assert_eq!(f(n.xor(va, vb)), bits(p.xor(a, b)), "xor {ctx}");
            assert_eq!(f(n.pair_sums(va, vb)), bits(p.pair_sums(a, b)), "pair_sums {ctx}");
            let ((lo, hi), (plo, phi)) = (n.spread(va), p.spread(a));
            assert_eq!((f(lo), f(hi)), (bits(plo), bits(phi)), "spread {ctx}");
            let ia = n.bits(va);
            assert_eq!(i(ia), p.bits(a), "bits {ctx}");
            assert_eq!(f(n.float(ia)), bits(a), "float {ctx}");
            assert_eq!(i(n.shl23_i(ia)), p.shl23_i(p.bits(a)), "shl23 {ctx}");
            assert_eq!(i(n.sra1_i(ia)), p.sra1_i(p.bits(a)), "sra1 {ctx}");
            assert_eq!(i(n.add_i(ia, n.bits(vb))), p.add_i(p.bits(a), p.bits(b)), "add_i {ctx}");
            assert_eq!(i(n.sub_i(ia, n.bits(vb))), p.sub_i(p.bits(a), p.bits(b)), "sub_i {ctx}");
            // Arithmetic: the same bits, or NaN for NaN (payloads unspecified).
            for (op, got, want) in [
                ("add", n.add(va, vb), p.add(a, b)),
                ("sub", n.sub(va, vb), p.sub(a, b)),
                ("mul", n.mul(va, vb), p.mul(a, b)),
                ("div", n.div(va, vb), p.div(a, b)),
            ] {
                for (g, w) in f(got).into_iter().zip(want) {
                    let g = f32::from_bits(g);
                    assert!(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()), "{op} {ctx}: {g} vs {w}");
                }
            }
            // Tails: the first `len` lanes, +0 after them; nothing stored past `len`.
            for len in 0..4 {
                assert_eq!(f(n.load_tail(&a[..len])), bits(p.load_tail(&a[..len])), "load_tail {len} {ctx}");
                let mut y = [7.0f32; 4];
                n.store_tail(&mut y[..len], va);
                let mut w = [7.0f32; 4];
                p.store_tail(&mut w[..len], a);
                assert_eq!(bits(y), bits(w), "store_tail {len} {ctx}");
            }
        }
    }
}
