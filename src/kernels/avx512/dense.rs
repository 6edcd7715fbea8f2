//! Dense products: dot-product tiles (forward, `y = x Wᵀ`), broadcast
//! tiles (weight and input gradients), the packed-batch forward tile, and
//! the 16-plane transpose that packs a batch.

use super::vec::*;
use crate::kernels::MAX_PARTS;
use core::arch::x86_64::*;

/// `y[r·y_r + c·y_c] = start[c] + Σ_{k<n} a[r·a_r + k] · b[c·b_c + k]` for
/// `r < MB`, `c < NB`: both operands contiguous in `k`; the last partial
/// vector of `k` is masked.
///
/// # Safety
/// AVX-512F; `a` rows and `b` rows readable for `n` floats; the outputs writable.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn dot_tile<const MB: usize, const NB: usize>(
    n: usize,
    a: *const f32,
    a_r: usize,
    b: *const f32,
    b_c: usize,
    bias: Option<*const f32>,
    y: *mut f32,
    y_r: usize,
    y_c: usize,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); NB]; MB];
        let full = n / V * V;
        let mut k = 0;
        while k < full {
            let av: [__m512; MB] = core::array::from_fn(|r| _mm512_loadu_ps(a.add(r * a_r + k)));
            for c in 0..NB {
                let bv = _mm512_loadu_ps(b.add(c * b_c + k));
                for r in 0..MB {
                    acc[r][c] = _mm512_fmadd_ps(av[r], bv, acc[r][c]);
                }
            }
            k += V;
        }
        if full < n {
            let m = lanes(n - full);
            let av: [__m512; MB] = core::array::from_fn(|r| _mm512_maskz_loadu_ps(m, a.add(r * a_r + k)));
            for c in 0..NB {
                let bv = _mm512_maskz_loadu_ps(m, b.add(c * b_c + k));
                for r in 0..MB {
                    acc[r][c] = _mm512_fmadd_ps(av[r], bv, acc[r][c]);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let s0 = match bias {
                    Some(p) => *p.add(c),
                    None => 0.0,
                };
                *y.add(r * y_r + c * y_c) = s0 + _mm512_reduce_add_ps(*v);
            }
        }
    }
}

/// `*y = start + Σ_{k<n} a[k] · b[k]`, one dot product: four
/// accumulators over consecutive vectors of `k` (one would be a chain of
/// dependent FMAs, 4 cycles each), summed pairwise at the end.
///
/// # Safety
/// AVX-512F; `a` and `b` readable for `n` floats, `y` writable.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn dot_one(n: usize, a: *const f32, b: *const f32, bias: Option<*const f32>, y: *mut f32) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let fma = |acc: __m512, k: usize, m: u16| {
            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a.add(k)), _mm512_maskz_loadu_ps(m, b.add(k)), acc)
        };
        let (mut a0, mut a1, mut a2, mut a3) =
            (_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps());
        let mut k = 0;
        while k + 4 * V <= n {
            a0 = fma(a0, k, u16::MAX);
            a1 = fma(a1, k + V, u16::MAX);
            a2 = fma(a2, k + 2 * V, u16::MAX);
            a3 = fma(a3, k + 3 * V, u16::MAX);
            k += 4 * V;
        }
        // The last one to four vectors, the last one masked.
        let tail = [&mut a0, &mut a1, &mut a2, &mut a3];
        for acc in tail {
            if k < n {
                *acc = fma(*acc, k, lanes(n - k));
                k += V;
            }
        }
        let sum = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        *y = bias.map_or(0.0, |p| *p) + _mm512_reduce_add_ps(sum);
    }
}

