//! [`Simd`] for AVX-512: 16 lanes in a `__m512`, `__mmask16` masks, and
//! the kernels written over it ([`vmath`], [`avgpool`]) on them.

use super::vec::{EVEN, ODD, V, lanes};
use crate::kernels::MathFn;
use crate::kernels::simd::Simd;
use crate::kernels::{act, avgpool, vmath};
use core::arch::x86_64::*;

/// The AVX-512 backend's token: it exists only where the CPU has
/// AVX-512F and AVX-512VL ([`Avx512::new`] is `unsafe`), which makes its
/// methods' intrinsics sound. They are `#[inline(always)]` and compiled
/// with AVX-512 inside the `#[target_feature]` functions that call them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// # Safety
    /// The CPU has AVX-512F and AVX-512VL.
    #[inline(always)]
    pub(crate) unsafe fn new() -> Self {
        Avx512(())
    }
}

// SAFETY (every method): an `Avx512` exists only on a CPU with AVX-512F
// and AVX-512VL; loads and stores stay inside the slices (checked).
impl Simd for Avx512 {
    const LANES: usize = V;
    type F = __m512;
    type I = __m512i;
    type M = __mmask16;

    #[inline(always)]
    fn splat(self, v: f32) -> __m512 {
        unsafe { _mm512_set1_ps(v) }
    }
    #[inline(always)]
    fn splat_i(self, v: i32) -> __m512i {
        unsafe { _mm512_set1_epi32(v) }
    }
    #[inline(always)]
    fn load(self, x: &[f32]) -> __m512 {
        assert!(x.len() >= V);
        unsafe { _mm512_loadu_ps(x.as_ptr()) }
    }
    #[inline(always)]
    fn load_tail(self, x: &[f32]) -> __m512 {
        unsafe { _mm512_maskz_loadu_ps(lanes(x.len()), x.as_ptr()) }
    }
    #[inline(always)]
    fn store(self, y: &mut [f32], v: __m512) {
        assert!(y.len() >= V);
        unsafe { _mm512_storeu_ps(y.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn store_tail(self, y: &mut [f32], v: __m512) {
        unsafe { _mm512_mask_storeu_ps(y.as_mut_ptr(), lanes(y.len()), v) }
    }

    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    fn div(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    fn min(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_min_ps(a, b) }
    }
    #[inline(always)]
    fn max(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    fn and(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b))) }
    }
    #[inline(always)]
    fn xor(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b))) }
    }

    #[inline(always)]
    fn lt(self, a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn ge(self, a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_GE_OQ>(a, b) }
    }
    #[inline(always)]
    fn is_nan(self, a: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a) }
    }
    #[inline(always)]
    fn select(self, m: __mmask16, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_mask_blend_ps(m, b, a) }
    }

    #[inline(always)]
    fn bits(self, a: __m512) -> __m512i {
        unsafe { _mm512_castps_si512(a) }
    }
    #[inline(always)]
    fn float(self, a: __m512i) -> __m512 {
        unsafe { _mm512_castsi512_ps(a) }
    }
    #[inline(always)]
    fn add_i(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_add_epi32(a, b) }
    }
    #[inline(always)]
    fn sub_i(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn shl23_i(self, a: __m512i) -> __m512i {
        unsafe { _mm512_slli_epi32::<23>(a) }
    }
    #[inline(always)]
    fn sra1_i(self, a: __m512i) -> __m512i {
        unsafe { _mm512_srai_epi32::<1>(a) }
    }
    #[inline(always)]
    fn pair_sums(self, lo: __m512, hi: __m512) -> __m512 {
        unsafe {
            let (ie, io) = (_mm512_loadu_si512(EVEN.as_ptr().cast()), _mm512_loadu_si512(ODD.as_ptr().cast()));
            _mm512_add_ps(_mm512_permutex2var_ps(lo, ie, hi), _mm512_permutex2var_ps(lo, io, hi))
        }
    }
    #[inline(always)]
    fn spread(self, a: __m512) -> (__m512, __m512) {
        const LO: [i32; 16] = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7];
        const HI: [i32; 16] = [8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15];
        unsafe {
            let (il, ih) = (_mm512_loadu_si512(LO.as_ptr().cast()), _mm512_loadu_si512(HI.as_ptr().cast()));
            (_mm512_permutexvar_ps(il, a), _mm512_permutexvar_ps(ih, a))
        }
    }
}

/// [`avgpool::forward`] on 16 lanes.
///
/// # Safety
/// AVX-512F and AVX-512VL.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn avgpool2_forward(planes: usize, hw: (usize, usize), x: &[f32], y: &mut [f32]) {
    // SAFETY: the caller's contract.
    avgpool::forward(unsafe { Avx512::new() }, planes, hw, x, y)
}

/// [`avgpool::backward`] on 16 lanes.
///
/// # Safety
/// AVX-512F and AVX-512VL.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn avgpool2_backward(planes: usize, hw: (usize, usize), dy: &[f32], dx: &mut [f32]) {
    // SAFETY: the caller's contract.
    avgpool::backward(unsafe { Avx512::new() }, planes, hw, dy, dx)
}

/// [`vmath::map`] on 16 lanes: `y[i] = f(x[i])` over `x.len()` floats.
///
/// # Safety
/// AVX-512F and AVX-512VL.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn math_map(f: MathFn, x: &[f32], y: &mut [f32]) {
    // SAFETY: the caller's contract.
    vmath::map(unsafe { Avx512::new() }, f, x, y)
}

/// [`act::map`] on 16 lanes: `y[i] = act(x[i])`.
///
/// # Safety
/// AVX-512F and AVX-512VL.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn act_map(a: act::Act, x: &[f32], y: &mut [f32]) {
    // SAFETY: the caller's contract.
    act::map(unsafe { Avx512::new() }, a, x, y)
}

/// [`act::map_grad`] on 16 lanes: `dx[i] = dy[i] · act'(x[i])`.
///
/// # Safety
/// AVX-512F and AVX-512VL.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn act_map_grad(a: act::Act, x: &[f32], dy: &[f32], dx: &mut [f32]) {
    // SAFETY: the caller's contract.
    act::map_grad(unsafe { Avx512::new() }, a, x, dy, dx)
}
