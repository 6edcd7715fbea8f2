//! [`Compute`] for NEON: 4 lanes, masks as all-ones `uint32x4_t` lanes.
//! NEON has no masked load or store: a partial one goes through a zeroed
//! 4-float array on the stack (only the first `n` floats at the pointer
//! are read or written).

use super::simd::Neon;
use crate::kernels::compute::Compute;
use core::arch::aarch64::*;

/// Floats per NEON vector.
const V: usize = 4;

/// The lane numbers 0, 1, 2, 3.
#[inline(always)]
fn lane_index() -> uint32x4_t {
    const I: [u32; V] = [0, 1, 2, 3];
    // SAFETY: a `Neon` token (the only caller's) exists only with NEON; `I` holds 4 lanes.
    unsafe { vld1q_u32(I.as_ptr()) }
}

/// The lane bits 1, 2, 4, 8.
#[inline(always)]
fn lane_bit() -> uint32x4_t {
    const B: [u32; V] = [1, 2, 4, 8];
    // SAFETY: as `lane_index`.
    unsafe { vld1q_u32(B.as_ptr()) }
}

// SAFETY (every method): a `Neon` exists only on a CPU with NEON; the
// pointer methods' callers keep the lanes they touch in their buffers, and
// the partial ones touch only the first `n` floats.
impl Compute for Neon {
    #[inline(always)]
    fn zero(self) -> float32x4_t {
        unsafe { vdupq_n_f32(0.0) }
    }
    #[inline(always)]
    fn fma(self, a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // c + a·b, rounded once.
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    fn reduce_add(self, a: float32x4_t) -> f32 {
        // Pairs: (l0+l1) + (l2+l3).
        unsafe { vaddvq_f32(a) }
    }
    #[inline(always)]
    fn sqrt(self, a: float32x4_t) -> float32x4_t {
        unsafe { vsqrtq_f32(a) }
    }
    #[inline(always)]
    fn gt(self, a: float32x4_t, b: float32x4_t) -> uint32x4_t {
        unsafe { vcgtq_f32(a, b) }
    }
    #[inline(always)]
    fn eq(self, a: float32x4_t, b: float32x4_t) -> uint32x4_t {
        unsafe { vceqq_f32(a, b) }
    }
    #[inline(always)]
    fn first(self, n: usize) -> uint32x4_t {
        unsafe { vcltq_u32(lane_index(), vdupq_n_u32(n.min(V) as u32)) }
    }
    #[inline(always)]
    fn m_and(self, a: uint32x4_t, b: uint32x4_t) -> uint32x4_t {
        unsafe { vandq_u32(a, b) }
    }
    #[inline(always)]
    fn m_andnot(self, a: uint32x4_t, b: uint32x4_t) -> uint32x4_t {
        // a AND NOT b.
        unsafe { vbicq_u32(a, b) }
    }
    #[inline(always)]
    fn m_or(self, a: uint32x4_t, b: uint32x4_t) -> uint32x4_t {
        unsafe { vorrq_u32(a, b) }
    }
    #[inline(always)]
    fn bitmask(self, m: uint32x4_t) -> u32 {
        unsafe { vaddvq_u32(vandq_u32(m, lane_bit())) }
    }
    #[inline(always)]
    fn mask_of_bits(self, bits: u32) -> uint32x4_t {
        unsafe { vtstq_u32(vdupq_n_u32(bits), lane_bit()) }
    }
    #[inline(always)]
    fn unzip(self, lo: float32x4_t, hi: float32x4_t) -> (float32x4_t, float32x4_t) {
        unsafe { (vuzp1q_f32(lo, hi), vuzp2q_f32(lo, hi)) }
    }
    #[inline(always)]
    fn zip(self, even: float32x4_t, odd: float32x4_t) -> (float32x4_t, float32x4_t) {
        unsafe { (vzip1q_f32(even, odd), vzip2q_f32(even, odd)) }
    }
    #[inline(always)]
    unsafe fn loadp(self, p: *const f32) -> float32x4_t {
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    unsafe fn load_n(self, p: *const f32, n: usize) -> float32x4_t {
        unsafe {
            if n >= V {
                vld1q_f32(p)
            } else {
                let mut t = [0.0f32; V];
                core::ptr::copy_nonoverlapping(p, t.as_mut_ptr(), n);
                vld1q_f32(t.as_ptr())
            }
        }
    }
    #[inline(always)]
    unsafe fn storep(self, p: *mut f32, v: float32x4_t) {
        unsafe { vst1q_f32(p, v) }
    }
    #[inline(always)]
    unsafe fn store_n(self, p: *mut f32, n: usize, v: float32x4_t) {
        unsafe {
            if n >= V {
                vst1q_f32(p, v)
            } else {
                let mut t = [0.0f32; V];
                vst1q_f32(t.as_mut_ptr(), v);
                core::ptr::copy_nonoverlapping(t.as_ptr(), p, n);
            }
        }
    }
    #[inline(always)]
    unsafe fn bcast(self, p: *const f32) -> float32x4_t {
        unsafe { vld1q_dup_f32(p) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::simd::{Lanes, Simd};

    fn f(v: float32x4_t) -> [u32; 4] {
        let mut out = [0.0f32; 4];
        unsafe { vst1q_f32(out.as_mut_ptr(), v) };
        out.map(f32::to_bits)
    }

    fn m(v: uint32x4_t) -> [u32; 4] {
        let mut out = [0u32; 4];
        unsafe { vst1q_u32(out.as_mut_ptr(), v) };
        out
    }

    /// The exact operations give the portable `Lanes<4>`'s bits.
    #[test]
    fn compute_gives_the_portable_bits() {
        // SAFETY: NEON is baseline on aarch64.
        let n = unsafe { Neon::new() };
        let p = Lanes::<4>;
        let sp = [0.0f32, -0.0, 1.5, -2.25, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3e38];
        let bits = |v: [f32; 4]| v.map(f32::to_bits);
        for k in 0..sp.len() {
            let a = [sp[k], sp[(k + 1) % 8], sp[(k + 3) % 8], sp[(k + 5) % 8]];
            let b = [sp[(k + 2) % 8], sp[k], sp[(k + 7) % 8], sp[(k + 6) % 8]];
            let (va, vb) = (n.load(&a), n.load(&b));
            assert_eq!(m(n.gt(va, vb)), p.gt(a, b));
            assert_eq!(m(n.eq(va, vb)), p.eq(a, b));
            let (e, o) = n.unzip(va, vb);
            let (pe, po) = p.unzip(a, b);
            assert_eq!((f(e), f(o)), (bits(pe), bits(po)));
            let (l, h) = n.zip(va, vb);
            let (pl, ph) = p.zip(a, b);
            assert_eq!((f(l), f(h)), (bits(pl), bits(ph)));
            for len in 0..6 {
                assert_eq!(m(n.first(len)), p.first(len));
                assert_eq!(f(unsafe { n.load_n(a.as_ptr(), len) }), bits(unsafe { p.load_n(a.as_ptr(), len) }));
                let (mut y, mut w) = ([7.0f32; 4], [7.0f32; 4]);
                unsafe { n.store_n(y.as_mut_ptr(), len, va) };
                unsafe { p.store_n(w.as_mut_ptr(), len, a) };
                assert_eq!(bits(y), bits(w));
            }
        }
        for bits16 in 0..16u32 {
            let mk = n.mask_of_bits(bits16);
            assert_eq!(m(mk), p.mask_of_bits(bits16));
            assert_eq!(n.bitmask(mk), bits16);
            let other = n.mask_of_bits(bits16 ^ 5);
            assert_eq!(n.bitmask(n.m_and(mk, other)), bits16 & (bits16 ^ 5));
            assert_eq!(n.bitmask(n.m_or(mk, other)), bits16 | (bits16 ^ 5));
            assert_eq!(n.bitmask(n.m_andnot(mk, other)), bits16 & !(bits16 ^ 5));
        }
        let v = [1.0f32, 2.0, 4.0, 8.0];
        assert_eq!(n.reduce_add(n.load(&v)), 15.0);
        assert_eq!(f(n.sqrt(n.load(&[4.0, 2.0, 0.0, -0.0]))), bits([2.0, libm::sqrtf(2.0), 0.0, -0.0]));
        assert_eq!(f(n.fma(n.splat(3.0), n.splat(0.1), n.splat(1.0))), bits([libm::fmaf(3.0, 0.1, 1.0); 4]));
        assert_eq!(f(unsafe { n.bcast(&v[2]) }), bits([4.0; 4]));
    }
}