/// `c[r·c_r + i] (+)= Σ_{(a, b) in parts} Σ_{k<kdim} a[r·a_r + k·a_k] · b[k·b_k + i]`
/// for `r < RB` and `i` in `IV` vectors from 0 (the last one masked by
/// `last`): `b`'s rows are contiguous in `i`, `a`'s elements are broadcast;
/// the parts (a batch's samples held in several buffers) are summed in
/// order, as one sum over `parts.len()·kdim` terms. With `accumulate` the
/// sum is added to `c`, otherwise it overwrites it.
///
/// # Safety
/// AVX-512F; every part's `a` readable at every `(r, k)`, its `b` rows
/// readable at the (masked) lanes of the `IV` vectors; `c` likewise writable.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn bcast_tile<const RB: usize, const IV: usize>(
    kdim: usize,
    parts: &[(*const f32, *const f32)],
    a_r: usize,
    a_k: usize,
    b_k: usize,
    c: *mut f32,
    c_r: usize,
    last: u16,
    accumulate: bool,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mask = |v: usize| if v + 1 == IV { last } else { u16::MAX };
        let mut acc = [[_mm512_setzero_ps(); IV]; RB];
        for &(a, b) in parts {
            for k in 0..kdim {
                let bv: [__m512; IV] = core::array::from_fn(|v| _mm512_maskz_loadu_ps(mask(v), b.add(k * b_k + v * V)));
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*a.add(r * a_r + k * a_k));
                    for (x, bv) in row.iter_mut().zip(&bv) {
                        *x = _mm512_fmadd_ps(av, *bv, *x);
                    }
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                let p = c.add(r * c_r + v * V);
                let out = if accumulate { _mm512_add_ps(*x, _mm512_maskz_loadu_ps(mask(v), p)) } else { *x };
                _mm512_mask_storeu_ps(p, mask(v), out);
            }
        }
    }
}

/// `y[s][o] = bias[o] + Σ_i x[s][i] · w[o][i]` for `n` samples, `n_in`
/// inputs and `n_out` outputs (row-major `x`, `w`, `y`): a dense layer's
/// forward pass over a batch, in tiles of 4 samples x 6 outputs (the last
/// outputs 4 or 2 at a time, then 1: a one-output tile is a chain of
/// dependent FMAs, so fashion10's 10 outputs are 6 + 4, not 6 + 1 + 1 + 1 + 1).
/// A single output is [`dot_one`] for each sample, four chains (the same
/// bits wherever the sample sits in the batch, as every other tile gives).
///
/// # Safety
/// AVX-512F; `x` holds `n*n_in`, `w` `n_out*n_in`, `y` `n*n_out` floats,
/// `bias` (if any) `n_out`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn dense_forward(
    n: usize,
    n_in: usize,
    n_out: usize,
    x: *const f32,
    w: *const f32,
    bias: Option<*const f32>,
    y: *mut f32,
) {
    let mut o0 = 0;
    while o0 < n_out {
        let nb = match n_out - o0 {
            6.. => 6,
            4 | 5 => 4,
            2 | 3 => 2,
            _ => 1,
        };
        let (wo, bo) = (w.wrapping_add(o0 * n_in), bias.map(|b| b.wrapping_add(o0)));
        let mut s0 = 0;
        while s0 < n {
            let (xs, ys) = (x.wrapping_add(s0 * n_in), y.wrapping_add(s0 * n_out + o0));
            // One output: every sample alone in `dot_one`, so that a
            // sample's output does not depend on where it sits in the batch.
            let sb = if n - s0 >= 4 && nb > 1 { 4 } else { 1 };
            // SAFETY: the caller's contract; the tile stays inside the arrays.
            unsafe {
                match (sb, nb) {
                    (4, 6) => dot_tile::<4, 6>(n_in, xs, n_in, wo, n_in, bo, ys, n_out, 1),
                    (4, 4) => dot_tile::<4, 4>(n_in, xs, n_in, wo, n_in, bo, ys, n_out, 1),
                    (4, 2) => dot_tile::<4, 2>(n_in, xs, n_in, wo, n_in, bo, ys, n_out, 1),
                    (_, 6) => dot_tile::<1, 6>(n_in, xs, n_in, wo, n_in, bo, ys, n_out, 1),
                    (_, 4) => dot_tile::<1, 4>(n_in, xs, n_in, wo, n_in, bo, ys, n_out, 1),
                    (_, 2) => dot_tile::<1, 2>(n_in, xs, n_in, wo, n_in, bo, ys, n_out, 1),
                    _ => dot_one(n_in, xs, wo, bo, ys),
                }
            }
            s0 += sb;
        }
        o0 += nb;
    }
}

