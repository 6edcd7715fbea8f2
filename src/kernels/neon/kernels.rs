//! The NEON backend's kernels: the ones written once over the vector width
//! (`kernels/generic/`) instantiated on [`Neon`] with tiles for NEON's 32
//! `v` registers of 4 lanes (at most 24 accumulators a tile, so that the
//! operands fit beside them), and the 16-plane transpose, hand-written
//! with NEON's `trn` shuffles.
//!
//! Every function is `unsafe` with `#[target_feature(enable = "neon")]`
//! and takes raw pointers; only the safe entry points of [`crate::kernels`]
//! call them, after checking every length. The pooling convolution
//! ([`conv_pool_batch`]) takes rows of at most 8 vectors: 32 outputs here
//! (the entry point declines wider rows). The instance is written by
//! [`instance!`](crate::kernels::generic::instance::instance).
#![allow(clippy::too_many_arguments)]

use super::simd::Neon;
use core::arch::aarch64::*;

/// The token, for the functions below (each is `#[target_feature]`, and
/// its caller guarantees NEON).
#[inline(always)]
fn t() -> Neon {
    // SAFETY: every caller is a NEON function called on a NEON CPU.
    unsafe { Neon::new() }
}

crate::kernels::generic::instance::instance! {
    #[target_feature(enable = "neon")]
    token: t(),
    // 4 samples x 6 outputs (24 accumulators, 4 inputs and a weight vector beside them).
    dense_forward: <4>,
    // 8 outputs x 8 samples (16 accumulators).
    dense_forward_packed: <8>,
    // 6 rows x 4 vectors (24 accumulators, 4 loads and a broadcast beside them).
    bcast_gemm: <6, 4, 6, 4>,
    // 6 channels x 4 segments of 4 outputs (24 accumulators, 4 input loads
    // and a weight broadcast beside them), then 2 x 8, then one channel by
    // rows or 1 x 12.
    conv_batch: <6, 4, 8, 12>,
    // No channels-last tiles (not measured on NEON hardware).
    conv_cl: <0>,
    // 4 channels x 4 taps (16 accumulators), or 1 x 9.
    conv_dw_batch: <4, 4, 9>,
    // 6 taps x 16 channels (4 vectors: 24 accumulators).
    conv_dw_t: <6, 4>,
    // Four vectors of 4 lanes a plane.
    lane_sums4: <4>,
}

/// `dst[p·dst_p + k] = src[k·src_k + p]` for `k < 16`, `p < n`: 16 planes
/// transposed to channels-last, 4x4 blocks in registers (`vtrn` of 32-bit
/// lanes, then of 64-bit halves).
///
/// # Safety
/// NEON; `src` readable at `k·src_k + p`, `dst` writable at `p·dst_p + k`.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn transpose16(src: *const f32, src_k: usize, n: usize, dst: *mut f32, dst_p: usize) {
    use crate::kernels::compute::Compute;
    let s = t();
    // SAFETY: the caller's contract; the loads are limited to p < n, the
    // stores made for p < n only.
    unsafe {
        let mut p0 = 0;
        while p0 < n {
            let m = n - p0;
            for k0 in [0, 4, 8, 12] {
                let r: [float32x4_t; 4] = core::array::from_fn(|k| s.load_n(src.add((k0 + k) * src_k + p0), m));
                // r0 = a0 a1 a2 a3, r1 = b0.., r2 = c0.., r3 = d0..
                let (t0, t1) = (vtrn1q_f32(r[0], r[1]), vtrn2q_f32(r[0], r[1])); // a0 b0 a2 b2 / a1 b1 a3 b3
                let (t2, t3) = (vtrn1q_f32(r[2], r[3]), vtrn2q_f32(r[2], r[3])); // c0 d0 c2 d2 / c1 d1 c3 d3
                let h = |a: float32x4_t| vreinterpretq_f64_f32(a);
                let c = |a: float64x2_t| vreinterpretq_f32_f64(a);
                let o = [
                    c(vtrn1q_f64(h(t0), h(t2))),
                    c(vtrn1q_f64(h(t1), h(t3))),
                    c(vtrn2q_f64(h(t0), h(t2))),
                    c(vtrn2q_f64(h(t1), h(t3))),
                ];
                for (q, &v) in o.iter().enumerate().take(m.min(4)) {
                    vst1q_f32(dst.add((p0 + q) * dst_p + k0), v);
                }
            }
            p0 += 4;
        }
    }
}
