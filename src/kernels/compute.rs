//! The operations the register-tiled kernels (`generic/`: dense products,
//! convolutions, their gradients, pooling, element-wise passes and the
//! optimizer updates) need beyond [`Simd`]: fused multiply-add, raw-pointer
//! loads and stores of whole vectors and of their first `n` lanes,
//! broadcasts, horizontal sums, square roots, mask logic and the even/odd
//! split of a 2x2 pool's columns.
//!
//! A sub-trait, so that the vector math (`vmath`, written over [`Simd`]
//! alone) keeps its promise of no FMA and the same bits everywhere. The
//! products here are reductions whose tests hold them to a tolerance (the
//! conformance tests' `Want::Near`); the element-wise kernels written over
//! this trait (ReLU, pooling, updates, padding, lane sums) use no FMA and
//! give the reference loops' bits.
//!
//! The pointer methods are `unsafe`: the caller guarantees that the lanes
//! they touch (all of them, or the first `n`) are inside its buffers.

use super::simd::Simd;

/// [`Simd`] plus what the register-tiled kernels need.
pub(crate) trait Compute: Simd {
    /// Every lane `+0`.
    fn zero(self) -> Self::F;
    /// `a · b + c`, rounded once.
    fn fma(self, a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    /// The sum of the lanes (in the backend's order).
    fn reduce_add(self, a: Self::F) -> f32;
    /// `sqrt(a)`, correctly rounded.
    fn sqrt(self, a: Self::F) -> Self::F;
    /// `a > b` (false if either is NaN).
    fn gt(self, a: Self::F, b: Self::F) -> Self::M;
    /// `a == b` (false if either is NaN).
    fn eq(self, a: Self::F, b: Self::F) -> Self::M;
    /// Lanes `0..n` set (every lane for `n >= LANES`).
    fn first(self, n: usize) -> Self::M;
    /// `a AND b`.
    fn m_and(self, a: Self::M, b: Self::M) -> Self::M;
    /// `a AND NOT b`.
    fn m_andnot(self, a: Self::M, b: Self::M) -> Self::M;
    /// `a OR b`.
    fn m_or(self, a: Self::M, b: Self::M) -> Self::M;
    /// The lanes set, as bits (lane `i` at bit `i`).
    fn bitmask(self, m: Self::M) -> u32;
    /// The mask whose lane `i` is bit `i` of `bits`.
    fn mask_of_bits(self, bits: u32) -> Self::M;
    /// The even and the odd lanes of the `2·LANES` floats `lo ++ hi`:
    /// `(even[k], odd[k]) = (v[2k], v[2k+1])`.
    fn unzip(self, lo: Self::F, hi: Self::F) -> (Self::F, Self::F);
    /// The inverse of [`unzip`](Self::unzip): `v[2k] = even[k]`, `v[2k+1] = odd[k]`, as `(lo, hi)`.
    fn zip(self, even: Self::F, odd: Self::F) -> (Self::F, Self::F);

    /// The [`LANES`](Simd::LANES) floats at `p`.
    ///
    /// # Safety
    /// `p` readable for a vector.
    unsafe fn loadp(self, p: *const f32) -> Self::F;
    /// The first `min(n, LANES)` floats at `p`, `+0` in the other lanes;
    /// nothing else is read.
    ///
    /// # Safety
    /// `p` readable for `min(n, LANES)` floats.
    unsafe fn load_n(self, p: *const f32, n: usize) -> Self::F;
    /// Stores `v` at `p`.
    ///
    /// # Safety
    /// `p` writable for a vector.
    unsafe fn storep(self, p: *mut f32, v: Self::F);
    /// Stores the first `min(n, LANES)` lanes of `v` at `p`; nothing else is written.
    ///
    /// # Safety
    /// `p` writable for `min(n, LANES)` floats.
    unsafe fn store_n(self, p: *mut f32, n: usize, v: Self::F);
    /// Every lane `*p`.
    ///
    /// # Safety
    /// `p` readable.
    #[inline(always)]
    unsafe fn bcast(self, p: *const f32) -> Self::F {
        // SAFETY: the caller's contract.
        self.splat(unsafe { *p })
    }
}

/// The portable form: every operation lane by lane; `fma` is a multiply
/// and an add (`no_std` has no fast FMA: the products' bits then differ
/// from an FMA backend's, within the tolerance of their tests).
impl<const N: usize> Compute for super::simd::Lanes<N> {
    #[inline(always)]
    fn zero(self) -> [f32; N] {
        [0.0; N]
    }
    #[inline(always)]
    fn fma(self, a: [f32; N], b: [f32; N], c: [f32; N]) -> [f32; N] {
        core::array::from_fn(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    fn reduce_add(self, a: [f32; N]) -> f32 {
        // Pairwise, as a vector's halves.
        let mut h = a;
        let mut w = N / 2;
        while w > 0 {
            for l in 0..w {
                h[l] += h[l + w];
            }
            w /= 2;
        }
        h[0]
    }
    #[inline(always)]
    fn sqrt(self, a: [f32; N]) -> [f32; N] {
        a.map(libm::sqrtf)
    }
    #[inline(always)]
    fn gt(self, a: [f32; N], b: [f32; N]) -> [u32; N] {
        core::array::from_fn(|i| if a[i] > b[i] { u32::MAX } else { 0 })
    }
    #[inline(always)]
    fn eq(self, a: [f32; N], b: [f32; N]) -> [u32; N] {
        core::array::from_fn(|i| if a[i] == b[i] { u32::MAX } else { 0 })
    }
    #[inline(always)]
    fn first(self, n: usize) -> [u32; N] {
        core::array::from_fn(|i| if i < n { u32::MAX } else { 0 })
    }
    #[inline(always)]
    fn m_and(self, a: [u32; N], b: [u32; N]) -> [u32; N] {
        core::array::from_fn(|i| a[i] & b[i])
    }
    #[inline(always)]
    fn m_andnot(self, a: [u32; N], b: [u32; N]) -> [u32; N] {
        core::array::from_fn(|i| a[i] & !b[i])
    }
    #[inline(always)]
    fn m_or(self, a: [u32; N], b: [u32; N]) -> [u32; N] {
        core::array::from_fn(|i| a[i] | b[i])
    }
    #[inline(always)]
    fn bitmask(self, m: [u32; N]) -> u32 {
        // One `movmskps` on x86-64 (SSE2 is its baseline): left to itself
        // the compiler computes the masks lane by lane to get the bits.
        #[cfg(target_arch = "x86_64")]
        if N == 4 {
            use core::arch::x86_64::{_mm_loadu_ps, _mm_movemask_ps};
            // SAFETY: SSE2 is part of x86-64; `m` holds 4 lanes of 4 bytes.
            return unsafe { _mm_movemask_ps(_mm_loadu_ps(m.as_ptr().cast())) } as u32;
        }
        m.iter().enumerate().fold(0, |a, (i, &b)| a | (u32::from((b as i32) < 0) << i))
    }
    #[inline(always)]
    fn mask_of_bits(self, bits: u32) -> [u32; N] {
        core::array::from_fn(|i| if bits >> i & 1 == 1 { u32::MAX } else { 0 })
    }
    #[inline(always)]
    fn unzip(self, lo: [f32; N], hi: [f32; N]) -> ([f32; N], [f32; N]) {
        let v = |i: usize| if i < N { lo[i] } else { hi[i - N] };
        (core::array::from_fn(|k| v(2 * k)), core::array::from_fn(|k| v(2 * k + 1)))
    }
    #[inline(always)]
    fn zip(self, even: [f32; N], odd: [f32; N]) -> ([f32; N], [f32; N]) {
        let v = |i: usize| if i.is_multiple_of(2) { even[i / 2] } else { odd[i / 2] };
        (core::array::from_fn(v), core::array::from_fn(|i| v(N + i)))
    }
    #[inline(always)]
    unsafe fn loadp(self, p: *const f32) -> [f32; N] {
        // SAFETY: the caller's contract.
        unsafe { p.cast::<[f32; N]>().read_unaligned() }
    }
    #[inline(always)]
    unsafe fn load_n(self, p: *const f32, n: usize) -> [f32; N] {
        if n >= N {
            // SAFETY: the caller's contract: a whole vector.
            return unsafe { self.loadp(p) };
        }
        let mut v = [0.0; N];
        for (i, x) in v.iter_mut().enumerate().take(n) {
            // SAFETY: the caller's contract.
            *x = unsafe { *p.add(i) };
        }
        v
    }
    #[inline(always)]
    unsafe fn storep(self, p: *mut f32, v: [f32; N]) {
        // SAFETY: the caller's contract.
        unsafe { p.cast::<[f32; N]>().write_unaligned(v) }
    }
    #[inline(always)]
    unsafe fn store_n(self, p: *mut f32, n: usize, v: [f32; N]) {
        if n >= N {
            // SAFETY: the caller's contract: a whole vector.
            return unsafe { self.storep(p, v) };
        }
        for (i, x) in v.iter().enumerate().take(n) {
            // SAFETY: the caller's contract.
            unsafe { *p.add(i) = *x };
        }
    }
}
