//! 2x2 max-pooling forward and backward (with a fused ReLU), and the
//! routes a pooling convolution stores for the backward pass.

use super::vec::*;
use crate::kernels::{ROUTE_BYTES, Route};
use core::arch::x86_64::*;

/// The first of each window's inputs equal to its maximum, row-major: the
/// masks of the windows whose top-left, top-right, bottom-left and
/// bottom-right input equals it, each window kept in its first mask only
/// (the rule of [`maxpool2_backward`] and of the [`Route`]s).
#[inline(always)]
pub(super) fn first_max([tl, tr, bl, br]: Route) -> Route {
    let tr = tr & !tl;
    let bl = bl & !(tl | tr);
    [tl, tr, bl, br & !(tl | tr | bl)]
}

/// The ReLU a 2x2 max-pool runs before it, fused ([`maxpool2_forward`],
/// [`maxpool2_backward`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum RawPoolRelu {
    /// No ReLU: the windows of the input itself.
    Absent,
    /// A ReLU applied in registers: its output is not stored (forward), and
    /// only its input gradient is, not the pooling's (backward).
    Apply,
}

/// 2x2 max-pooling (stride 2, ceil mode) of `planes` planes of `h x w`
/// into `oh x ow` (`oh = ceil(h/2)`, `ow = ceil(w/2)`): the maximum of each
/// window, missing rows and columns of edge windows left out.
///
/// With [`RawPoolRelu::Apply`], a ReLU comes first, fused: the windows are
/// those of `max(x, 0)` (the bits [`relu_forward`](super::elementwise::relu_forward) writes).
///
/// # Safety
/// AVX-512F; `x` holds `planes*h*w` floats, `y` `planes*oh*ow`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn maxpool2_forward(
    planes: usize,
    h: usize,
    w: usize,
    x: *const f32,
    relu: RawPoolRelu,
    y: *mut f32,
) {
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    // SAFETY: the caller's contract; every load and store is masked to its row.
    unsafe {
        let (ie, io) = (_mm512_loadu_si512(EVEN.as_ptr().cast()), _mm512_loadu_si512(ODD.as_ptr().cast()));
        let ninf = _mm512_set1_ps(f32::NEG_INFINITY);
        let zero = _mm512_setzero_ps();
        let src = x;
        let apply = matches!(relu, RawPoolRelu::Apply);
        // A row's 32 columns from `c0`.
        let row = |off: usize, m0: u16, m1: u16| {
            let (lo, hi) = (
                _mm512_mask_loadu_ps(ninf, m0, src.wrapping_add(off)),
                _mm512_mask_loadu_ps(ninf, m1, src.wrapping_add(off + 16)),
            );
            if apply { (_mm512_max_ps(lo, zero), _mm512_max_ps(hi, zero)) } else { (lo, hi) }
        };
        for p in 0..planes {
            let yp = y.add(p * oh * ow);
            // Column strips of 32 outside the rows: the masks are computed
            // once a strip (the loop was bound by its instructions).
            let mut c0 = 0;
            while c0 < w {
                let (m0, m1, o0) = (cols(c0, w), cols(c0 + 16, w), c0 / 2);
                let mo = cols(o0, ow);
                for oy in 0..oh {
                    let r0 = p * h * w + 2 * oy * w + c0;
                    let (mut lo, mut hi) = row(r0, m0, m1);
                    if 2 * oy + 1 < h {
                        let (lo1, hi1) = row(r0 + w, m0, m1);
                        lo = _mm512_max_ps(lo, lo1);
                        hi = _mm512_max_ps(hi, hi1);
                    }
                    let even = _mm512_permutex2var_ps(lo, ie, hi);
                    let odd = _mm512_permutex2var_ps(lo, io, hi);
                    _mm512_mask_storeu_ps(yp.add(oy * ow + o0), mo, _mm512_max_ps(even, odd));
                }
                c0 += 32;
            }
        }
    }
}

