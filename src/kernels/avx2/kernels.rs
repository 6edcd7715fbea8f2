//! The AVX2 backend's kernels: the ones written once over the vector width
//! (`kernels/generic/`) instantiated on [`Avx2`] with AVX2's register
//! tiles (16 `ymm` registers: at most 12 accumulators a tile, so that the
//! operands fit beside them), and the 16-plane transpose, hand-written
//! with AVX2's shuffles.
//!
//! Every function is `unsafe` with `#[target_feature(enable = "avx2,fma")]`
//! and takes raw pointers; only the safe entry points of [`crate::kernels`]
//! call them, after checking the CPU (once per process) and every length.
#![allow(clippy::too_many_arguments)]

use super::simd::Avx2;
use crate::kernels::AdamConsts;
use crate::kernels::generic::{self, RawBatch, RawGeom, RawStart};
use core::arch::x86_64::*;

/// The token, for the functions below (each is `#[target_feature]`, and
/// its caller guarantees AVX2 and FMA).
#[inline(always)]
fn t() -> Avx2 {
    // SAFETY: every caller is an AVX2 function called on an AVX2 CPU.
    unsafe { Avx2::new() }
}

/// [`generic::dense::dense_forward`], tiles of 2 samples x 6 outputs (12 accumulators).
///
/// # Safety
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn dense_forward(
    dims: (usize, usize, usize),
    x: *const f32,
    w: *const f32,
    bias: Option<*const f32>,
    y: *mut f32,
) {
    // SAFETY: the caller's contract.
    unsafe { generic::dense::dense_forward::<_, 2>(t(), dims, x, w, bias, y) }
}

/// [`generic::dense::dense_forward_packed`], tiles of 6 outputs x 16 samples.
///
/// # Safety
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn dense_forward_packed(
    dims: (usize, usize, usize),
    xt: *const f32,
    w: *const f32,
    bias: Option<*const f32>,
    y: *mut f32,
) {
    // SAFETY: the caller's contract.
    unsafe { generic::dense::dense_forward_packed::<_, 6>(t(), dims, xt, w, bias, y) }
}

/// [`generic::dense::bcast_gemm`], tiles of 6 rows x 2 vectors (12
/// accumulators, 2 loads and a broadcast beside them; 4 x 3 took all 16
/// registers and kept an accumulator on the stack).
///
/// # Safety
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn bcast_gemm(
    dims: (usize, usize, usize),
    parts: &[(*const f32, *const f32)],
    strides: (usize, usize, usize),
    c: (*mut f32, usize),
    accumulate: bool,
    rows_outer: bool,
) {
    // SAFETY: the caller's contract.
    unsafe { generic::dense::bcast_gemm::<_, 6, 2, 6, 2>(t(), dims, parts, strides, c, accumulate, rows_outer) }
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

/// [`generic::conv::conv_batch`], tiles of 6 channels x 2 segments (12
/// accumulators; 4 x 3 kept one on the stack), then 2 x 4.
///
/// # Safety
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn conv_batch(g: &RawGeom, out_c: usize, batch: &RawBatch, start: RawStart) {
    // SAFETY: the caller's contract.
    unsafe { generic::conv::conv_batch::<_, 4, 2, 4, 6>(t(), g, out_c, batch, start) }
}

/// [`generic::conv_grad::conv_dw_batch`], tiles of 4 channels x 2 taps, or 1 x 9.
///
/// # Safety
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn conv_dw_batch(g: &RawGeom, out_c: usize, batch: &RawBatch, dw: *mut f32) {
    // SAFETY: the caller's contract.
    unsafe { generic::conv_grad::conv_dw_batch::<_, 4, 2, 9>(t(), g, out_c, batch, dw) }
}

/// [`generic::conv_grad::conv_dw_t`], tiles of 6 taps x 16 channels.
///
/// # Safety
/// AVX2 and FMA; as the generic kernel (`out_c` a multiple of 16).
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn conv_dw_t(
    g: &RawGeom,
    taps: core::ops::Range<usize>,
    x: *const f32,
    hw: (usize, usize),
    dyt: (*const f32, usize),
    dwt: *mut f32,
) {
    // SAFETY: the caller's contract.
    unsafe { generic::conv_grad::conv_dw_t::<_, 6, 2>(t(), g, taps, x, hw, dyt, dwt) }
}

/// [`generic::pool::maxpool2_forward`].
///
/// # Safety
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn maxpool2_forward(dims: (usize, usize, usize), x: *const f32, relu: bool, y: *mut f32) {
    // SAFETY: the caller's contract.
    unsafe { generic::pool::maxpool2_forward(t(), dims, x, relu, y) }
}

/// [`generic::pool::maxpool2_backward`].
///
/// # Safety
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
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
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn pad_planes(src: *const f32, chw_p: (usize, usize, usize, usize), dst: *mut f32, slack: usize) {
    // SAFETY: the caller's contract.
    unsafe { generic::elementwise::pad_planes(t(), src, chw_p, dst, slack) }
}

/// [`generic::elementwise::relu_forward`].
///
/// # Safety
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn relu_forward(x: *const f32, y: *mut f32, n: usize) {
    // SAFETY: the caller's contract.
    unsafe { generic::elementwise::relu_forward(t(), x, y, n) }
}

/// [`generic::elementwise::relu_backward`].
///
/// # Safety
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn relu_backward(y: *const f32, dy: *const f32, dx: *mut f32, n: usize) {
    // SAFETY: the caller's contract.
    unsafe { generic::elementwise::relu_backward(t(), y, dy, dx, n) }
}

/// [`generic::elementwise::lane_sums4`], two vectors of 8 lanes a plane.
///
/// # Safety
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn lane_sums4(x: *const f32, len: usize, np: usize, full: usize) -> [[f32; 16]; 4] {
    // SAFETY: the caller's contract.
    unsafe { generic::elementwise::lane_sums4::<_, 2>(t(), x, len, np, full) }
}

/// [`generic::elementwise::all_within`].
///
/// # Safety
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn all_within(x: *const f32, n: usize, limit: f32) -> bool {
    // SAFETY: the caller's contract.
    unsafe { generic::elementwise::all_within(t(), x, n, limit) }
}

/// [`generic::elementwise::sgd_update`].
///
/// # Safety
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn sgd_update(pgv: (*mut f32, *const f32, Option<*mut f32>), n: usize, lr: f32, mu: f32) {
    // SAFETY: the caller's contract.
    unsafe { generic::elementwise::sgd_update(t(), pgv, n, lr, mu) }
}

/// [`generic::elementwise::adam_update`].
///
/// # Safety
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn adam_update(pgmv: (*mut f32, *const f32, *mut f32, *mut f32), n: usize, k: AdamConsts) {
    // SAFETY: the caller's contract.
    unsafe { generic::elementwise::adam_update(t(), pgmv, n, k) }
}

/// [`generic::conv::conv_pool_batch`].
///
/// # Safety
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
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
/// AVX2 and FMA; as the generic kernel.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn maxpool2_backward_routes(
    dims: (usize, usize, usize),
    routes: (*const u8, usize, usize),
    dy: *const f32,
    dx: *mut f32,
) {
    // SAFETY: the caller's contract.
    unsafe { generic::pool::maxpool2_backward_routes(t(), dims, routes, dy, dx) }
}