/// `c[r][i] (+)= Σ_{k<kdim} a[r·a_r + k·a_k] · b[k·b_k + i]` for `rows`
/// rows and `cols` columns (`c` rows `c_r` apart): a dense layer's weight
/// gradient (`r` = output, `k` = sample) and input gradient (`r` = sample,
/// `k` = output). `rows_outer` picks the loop order: row blocks outside
/// (stream `c` once) or column strips outside (reuse a strip of `b` across
/// the row blocks). Tiles are 4 rows x 96 columns, except rows outside with
/// 8 rows or more: 8 x 48. For the weight gradient the taller tile reads
/// each `b` row (an input sample, from the L2 cache) once per 8 outputs
/// instead of 4: tfconv's 3136 x 1024 gradient at B = 32 took 11–14 % less
/// time than with 4 x 96 tiles, measured side by side; the input gradient
/// was no faster, and a one-output layer (one row: seed1's) is faster with
/// the wider tile (fewer tile calls). A one-long sum (`kdim == 1`: one
/// sample's weight gradient) skips the tiles: each row of `c` is then a
/// scaled row of `b`.
///
/// # Safety
/// AVX-512F; every `a[r, k]`, `b[k][0..cols]` readable, `c[r][0..cols]` writable.
#[cfg(test)]
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn bcast_gemm(
    rows: usize,
    cols: usize,
    kdim: usize,
    a: *const f32,
    a_r: usize,
    a_k: usize,
    b: *const f32,
    b_k: usize,
    c: *mut f32,
    c_r: usize,
    accumulate: bool,
    rows_outer: bool,
) {
    // SAFETY: the caller's contract.
    unsafe { bcast_gemm_parts(rows, cols, kdim, &[(a, b)], a_r, a_k, b_k, c, c_r, accumulate, rows_outer) }
}