/// Backward of [`maxpool2_forward`]: each `dy` goes to the first input of
/// its window (row-major) equal to the window's maximum `y`; every other
/// `dx` is zero.
///
/// With [`RawPoolRelu::Apply`], the backward pass of a ReLU before the
/// pooling is fused: `x` is the ReLU's input (or its output: the same
/// bits), and `dx` receives the ReLU's input gradient, `dy` routed where
/// the input is positive, and the pooling's gradient is not stored. (The first input equal to a positive maximum
///   is the same in `x` as in the ReLU's output, and where the maximum is
///   0 no gradient passes the ReLU.) The input a window routes to equals
///   its maximum, so it is positive exactly where the maximum is: one
///   compare per window zeroes `dy` where the maximum is not positive,
///   instead of a compare of every input.
///
/// The lanes are windows, 16 a strip of 32 columns: each input row is split
/// into the windows' left and right columns, so the first-maximum rule is a
/// few mask operations per row. (With the columns as lanes it took about
/// 30 scalar bit operations a row, and the pass 1.05–1.2x the time; docs/performance.md, "Max-pool backward with the windows as lanes".)
///
/// # Safety
/// AVX-512F; `x`, `dx` hold `planes*h*w` floats, `y`, `dy` `planes*oh*ow`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn maxpool2_backward(
    planes: usize,
    h: usize,
    w: usize,
    x: *const f32,
    y: *const f32,
    dy: *const f32,
    dx: *mut f32,
    relu: RawPoolRelu,
) {
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    // SAFETY: the caller's contract; every load and store is masked to its row.
    unsafe {
        let (ie, io) = (_mm512_loadu_si512(EVEN.as_ptr().cast()), _mm512_loadu_si512(ODD.as_ptr().cast()));
        let (apply, zero) = (matches!(relu, RawPoolRelu::Apply), _mm512_setzero_ps());
        // A row's 32 columns from `off`, as the windows' left (even) and
        // right (odd) columns, each compared with the windows' maxima.
        let eq = |off: usize, (m0, m1): (u16, u16), m: __m512, (left, right): (u16, u16)| {
            let (lo, hi) =
                (_mm512_maskz_loadu_ps(m0, x.wrapping_add(off)), _mm512_maskz_loadu_ps(m1, x.wrapping_add(off + 16)));
            let (l, r) = (_mm512_permutex2var_ps(lo, ie, hi), _mm512_permutex2var_ps(lo, io, hi));
            (_mm512_mask_cmp_ps_mask::<_CMP_EQ_OQ>(left, l, m), _mm512_mask_cmp_ps_mask::<_CMP_EQ_OQ>(right, r, m))
        };
        let window = |p: usize, c0: usize, oy: usize, m01: (u16, u16), lr: (u16, u16)| {
            let i = p * oh * ow + oy * ow + c0 / 2;
            let (m, mut g) = (_mm512_maskz_loadu_ps(lr.0, y.add(i)), _mm512_maskz_loadu_ps(lr.0, dy.add(i)));
            // The input a window routes to equals its maximum, so it
            // is positive where the maximum is: one ReLU mask a window.
            if apply {
                g = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(m, zero), g);
            }
            // The first input equal to the maximum, row-major:
            // top-left, top-right, bottom-left, bottom-right.
            let top = p * h * w + 2 * oy * w + c0;
            let (tl, tr) = eq(top, m01, m, lr);
            let (bl, br) = if 2 * oy + 1 < h { eq(top + w, m01, m, lr) } else { (0, 0) };
            (g, first_max([tl, tr, bl, br]))
        };
        pool2_scatter(planes, h, w, dx, window);
    }
}

