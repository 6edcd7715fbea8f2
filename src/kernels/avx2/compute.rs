//! [`Compute`] for AVX2 and FMA: 8 lanes, masks as all-ones lanes, the
//! partial loads and stores by `vmaskmovps`.

use super::simd::Avx2;
use crate::kernels::compute::Compute;
use core::arch::x86_64::*;

/// The lane mask of the first `n` lanes (all for `n >= 8`), as integers.
#[inline(always)]
fn first_i(n: usize) -> __m256i {
    // SAFETY: an `Avx2` token (the only caller) exists only with AVX2.
    unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) }
}

// SAFETY (every method): an `Avx2` exists only on a CPU with AVX2 and FMA;
// the pointer methods' callers keep the lanes they touch in their buffers
// (`vmaskmovps` touches only the lanes of its mask).
impl Compute for Avx2 {
    #[inline(always)]
    fn zero(self) -> __m256 {
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    fn fma(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn reduce_add(self, a: __m256) -> f32 {
        // The halves, then pairs: ((l0+h0)+(l2+h2)) + ((l1+h1)+(l3+h3)).
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
        }
    }
    #[inline(always)]
    fn sqrt(self, a: __m256) -> __m256 {
        unsafe { _mm256_sqrt_ps(a) }
    }
    #[inline(always)]
    fn gt(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_cmp_ps::<_CMP_GT_OQ>(a, b) }
    }
    #[inline(always)]
    fn eq(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_cmp_ps::<_CMP_EQ_OQ>(a, b) }
    }
    #[inline(always)]
    fn first(self, n: usize) -> __m256 {
        unsafe { _mm256_castsi256_ps(first_i(n)) }
    }
    #[inline(always)]
    fn m_and(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_and_ps(a, b) }
    }
    #[inline(always)]
    fn m_andnot(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_andnot_ps(b, a) }
    }
    #[inline(always)]
    fn m_or(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_or_ps(a, b) }
    }
    #[inline(always)]
    fn bitmask(self, m: __m256) -> u32 {
        unsafe { _mm256_movemask_ps(m) as u32 }
    }
    #[inline(always)]
    fn mask_of_bits(self, bits: u32) -> __m256 {
        unsafe {
            let bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
            let b = _mm256_and_si256(_mm256_set1_epi32(bits as i32), bit);
            _mm256_castsi256_ps(_mm256_cmpeq_epi32(b, bit))
        }
    }
    #[inline(always)]
    fn unzip(self, lo: __m256, hi: __m256) -> (__m256, __m256) {
        // Within 128-bit halves: lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6; then the
        // 64-bit quarters in the order 0, 2, 1, 3.
        unsafe {
            let e = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
            let o = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
            let q = |v: __m256| _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)));
            (q(e), q(o))
        }
    }
    #[inline(always)]
    fn zip(self, even: __m256, odd: __m256) -> (__m256, __m256) {
        // e0 o0 e1 o1 | e4 o4 e5 o5 and e2 o2 e3 o3 | e6 o6 e7 o7, then the halves.
        unsafe {
            let (l, h) = (_mm256_unpacklo_ps(even, odd), _mm256_unpackhi_ps(even, odd));
            (_mm256_permute2f128_ps::<0x20>(l, h), _mm256_permute2f128_ps::<0x31>(l, h))
        }
    }
    #[inline(always)]
    unsafe fn loadp(self, p: *const f32) -> __m256 {
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_n(self, p: *const f32, n: usize) -> __m256 {
        unsafe { if n >= 8 { _mm256_loadu_ps(p) } else { _mm256_maskload_ps(p, first_i(n)) } }
    }
    #[inline(always)]
    unsafe fn storep(self, p: *mut f32, v: __m256) {
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn store_n(self, p: *mut f32, n: usize, v: __m256) {
        unsafe { if n >= 8 { _mm256_storeu_ps(p, v) } else { _mm256_maskstore_ps(p, first_i(n), v) } }
    }
    #[inline(always)]
    unsafe fn bcast(self, p: *const f32) -> __m256 {
        unsafe { _mm256_broadcast_ss(&*p) }
    }
}
