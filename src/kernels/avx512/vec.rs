//! The AVX-512 vocabulary every kernel file shares: the vector width,
//! lane masks, the aligned element-wise loop and the register transpose.

use core::arch::x86_64::*;

/// Floats per AVX-512 vector.
pub(crate) const V: usize = 16;

/// The mask of the first `n` lanes (`n <= 16`).
#[inline(always)]
pub(crate) fn lanes(n: usize) -> u16 {
    if n >= V { u16::MAX } else { ((1u32 << n) - 1) as u16 }
}

/// Lane indices that gather the even (`EVEN`) and odd (`ODD`) columns of
/// 32 consecutive columns held in two vectors.
pub(super) const EVEN: [i32; 16] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30];
pub(super) const ODD: [i32; 16] = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31];
/// Lane indices that interleave lanes 0..8 (`WEAVE_LO`) or 8..16 (`WEAVE_HI`) of two vectors.
pub(super) const WEAVE_LO: [i32; 16] = [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23];
pub(super) const WEAVE_HI: [i32; 16] = [8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31];

/// The mask of the lanes of columns `c0 .. c0+16` that lie below `w`.
#[inline(always)]
pub(super) fn cols(c0: usize, w: usize) -> u16 {
    if c0 >= w { 0 } else { lanes(w - c0) }
}

/// Calls `step(i, mask)` over `n` floats a vector at a time, the vectors
/// laid so that stores into `dst` are aligned to 64 bytes: a masked head up
/// to `dst`'s first boundary, then whole vectors, then a masked tail (a
/// store split across two cache lines costs about twice an aligned one
/// here, docs/performance.md, "Element-wise kernels on whole aligned vectors"). The whole vectors get the constant mask
/// `u16::MAX`, which the compiler turns into plain loads and stores. (A
/// masked load cannot take its data from a store still in flight; seed 1's
/// update reads the gradient the backward pass has just written. With the
/// SGD update, Adam's and the ReLU passes on this loop, seed 1's step took
/// 0.96–0.97x the time, alternated in one process.)
#[inline(always)]
pub(super) fn aligned_vectors(dst: *mut f32, n: usize, mut step: impl FnMut(usize, u16)) {
    let mut i = dst.align_offset(64).min(V - 1).min(n);
    if i > 0 {
        step(0, lanes(i));
    }
    while i + V <= n {
        step(i, u16::MAX);
        i += V;
    }
    if i < n {
        step(i, lanes(n - i));
    }
}

/// The transpose of a 16x16 block held as 16 row vectors: `out[j][i] =
/// r[i][j]` (32-bit, then 64-bit interleaves within 128-bit lanes, then
/// 128-bit blocks across the four groups of four rows).
#[target_feature(enable = "avx512f,avx512vl")]
#[inline]
pub(super) fn transpose_regs(r: [__m512; 16]) -> [__m512; 16] {
    // 32-bit, then 64-bit interleaves within 128-bit lanes ...
    let mut u = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        u[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        u[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let mut v = [_mm512_setzero_ps(); 16];
    for i in 0..4 {
        let (a0, a1, b0, b1) = (u[4 * i], u[4 * i + 1], u[4 * i + 2], u[4 * i + 3]);
        v[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a0), _mm512_castps_pd(b0)));
        v[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a0), _mm512_castps_pd(b0)));
        v[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a1), _mm512_castps_pd(b1)));
        v[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a1), _mm512_castps_pd(b1)));
    }
    // ... then 128-bit blocks across the four groups of four rows.
    let mut w = [_mm512_setzero_ps(); 16];
    for i in 0..4 {
        let (a, b) = (v[i], v[4 + i]);
        let (c, d) = (v[8 + i], v[12 + i]);
        let ab_lo = _mm512_shuffle_f32x4::<0x44>(a, b); // a0 a1 b0 b1
        let ab_hi = _mm512_shuffle_f32x4::<0xEE>(a, b); // a2 a3 b2 b3
        let cd_lo = _mm512_shuffle_f32x4::<0x44>(c, d);
        let cd_hi = _mm512_shuffle_f32x4::<0xEE>(c, d);
        w[i] = _mm512_shuffle_f32x4::<0x88>(ab_lo, cd_lo); // a0 b0 c0 d0
        w[4 + i] = _mm512_shuffle_f32x4::<0xDD>(ab_lo, cd_lo); // a1 b1 c1 d1
        w[8 + i] = _mm512_shuffle_f32x4::<0x88>(ab_hi, cd_hi); // a2 b2 c2 d2
        w[12 + i] = _mm512_shuffle_f32x4::<0xDD>(ab_hi, cd_hi); // a3 b3 c3 d3
    }
    w
}
