//! The NEON backend's kernels: the ones written once over the vector width
//! (`kernels/generic/`) instantiated on [`Neon`] with tiles for NEON's 32
//! `v` registers of 4 lanes (at most 24 accumulators a tile, so that the
//! operands fit beside them), and the 16-plane transpose, hand-written
//! with NEON's `trn` shuffles.
//!
//! Every function is `unsafe` with `#[target_feature(enable = "neon")]`
//! and takes raw pointers; only the safe entry points of [`crate::kernels`]
//! call them, after checking every length. The pooling convolution
//! ([`conv_pool_batch`]) takes rows of at most 4 vectors: 16 outputs here
//! (the entry point declines wider rows).
#![allow(clippy::too_many_arguments)]

use super::simd::Neon;
use crate::kernels::AdamConsts;
use crate::kernels::generic::{self, RawBatch, RawGeom, RawStart};
use core::arch::aarch64::*;

/// The token, for the functions below (each is `#[target_feature]`, and
/// its caller guarantees NEON).
#[inline(always)]
fn t() -> Neon {
    // SAFETY: every caller is a NEON function called on a NEON CPU.
    unsafe { Neon::new() }
}

/// [`generic::dense::dense_forward`], tiles of 4 samples x 6 outputs (24
/// accumulators, 4 inputs and a weight vector beside them).
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn dense_forward(
    dims: (usize, usize, usize),
    x: *const f32,
    w: *const f32,
    bias: Option<*const f32>,
    y: *mut f32,
) {
    // SAFETY: the caller's contract.
    unsafe { generic::dense::dense_forward::<_, 4>(t(), dims, x, w, bias, y) }
}

/// [`generic::dense::dense_forward_packed`], tiles of 8 outputs x 8 samples
/// (16 accumulators).
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn dense_forward_packed(
    dims: (usize, usize, usize),
    xt: *const f32,
    w: *const f32,
    bias: Option<*const f32>,
    y: *mut f32,
) {
    // SAFETY: the caller's contract.
    unsafe { generic::dense::dense_forward_packed::<_, 8>(t(), dims, xt, w, bias, y) }
}

