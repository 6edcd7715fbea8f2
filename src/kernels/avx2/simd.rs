//! [`Simd`] for AVX2: 8 lanes in a `__m256`, masks as all-ones lanes, and
//! the kernels written over it ([`vmath`], [`avgpool`]) on them.

use crate::kernels::MathFn;
use crate::kernels::simd::Simd;
use crate::kernels::{act, avgpool, vmath};
use core::arch::x86_64::*;

/// Floats per AVX2 vector.
const V: usize = 8;

/// The AVX2 backend's token: it exists only where the CPU has AVX2 and FMA
/// ([`Avx2::new`] is `unsafe`), which makes its methods' intrinsics sound.
/// They are `#[inline(always)]` and compiled with AVX2 inside the
/// `#[target_feature]` functions that call them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[inline(always)]
    pub(crate) unsafe fn new() -> Self {
        Avx2(())
    }

    /// The mask of the first `n < 8` lanes, for `maskload`/`maskstore`.
    #[inline(always)]
    fn first(self, n: usize) -> __m256i {
        unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) }
    }
}

// SAFETY (every method): an `Avx2` exists only on a CPU with AVX2 and
// FMA; loads and stores stay inside the slices (checked, or masked to
// their length).
impl Simd for Avx2 {
    const LANES: usize = V;
    type F = __m256;
    type I = __m256i;
    type M = __m256;

    #[inline(always)]
    fn splat(self, v: f32) -> __m256 {
        unsafe { _mm256_set1_ps(v) }
    }
    #[inline(always)]
    fn splat_i(self, v: i32) -> __m256i {
        unsafe { _mm256_set1_epi32(v) }
    }
    #[inline(always)]
    fn load(self, x: &[f32]) -> __m256 {
        assert!(x.len() >= V);
        unsafe { _mm256_loadu_ps(x.as_ptr()) }
    }
    #[inline(always)]
    fn load_tail(self, x: &[f32]) -> __m256 {
        unsafe { _mm256_maskload_ps(x.as_ptr(), self.first(x.len())) }
    }
    #[inline(always)]
    fn store(self, y: &mut [f32], v: __m256) {
        assert!(y.len() >= V);
        unsafe { _mm256_storeu_ps(y.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn store_tail(self, y: &mut [f32], v: __m256) {
        unsafe { _mm256_maskstore_ps(y.as_mut_ptr(), self.first(y.len()), v) }
    }

    #[inline(always)]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    fn div(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_div_ps(a, b) }
    }
    #[inline(always)]
    fn min(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_min_ps(a, b) }
    }
    #[inline(always)]
    fn max(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    fn and(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_and_ps(a, b) }
    }
    #[inline(always)]
    fn xor(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_xor_ps(a, b) }
    }

    #[inline(always)]
    fn lt(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_cmp_ps::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn ge(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_cmp_ps::<_CMP_GE_OQ>(a, b) }
    }
    #[inline(always)]
    fn is_nan(self, a: __m256) -> __m256 {
        unsafe { _mm256_cmp_ps::<_CMP_UNORD_Q>(a, a) }
    }
    #[inline(always)]
    fn select(self, m: __m256, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_blendv_ps(b, a, m) }
    }

    #[inline(always)]
    fn bits(self, a: __m256) -> __m256i {
        unsafe { _mm256_castps_si256(a) }
    }
    #[inline(always)]
    fn float(self, a: __m256i) -> __m256 {
        unsafe { _mm256_castsi256_ps(a) }
    }
    #[inline(always)]
    fn add_i(self, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_add_epi32(a, b) }
    }
    #[inline(always)]
    fn sub_i(self, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn shl23_i(self, a: __m256i) -> __m256i {
        unsafe { _mm256_slli_epi32::<23>(a) }
    }
    #[inline(always)]
    fn sra1_i(self, a: __m256i) -> __m256i {
        unsafe { _mm256_srai_epi32::<1>(a) }
    }
    #[inline(always)]
    fn pair_sums(self, lo: __m256, hi: __m256) -> __m256 {
        // hadd: lo01 lo23 hi01 hi23 | lo45 lo67 hi45 hi67; then the
        // 64-bit quarters in the order 0, 2, 1, 3.
        unsafe { _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(_mm256_hadd_ps(lo, hi)))) }
    }
    #[inline(always)]
    fn spread(self, a: __m256) -> (__m256, __m256) {
        // a0 a0 a1 a1 | a4 a4 a5 a5 and a2 a2 a3 a3 | a6 a6 a7 a7, then the halves.
        unsafe {
            let (l, h) = (_mm256_unpacklo_ps(a, a), _mm256_unpackhi_ps(a, a));
            (_mm256_permute2f128_ps::<0x20>(l, h), _mm256_permute2f128_ps::<0x31>(l, h))
        }
    }
}

/// [`avgpool::forward`] on 8 lanes.
///
/// # Safety
/// AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn avgpool2_forward(planes: usize, hw: (usize, usize), x: &[f32], y: &mut [f32]) {
    // SAFETY: the caller's contract.
    avgpool::forward(unsafe { Avx2::new() }, planes, hw, x, y)
}

/// [`avgpool::backward`] on 8 lanes.
///
/// # Safety
/// AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn avgpool2_backward(planes: usize, hw: (usize, usize), dy: &[f32], dx: &mut [f32]) {
    // SAFETY: the caller's contract.
    avgpool::backward(unsafe { Avx2::new() }, planes, hw, dy, dx)
}

/// [`vmath::map`] on 8 lanes: `y[i] = f(x[i])` over `x.len()` floats.
///
/// # Safety
/// AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn math_map(f: MathFn, x: &[f32], y: &mut [f32]) {
    // SAFETY: the caller's contract.
    vmath::map(unsafe { Avx2::new() }, f, x, y)
}

/// [`act::map`] on 8 lanes: `y[i] = act(x[i])`.
///
/// # Safety
/// AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn act_map(a: act::Act, x: &[f32], y: &mut [f32]) {
    // SAFETY: the caller's contract.
    act::map(unsafe { Avx2::new() }, a, x, y)
}

/// [`act::map_grad`] on 8 lanes: `dx[i] = dy[i] · act'(x[i])`.
///
/// # Safety
/// AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn act_map_grad(a: act::Act, x: &[f32], dy: &[f32], dx: &mut [f32]) {
    // SAFETY: the caller's contract.
    act::map_grad(unsafe { Avx2::new() }, a, x, dy, dx)
}
