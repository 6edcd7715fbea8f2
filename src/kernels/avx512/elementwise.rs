//! Element-wise kernels: zero padding, ReLU forward and backward, the
//! lane sums of a convolution's bias gradient, and the divergence check.

use super::vec::*;
use core::arch::x86_64::*;

/// AVX-512 form of `conv2d::pad_planes`: `c` planes of `h x w` from `src`
/// into `dst` with `p` zeros on every side, then `slack` zeros.
///
/// # Safety
/// AVX-512F; `src` holds `c*h*w` floats, `dst` `c*(h+2p)*(w+2p) + slack`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn pad_planes(src: *const f32, c: usize, h: usize, w: usize, p: usize, dst: *mut f32, slack: usize) {
    let (rw, rows) = (w + 2 * p, h + 2 * p);
    // SAFETY: the caller's contract; every store stays inside the padded
    // planes and the slack, every load is masked to its source row (the
    // pointers to masked-out lanes are formed with `wrapping_*`).
    unsafe {
        let zero = _mm512_setzero_ps();
        // Zeros over `n` floats from `d`.
        let zeros = |d: *mut f32, n: usize| {
            let mut k = 0;
            while k < n {
                _mm512_mask_storeu_ps(d.add(k), lanes(n - k), zero);
                k += V;
            }
        };
        let mut d = dst;
        let plane = rows * rw;
        for ch in 0..c {
            // The top and bottom padding rows.
            zeros(d, p * rw);
            zeros(d.add((p + h) * rw), p * rw);
            // The padded rows a strip of 16 columns at a time, each vector
            // one load masked to the source columns under it (zeros in the
            // padding) and one store; the masks once a strip.
            let (s, rd) = (src.add(ch * h * w).wrapping_sub(p), d.add(p * rw));
            let mut c0 = 0;
            while c0 < rw {
                let (lo, hi) = (p.saturating_sub(c0), (p + w).saturating_sub(c0));
                let (load, store) = (lanes(hi) & !lanes(lo), lanes(rw - c0));
                for r in 0..h {
                    let v = _mm512_maskz_loadu_ps(load, s.wrapping_add(r * w + c0));
                    _mm512_mask_storeu_ps(rd.add(r * rw + c0), store, v);
                }
                c0 += V;
            }
            d = d.add(plane);
        }
        zeros(d, slack);
    }
}

/// `y = max(x, 0)` over `n` floats (NaN gives 0, as `f32::max` does).
///
/// The stores are aligned to 64 bytes ([`aligned_vectors`]).
///
/// # Safety
/// AVX-512F; `x` readable and `y` writable for `n` floats.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn relu_forward(x: *const f32, y: *mut f32, n: usize) {
    let zero = _mm512_setzero_ps();
    aligned_vectors(y, n, |i, m| {
        // SAFETY: the caller's contract; `i` and the mask stay inside the span.
        unsafe { _mm512_mask_storeu_ps(y.add(i), m, _mm512_max_ps(_mm512_maskz_loadu_ps(m, x.add(i)), zero)) }
    });
}

/// `dx = dy` where `y > 0`, else `0`, over `n` floats, the stores aligned
/// as [`relu_forward`]'s.
///
/// # Safety
/// AVX-512F; `y`, `dy` readable and `dx` writable for `n` floats.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn relu_backward(y: *const f32, dy: *const f32, dx: *mut f32, n: usize) {
    let zero = _mm512_setzero_ps();
    aligned_vectors(dx, n, |i, m| {
        // SAFETY: the caller's contract; `i` and the mask stay inside the span.
        unsafe {
            let pos = _mm512_mask_cmp_ps_mask::<_CMP_GT_OQ>(m, _mm512_maskz_loadu_ps(m, y.add(i)), zero);
            _mm512_mask_storeu_ps(dx.add(i), m, _mm512_maskz_mov_ps(pos, _mm512_maskz_loadu_ps(m, dy.add(i))));
        }
    });
}

/// The lane sums of up to four planes `len` floats apart: `out[p][l] =
/// Σ_k x[p·len + 16k + l]` over the first `full` floats of plane `p < np`
/// (a multiple of 16), one vector accumulator per plane, the four
/// independent (what `math::sum` does for one plane, in the same order).
///
/// # Safety
/// AVX-512F; `np <= 4`; planes `0..np` readable for `full` floats.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn lane_sums4(x: *const f32, len: usize, np: usize, full: usize) -> [[f32; V]; 4] {
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut out = [[0.0; V]; 4];
    // SAFETY: the caller's contract; only planes below `np` are read.
    unsafe {
        let mut k = 0;
        while k < full {
            for (p, a) in acc.iter_mut().enumerate().take(np) {
                *a = _mm512_add_ps(*a, _mm512_loadu_ps(x.add(p * len + k)));
            }
            k += V;
        }
        for (a, o) in acc.iter().zip(out.iter_mut()) {
            _mm512_storeu_ps(o.as_mut_ptr(), *a);
        }
    }
    out
}

/// Whether every one of the `n` floats at `x` has `|x| <= limit` (NaN
/// never does): four vectors a step, the failing lanes of each compare
/// (`NLE`, unordered: true for NaN) ORed into a mask; the tail masked.
///
/// # Safety
/// AVX-512F; `x` readable for `n` floats.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn all_within(x: *const f32, n: usize, limit: f32) -> bool {
    let lim = _mm512_set1_ps(limit);
    let mut bad = [0u16; 4];
    // SAFETY: the caller's contract; the tail's loads are masked to the `n` floats.
    unsafe {
        let beyond = |m: u16, p: *const f32| {
            _mm512_mask_cmp_ps_mask::<_CMP_NLE_UQ>(m, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, p)), lim)
        };
        let mut k = 0;
        while k + 4 * V <= n {
            for (j, b) in bad.iter_mut().enumerate() {
                *b |= beyond(u16::MAX, x.add(k + j * V));
            }
            k += 4 * V;
        }
        while k < n {
            bad[0] |= beyond(lanes(n - k), x.add(k));
            k += V;
        }
    }
    bad == [0; 4]
}