/// [`generic::dense::bcast_gemm`], tiles of 6 rows x 4 vectors (24
/// accumulators, 4 loads and a broadcast beside them).
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn bcast_gemm(
    dims: (usize, usize, usize),
    parts: &[(*const f32, *const f32)],
    strides: (usize, usize, usize),
    c: (*mut f32, usize),
    accumulate: bool,
    rows_outer: bool,
) {
    // SAFETY: the caller's contract.
    unsafe { generic::dense::bcast_gemm::<_, 6, 4, 6, 4>(t(), dims, parts, strides, c, accumulate, rows_outer) }
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

/// [`generic::conv::conv_batch`], tiles of 6 channels x 4 segments of 4
/// outputs (24 accumulators, 4 input loads and a weight broadcast beside
/// them), then 2 x 8, then one channel by rows or 1 x 12.
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn conv_batch(g: &RawGeom, out_c: usize, batch: &RawBatch, start: RawStart) {
    // SAFETY: the caller's contract.
    unsafe { generic::conv::conv_batch::<_, 6, 4, 8, 12>(t(), g, out_c, batch, start) }
}

/// [`generic::conv_grad::conv_dw_batch`], tiles of 4 channels x 4 taps (16
/// accumulators), or 1 x 9.
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn conv_dw_batch(g: &RawGeom, out_c: usize, batch: &RawBatch, dw: *mut f32) {
    // SAFETY: the caller's contract.
    unsafe { generic::conv_grad::conv_dw_batch::<_, 4, 4, 9>(t(), g, out_c, batch, dw) }
}

/// [`generic::conv_grad::conv_dw_t`], tiles of 6 taps x 16 channels (4
/// vectors: 24 accumulators).
///
/// # Safety
/// NEON; as the generic kernel (`out_c` a multiple of 16).
#[target_feature(enable = "neon")]
pub(crate) unsafe fn conv_dw_t(
    g: &RawGeom,
    taps: core::ops::Range<usize>,
    x: *const f32,
    hw: (usize, usize),
    dyt: (*const f32, usize),
    dwt: *mut f32,
) {
    // SAFETY: the caller's contract.
    unsafe { generic::conv_grad::conv_dw_t::<_, 6, 4>(t(), g, taps, x, hw, dyt, dwt) }
}

/// [`generic::pool::maxpool2_forward`].
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn maxpool2_forward(dims: (usize, usize, usize), x: *const f32, relu: bool, y: *mut f32) {
    // SAFETY: the caller's contract.
    unsafe { generic::pool::maxpool2_forward(t(), dims, x, relu, y) }
}

/// [`generic::pool::maxpool2_backward`].
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn maxpool2_backward(
    dims: (usize, usize, usize),
    xydy: (*const f32, *const f32, *const f32),
    dx: *mut f32,
    relu: bool,
) {
    // SAFETY: the caller's contract.
    unsafe { generic::pool::maxpool2_backward(t(), dims, xydy, dx, relu) }
}

/// [`generic::elementwise::pad_planes`].
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn pad_planes(src: *const f32, chw_p: (usize, usize, usize, usize), dst: *mut f32, slack: usize) {
    // SAFETY: the caller's contract.
    unsafe { generic::elementwise::pad_planes(t(), src, chw_p, dst, slack) }
}

/// [`generic::elementwise::relu_forward`].
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn relu_forward(x: *const f32, y: *mut f32, n: usize) {
    // SAFETY: the caller's contract.
    unsafe { generic::elementwise::relu_forward(t(), x, y, n) }
}

/// [`generic::elementwise::relu_backward`].
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn relu_backward(y: *const f32, dy: *const f32, dx: *mut f32, n: usize) {
    // SAFETY: the caller's contract.
    unsafe { generic::elementwise::relu_backward(t(), y, dy, dx, n) }
}

/// [`generic::elementwise::lane_sums4`], four vectors of 4 lanes a plane.
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn lane_sums4(x: *const f32, len: usize, np: usize, full: usize) -> [[f32; 16]; 4] {
    // SAFETY: the caller's contract.
    unsafe { generic::elementwise::lane_sums4::<_, 4>(t(), x, len, np, full) }
}

/// [`generic::elementwise::all_within`].
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn all_within(x: *const f32, n: usize, limit: f32) -> bool {
    // SAFETY: the caller's contract.
    unsafe { generic::elementwise::all_within(t(), x, n, limit) }
}

/// [`generic::elementwise::sgd_update`].
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn sgd_update(pgv: (*mut f32, *const f32, Option<*mut f32>), n: usize, lr: f32, mu: f32) {
    // SAFETY: the caller's contract.
    unsafe { generic::elementwise::sgd_update(t(), pgv, n, lr, mu) }
}

/// [`generic::elementwise::adam_update`].
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn adam_update(pgmv: (*mut f32, *const f32, *mut f32, *mut f32), n: usize, k: AdamConsts) {
    // SAFETY: the caller's contract.
    unsafe { generic::elementwise::adam_update(t(), pgmv, n, k) }
}

/// [`generic::conv::conv_pool_batch`].
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn conv_pool_batch(
    g: &RawGeom,
    out_c: usize,
    batch: &RawBatch,
    start: RawStart,
    pooled: (*mut f32, usize),
    routes: bool,
) {
    // SAFETY: the caller's contract.
    unsafe { generic::conv::conv_pool_batch(t(), g, out_c, batch, start, pooled, routes) }
}

/// [`generic::pool::maxpool2_backward_routes`].
///
/// # Safety
/// NEON; as the generic kernel.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn maxpool2_backward_routes(
    dims: (usize, usize, usize),
    routes: (*const u8, usize, usize),
    dy: *const f32,
    dx: *mut f32,
) {
    // SAFETY: the caller's contract.
    unsafe { generic::pool::maxpool2_backward_routes(t(), dims, routes, dy, dx) }
}
