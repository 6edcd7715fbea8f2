//! The portable backend's kernels: the ones written once over the vector
//! width (`kernels/generic/`) instantiated on [`Lanes4`] (`[f32; 4]`
//! operated lane by lane) with no target feature, so they build for any
//! target. The compiler vectorises the lanes where the target has vectors
//! (one SSE2 register a vector on baseline x86-64, wasm's `simd128`);
//! elsewhere (thumbv7em, a RISC-V without V) they are scalar loops in the
//! kernels' register-tiled order.
//!
//! Four lanes and AVX2's tiles (at most 12 accumulators, beside the
//! operands in 16 registers) measured faster on baseline x86-64 than
//! `[f32; 8]` (two SSE2 registers a vector, whose accumulators the compiler
//! spilled) with tiles of 6 or 4 accumulators, and than 4 lanes with
//! smaller tiles (docs/performance.md). The one exception is the
//! channels-last weight gradient (`conv_dw_t`): 2 taps a tile, not 3,
//! since SSE2's two-operand multiplies need a copy of the broadcast
//! input and 12 accumulators beside 4 loaded vectors spilled one.
//!
//! The functions are `unsafe` for their raw pointers alone; only the safe
//! entry points of [`crate::kernels`] call them, after checking every
//! length. The instance is written by
//! [`instance!`](crate::kernels::generic::instance::instance).
#![allow(clippy::too_many_arguments)]

use super::simd::Lanes;

/// The portable kernels' vectors: 4 lanes.
pub(crate) type Lanes4 = Lanes<4>;

crate::kernels::generic::instance::instance! {
    token: Lanes4::default(),
    // 2 samples x 6 outputs (12 accumulators).
    dense_forward: <2>,
    // 6 outputs x 8 samples (2 vectors: 12 accumulators).
    dense_forward_packed: <6>,
    // 6 rows x 2 vectors.
    bcast_gemm: <6, 2, 6, 2>,
    // 4 channels x 2 segments, then 2 x 4, then 1 x 6.
    conv_batch: <4, 2, 4, 6>,
    // No channels-last tiles.
    conv_cl: <0>,
    // 4 channels x 2 taps, or 1 x 9.
    conv_dw_batch: <4, 2, 9>,
    // 2 taps x 16 channels (4 vectors: 8 accumulators; AVX2's 3 taps spill
    // on SSE2).
    conv_dw_t: <2, 4>,
    // Four vectors of 4 lanes a plane.
    lane_sums4: <4>,
}

/// `dst[p·dst_p + k] = src[k·src_k + p]` for `k < 16`, `p < n`: 16 planes
/// transposed to channels-last, 8 positions at a time.
///
/// # Safety
/// `src` readable at `k·src_k + p`, `dst` writable at `p·dst_p + k`.
pub(crate) unsafe fn transpose16(src: *const f32, src_k: usize, n: usize, dst: *mut f32, dst_p: usize) {
    let mut p0 = 0;
    while p0 < n {
        let m = (n - p0).min(8);
        let mut block = [[0.0f32; 16]; 8];
        for k in 0..16 {
            for (q, row) in block.iter_mut().enumerate().take(m) {
                // SAFETY: the caller's contract: k < 16, p0 + q < n.
                row[k] = unsafe { *src.add(k * src_k + p0 + q) };
            }
        }
        for (q, row) in block.iter().enumerate().take(m) {
            // SAFETY: the caller's contract: p0 + q < n, 16 floats.
            unsafe { dst.add((p0 + q) * dst_p).cast::<[f32; 16]>().write_unaligned(*row) };
        }
        p0 += 8;
    }
}