/// Backward of [`conv_pool_batch`](super::conv::conv_pool_batch)'s ReLU and pooling, from the
/// [`Route`]s it stored: each `dy` goes to the input of its window the
/// route names (none where no mask has the window), every other `dx` is zero;
/// the bits of [`maxpool2_backward`] with [`RawPoolRelu::Apply`] from the
/// outputs the routes were taken from, without reading them.
///
/// The records are [`conv_pool_batch`](super::conv::conv_pool_batch)'s: the planes in groups of
/// `per_sample` (a sample's channels), each group's records from the
/// group's first byte, `r_sample` bytes apart.
///
/// # Safety
/// AVX-512F; `w <= 32`; `dx` holds `planes*h*w` floats, `dy`
/// `planes*oh*ow`, and `routes` `oh` [`Route`] records for each of
/// `per_sample` planes at each multiple of `r_sample`, for every group.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn maxpool2_backward_routes(
    planes: usize,
    h: usize,
    w: usize,
    (routes, per_sample, r_sample): (*const u8, usize, usize),
    dy: *const f32,
    dx: *mut f32,
) {
    debug_assert!(w <= 2 * V && per_sample > 0);
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    // SAFETY: the caller's contract; the loads of `dy` are masked to its rows.
    unsafe {
        let window = |p: usize, _c0: usize, oy: usize, _m01: (u16, u16), (left, _): (u16, u16)| {
            let record = routes.add(p / per_sample * r_sample + (p % per_sample * oh + oy) * ROUTE_BYTES);
            let g = _mm512_maskz_loadu_ps(left, dy.add((p * oh + oy) * ow));
            (g, record.cast::<Route>().read_unaligned())
        };
        pool2_scatter(planes, h, w, dx, window);
    }
}

/// The stores of a 2x2 max-pool's backward pass: for each plane `p`, strip
/// of 32 columns from `c0` and window row `oy`, `window(p, c0, oy, (m0,
/// m1), (left, right))` gives the gradients of the strip's 16 windows
/// (lanes: the columns masks of the strip's two vectors, the windows
/// with a left and with a right column) and the masks of the windows whose
/// top-left, top-right, bottom-left and bottom-right input receives it;
/// the two input rows are stored, woven back into columns (every other
/// `dx` of the rows zero).
///
/// # Safety
/// AVX-512F; `dx` holds `planes*h*w` floats.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn pool2_scatter(
    planes: usize,
    h: usize,
    w: usize,
    dx: *mut f32,
    mut window: impl FnMut(usize, usize, usize, (u16, u16), (u16, u16)) -> (__m512, [u16; 4]),
) {
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    // SAFETY: the caller's contract; every store is masked to its row.
    unsafe {
        let (il, ih) = (_mm512_loadu_si512(WEAVE_LO.as_ptr().cast()), _mm512_loadu_si512(WEAVE_HI.as_ptr().cast()));
        // The gradient `g` on the windows' left columns `l` and right
        // columns `r`, woven back into the row's 32 columns at `off`.
        let store = |off: usize, (m0, m1): (u16, u16), g: __m512, l: u16, r: u16| {
            let (gl, gr) = (_mm512_maskz_mov_ps(l, g), _mm512_maskz_mov_ps(r, g));
            _mm512_mask_storeu_ps(dx.wrapping_add(off), m0, _mm512_permutex2var_ps(gl, il, gr));
            _mm512_mask_storeu_ps(dx.wrapping_add(off + 16), m1, _mm512_permutex2var_ps(gl, ih, gr));
        };
        for p in 0..planes {
            // Column strips of 32 (16 windows) outside the rows, as in the
            // forward pass; the windows are lanes, with or without a right column.
            let mut c0 = 0;
            while c0 < w {
                let m01 = (cols(c0, w), cols(c0 + 16, w));
                let lr = (cols(c0 / 2, ow), lanes((w - c0) / 2));
                for oy in 0..oh {
                    let (g, [tl, tr, bl, br]) = window(p, c0, oy, m01, lr);
                    let top = p * h * w + 2 * oy * w + c0;
                    store(top, m01, g, tl, tr);
                    if 2 * oy + 1 < h {
                        store(top + w, m01, g, bl, br);
                    }
                }
                c0 += 32;
            }
        }
    }
}
