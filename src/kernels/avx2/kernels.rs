//! The AVX2 backend's kernels: the ones written once over the vector width
//! (`kernels/generic/`) instantiated on [`Avx2`] with AVX2's register
//! tiles (16 `ymm` registers: at most 12 accumulators a tile, so that the
//! operands fit beside them), and the 16-plane transpose, hand-written
//! with AVX2's shuffles.
//!
//! Every function is `unsafe` with `#[target_feature(enable = "avx2,fma")]`
//! and takes raw pointers; only the safe entry points of [`crate::kernels`]
//! call them, after checking the CPU (once per process) and every length.
//! The instance is written by [`instance!`](crate::kernels::generic::instance::instance).
#![allow(clippy::too_many_arguments)]

use super::simd::Avx2;
use core::arch::x86_64::*;

/// The token, for the functions below (each is `#[target_feature]`, and
/// its caller guarantees AVX2 and FMA).
#[inline(always)]
fn t() -> Avx2 {
    // SAFETY: every caller is an AVX2 function called on an AVX2 CPU.
    unsafe { Avx2::new() }
}

crate::kernels::generic::instance::instance! {
    #[target_feature(enable = "avx2,fma")]
    token: t(),
    // 2 samples x 6 outputs (12 accumulators).
    dense_forward: <2>,
    // 6 outputs x 16 samples (2 vectors).
    dense_forward_packed: <6>,
    // 6 rows x 2 vectors (12 accumulators, 2 loads and a broadcast beside
    // them; 4 x 3 took all 16 registers and kept an accumulator on the stack).
    bcast_gemm: <6, 2, 6, 2>,
    // 4 channels x 2 segments (4 x 3 kept an accumulator on the stack),
    // then 2 x 4, then 1 x 6.
    conv_batch: <4, 2, 4, 6>,
    // Channels-last: 8 channels (one vector) x 9 outputs (9 accumulators,
    // 5 weights and a broadcast), for convolutions of at least 256 taps.
    conv_cl: <9>,
    // 4 channels x 2 taps, or 1 x 9.
    conv_dw_batch: <4, 2, 9>,
    // 6 taps x 16 channels (2 vectors: 12 accumulators).
    conv_dw_t: <6, 2>,
    // Two vectors of 8 lanes a plane.
    lane_sums4: <2>,
}

/// `dst[p·dst_p + k] = src[k·src_k + p]` for `k < 16`, `p < n`: 16 planes
/// transposed to channels-last, 8x8 blocks in registers.
///
/// # Safety
/// AVX2; `src` readable at `k·src_k + p`, `dst` writable at `p·dst_p + k`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn transpose16(src: *const f32, src_k: usize, n: usize, dst: *mut f32, dst_p: usize) {
    use crate::kernels::compute::Compute;
    let s = t();
    // SAFETY: the caller's contract; the loads are masked to p < n, the
    // stores made for p < n only.
    unsafe {
        let mut p0 = 0;
        while p0 < n {
            let m = n - p0;
            for k0 in [0, 8] {
                let r: [__m256; 8] = core::array::from_fn(|k| s.load_n(src.add((k0 + k) * src_k + p0), m));
                // 32-bit, then 64-bit interleaves within 128-bit halves, then the halves.
                let u: [__m256; 8] = core::array::from_fn(|i| {
                    let (a, b) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
                    if i % 2 == 0 { _mm256_unpacklo_ps(a, b) } else { _mm256_unpackhi_ps(a, b) }
                });
                let v: [__m256; 8] = core::array::from_fn(|i| {
                    let g = i / 4 * 4;
                    let (a, b) = if i % 4 < 2 { (u[g], u[g + 2]) } else { (u[g + 1], u[g + 3]) };
                    if i % 2 == 0 { _mm256_shuffle_ps::<0x44>(a, b) } else { _mm256_shuffle_ps::<0xEE>(a, b) }
                });
                for q in 0..m.min(8) {
                    let (a, b) = (v[q % 4], v[4 + q % 4]);
                    let o =
                        if q < 4 { _mm256_permute2f128_ps::<0x20>(a, b) } else { _mm256_permute2f128_ps::<0x31>(a, b) };
                    _mm256_storeu_ps(dst.add((p0 + q) * dst_p + k0), o);
                }
            }
            p0 += 8;
        }
    }
}