/// `bcast_gemm` (its one-part form) over a sum split into parts held in separate buffers:
/// `c[r][i] (+)= Σ_{(a, b) in parts} Σ_{k<kdim} a[r·a_r + k·a_k] ·
/// b[k·b_k + i]`, each tile summing the parts in order in its registers (a
/// data-parallel trainer's shards: one pass over `c` for all of them, the
/// sum in the order of one buffer holding them all).
///
/// # Safety
/// AVX-512F; `1 <= parts.len() <= MAX_PARTS`; every part's `a[r, k]`,
/// `b[k][0..cols]` readable, `c[r][0..cols]` writable.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn bcast_gemm_parts(
    rows: usize,
    cols: usize,
    kdim: usize,
    parts: &[(*const f32, *const f32)],
    a_r: usize,
    a_k: usize,
    b_k: usize,
    c: *mut f32,
    c_r: usize,
    accumulate: bool,
    rows_outer: bool,
) {
    debug_assert!((1..=MAX_PARTS).contains(&parts.len()));
    let nvec = cols.div_ceil(V);
    if nvec == 0 {
        return;
    }
    let last = lanes(cols - (nvec - 1) * V);
    if let [(a, b)] = *parts
        && kdim == 1
    {
        // A one-long sum (one sample's weight gradient; the input gradient
        // of a single output row): each row of `c` is a row of `b` scaled,
        // `a·b (+ c)`, the tiles' operations without their set-up. (The FMA
        // into +0 is the tiles' too: a bare product would give -0 for 0·(-x).)
        for r in 0..rows {
            // SAFETY: the caller's contract; the loads and stores are masked to the row.
            unsafe {
                let (av, cr) = (_mm512_set1_ps(*a.add(r * a_r)), c.add(r * c_r));
                for v in 0..nvec {
                    let m = if v + 1 == nvec { last } else { u16::MAX };
                    let bv = _mm512_maskz_loadu_ps(m, b.add(v * V));
                    let mut out = _mm512_fmadd_ps(av, bv, _mm512_setzero_ps());
                    if accumulate {
                        out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(m, cr.add(v * V)));
                    }
                    _mm512_mask_storeu_ps(cr.add(v * V), m, out);
                }
            }
        }
        return;
    }
    let tile = |r0: usize, rb: usize, v0: usize, iv: usize| {
        let m = if v0 + iv == nvec { last } else { u16::MAX };
        let mut at = [(core::ptr::null(), core::ptr::null()); MAX_PARTS];
        for (t, &(a, b)) in at.iter_mut().zip(parts) {
            *t = (a.wrapping_add(r0 * a_r), b.wrapping_add(v0 * V));
        }
        let (p, cr) = (&at[..parts.len()], c.wrapping_add(r0 * c_r + v0 * V));
        // SAFETY: the caller's contract; the tile stays inside the arrays.
        unsafe {
            match (rb, iv) {
                (4, 6) => bcast_tile::<4, 6>(kdim, p, a_r, a_k, b_k, cr, c_r, m, accumulate),
                (4, _) => bcast_tile::<4, 1>(kdim, p, a_r, a_k, b_k, cr, c_r, m, accumulate),
                (_, 6) => bcast_tile::<1, 6>(kdim, p, a_r, a_k, b_k, cr, c_r, m, accumulate),
                (8, 3) => bcast_tile::<8, 3>(kdim, p, a_r, a_k, b_k, cr, c_r, m, accumulate),
                (8, _) => bcast_tile::<8, 1>(kdim, p, a_r, a_k, b_k, cr, c_r, m, accumulate),
                (_, 3) => bcast_tile::<1, 3>(kdim, p, a_r, a_k, b_k, cr, c_r, m, accumulate),
                _ => bcast_tile::<1, 1>(kdim, p, a_r, a_k, b_k, cr, c_r, m, accumulate),
            }
        }
    };
    let (rt, ct) = if rows_outer && rows >= 8 { (8, 3) } else { (4, 6) };
    let row_step = |r0: usize| if rows - r0 >= rt { rt } else { 1 };
    let col_step = |v0: usize| if nvec - v0 >= ct { ct } else { 1 };
    if rows_outer {
        // Each block of rows of `c` is finished before the next: `c` streams
        // through once, row by row (the weight gradient: 12.8 MB for tfconv).
        let mut r0 = 0;
        while r0 < rows {
            let rb = row_step(r0);
            let mut v0 = 0;
            while v0 < nvec {
                let iv = col_step(v0);
                tile(r0, rb, v0, iv);
                v0 += iv;
            }
            r0 += rb;
        }
    } else {
        // Each column strip of `b` is reused by every block of rows while it
        // is in the L2 cache (the input gradient: `b` is the weights).
        let mut v0 = 0;
        while v0 < nvec {
            let iv = col_step(v0);
            let mut r0 = 0;
            while r0 < rows {
                let rb = row_step(r0);
                tile(r0, rb, v0, iv);
                r0 += rb;
            }
            v0 += iv;
        }
    }
}

/// `yᵀ` tile of a dense layer over a batch packed as `xt[i][s]` (samples
/// contiguous, `ns` of them, rows `xt_i` apart): `y[s0+s][o0+o] =
/// start[o] + Σ_i w[o0+o][i] · xt[i][s0+s]` for `o < NB` and `s` in `SV`
/// vectors from `s0` (the last masked by `last`): `w` broadcast, `xt`
/// loaded, so each weight is read once per tile of `16*SV` samples.
///
/// # Safety
/// AVX-512F; `w` rows `o0..o0+NB` readable for `n_in` floats; `xt` rows
/// readable at the masked lanes; `y` writable at the valid samples.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn packed_tile<const NB: usize, const SV: usize>(
    n_in: usize,
    w: *const f32,
    bias: Option<*const f32>,
    xt: *const f32,
    xt_i: usize,
    last: u16,
    y: *mut f32,
    n_out: usize,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mask = |v: usize| if v + 1 == SV { last } else { u16::MAX };
        let mut acc = [[_mm512_setzero_ps(); SV]; NB];
        for i in 0..n_in {
            let xv: [__m512; SV] = core::array::from_fn(|v| _mm512_maskz_loadu_ps(mask(v), xt.add(i * xt_i + v * V)));
            for (o, row) in acc.iter_mut().enumerate() {
                let wv = _mm512_set1_ps(*w.add(o * n_in + i));
                for (a, x) in row.iter_mut().zip(&xv) {
                    *a = _mm512_fmadd_ps(wv, *x, *a);
                }
            }
        }
        let mut lane = [0.0f32; V];
        for (o, row) in acc.iter().enumerate() {
            let b = match bias {
                Some(p) => *p.add(o),
                None => 0.0,
            };
            for (v, a) in row.iter().enumerate() {
                _mm512_storeu_ps(lane.as_mut_ptr(), *a);
                let n = (mask(v) as u32).count_ones() as usize;
                for (l, &x) in lane[..n].iter().enumerate() {
                    *y.add((v * V + l) * n_out + o) = b + x;
                }
            }
        }
    }
}

/// A dense layer's forward pass over a batch of `n >= 16` samples whose
/// inputs were transposed into `xt` (`n_in x n`, samples contiguous): tiles
/// of 12 outputs x 32 samples (24 accumulators), the weights broadcast and
/// streamed once per 32 samples.
///
/// # Safety
/// AVX-512F; `xt` holds `n_in*n`, `w` `n_out*n_in`, `y` `n*n_out` floats,
/// `bias` (if any) `n_out`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn dense_forward_packed(
    n: usize,
    n_in: usize,
    n_out: usize,
    xt: *const f32,
    w: *const f32,
    bias: Option<*const f32>,
    y: *mut f32,
) {
    let nvec = n.div_ceil(V);
    let last = lanes(n - (nvec - 1) * V);
    let mut o0 = 0;
    while o0 < n_out {
        let nb = if n_out - o0 >= 12 { 12 } else { 1 };
        let (wo, bo) = (w.wrapping_add(o0 * n_in), bias.map(|b| b.wrapping_add(o0)));
        let mut v0 = 0;
        while v0 < nvec {
            let sv = if nvec - v0 >= 2 { 2 } else { 1 };
            let m = if v0 + sv == nvec { last } else { u16::MAX };
            let (xs, ys) = (xt.wrapping_add(v0 * V), y.wrapping_add(v0 * V * n_out + o0));
            // SAFETY: the caller's contract; the tile stays inside the arrays.
            unsafe {
                match (nb, sv) {
                    (12, 2) => packed_tile::<12, 2>(n_in, wo, bo, xs, n, m, ys, n_out),
                    (12, _) => packed_tile::<12, 1>(n_in, wo, bo, xs, n, m, ys, n_out),
                    (_, 2) => packed_tile::<1, 2>(n_in, wo, bo, xs, n, m, ys, n_out),
                    _ => packed_tile::<1, 1>(n_in, wo, bo, xs, n, m, ys, n_out),
                }
            }
            v0 += sv;
        }
        o0 += nb;
    }
}

/// `dst[p·dst_p + k] = src[k·src_k + p]` for `k < 16`, `p < n`: 16 planes
/// transposed to channels-last, 16x16 blocks in registers.
///
/// # Safety
/// AVX-512F; `src` readable at `k·src_k + p`, `dst` writable at `p·dst_p + k`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn transpose16(src: *const f32, src_k: usize, n: usize, dst: *mut f32, dst_p: usize) {
    // SAFETY: the caller's contract; loads and stores are masked to p < n.
    unsafe {
        let mut p0 = 0;
        while p0 < n {
            let m = lanes(n - p0);
            let r: [__m512; 16] = core::array::from_fn(|k| _mm512_maskz_loadu_ps(m, src.add(k * src_k + p0)));
            let w = transpose_regs(r);
            for (q, wq) in w.iter().enumerate().take((n - p0).min(16)) {
                _mm512_storeu_ps(dst.add((p0 + q) * dst_p), *wq);
            }
            p0 += 16;
        }
    }
}
