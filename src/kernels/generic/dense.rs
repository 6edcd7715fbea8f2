//! Dense products over [`Compute`]: dot-product tiles (forward, `y = x Wᵀ`),
//! broadcast tiles (weight and input gradients), the packed-batch forward
//! tile. The AVX-512 backend's `avx512/dense.rs` with the vector width a
//! parameter and the register tiles chosen by the backend (its register
//! count decides them: 16 for AVX2, 32 for AVX-512).

use crate::kernels::MAX_PARTS;
use crate::kernels::compute::Compute;

/// `y[r·y_r + c] = start[c] + Σ_{k<n} a[r·a_r + k] · b[c·b_c + k]` for
/// `r < MB`, `c < NB`: both operands contiguous in `k`; the last partial
/// vector of `k` is masked.
///
/// # Safety
/// `a` rows and `b` rows readable for `n` floats; the outputs writable.
#[inline(always)]
unsafe fn dot_tile<S: Compute, const MB: usize, const NB: usize>(
    s: S,
    n: usize,
    (a, a_r): (*const f32, usize),
    (b, b_c): (*const f32, usize),
    bias: Option<*const f32>,
    (y, y_r): (*mut f32, usize),
) {
    let v = S::LANES;
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mut acc = [[s.zero(); NB]; MB];
        let full = n / v * v;
        let mut k = 0;
        while k < full {
            let av: [S::F; MB] = core::array::from_fn(|r| s.loadp(a.add(r * a_r + k)));
            for c in 0..NB {
                let bv = s.loadp(b.add(c * b_c + k));
                for r in 0..MB {
                    acc[r][c] = s.fma(av[r], bv, acc[r][c]);
                }
            }
            k += v;
        }
        if full < n {
            let m = n - full;
            let av: [S::F; MB] = core::array::from_fn(|r| s.load_n(a.add(r * a_r + k), m));
            for c in 0..NB {
                let bv = s.load_n(b.add(c * b_c + k), m);
                for r in 0..MB {
                    acc[r][c] = s.fma(av[r], bv, acc[r][c]);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (c, x) in row.iter().enumerate() {
                let s0 = bias.map_or(0.0, |p| *p.add(c));
                *y.add(r * y_r + c) = s0 + s.reduce_add(*x);
            }
        }
    }
}

/// `*y = start + Σ_{k<n} a[k] · b[k]`, one dot product: four accumulators
/// over consecutive vectors of `k`, summed pairwise at the end.
///
/// # Safety
/// `a` and `b` readable for `n` floats, `y` writable.
#[inline(always)]
unsafe fn dot_one<S: Compute>(s: S, n: usize, a: *const f32, b: *const f32, bias: Option<*const f32>, y: *mut f32) {
    let v = S::LANES;
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mut acc = [s.zero(); 4];
        let mut k = 0;
        while k + 4 * v <= n {
            for (q, x) in acc.iter_mut().enumerate() {
                *x = s.fma(s.loadp(a.add(k + q * v)), s.loadp(b.add(k + q * v)), *x);
            }
            k += 4 * v;
        }
        // The last one to four vectors, the last one masked.
        for x in acc.iter_mut() {
            if k < n {
                *x = s.fma(s.load_n(a.add(k), n - k), s.load_n(b.add(k), n - k), *x);
                k += v;
            }
        }
        let sum = s.add(s.add(acc[0], acc[1]), s.add(acc[2], acc[3]));
        *y = bias.map_or(0.0, |p| *p) + s.reduce_add(sum);
    }
}

/// `y[s][o] = bias[o] + Σ_i x[s][i] · w[o][i]` for `n` samples (row-major
/// `x`, `w`, `y`), in tiles of `SB` samples x 6 outputs (the last outputs
/// 4 or 2 at a time); a single output is [`dot_one`] for each sample, so a
/// sample's output does not depend on where it sits in the batch.
///
/// # Safety
/// `x` holds `n*n_in`, `w` `n_out*n_in`, `y` `n*n_out` floats, `bias` (if any) `n_out`.
#[inline(always)]
pub(crate) unsafe fn dense_forward<S: Compute, const SB: usize>(
    s: S,
    (n, n_in, n_out): (usize, usize, usize),
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
        let (wo, bo) = ((w.wrapping_add(o0 * n_in), n_in), bias.map(|b| b.wrapping_add(o0)));
        let mut s0 = 0;
        while s0 < n {
            let (xs, ys) = ((x.wrapping_add(s0 * n_in), n_in), (y.wrapping_add(s0 * n_out + o0), n_out));
            let sb = if n - s0 >= SB && nb > 1 { SB } else { 1 };
            // SAFETY: the caller's contract; the tile stays inside the arrays.
            unsafe {
                match (sb == SB && SB > 1, nb) {
                    (true, 6) => dot_tile::<S, SB, 6>(s, n_in, xs, wo, bo, ys),
                    (true, 4) => dot_tile::<S, SB, 4>(s, n_in, xs, wo, bo, ys),
                    (true, 2) => dot_tile::<S, SB, 2>(s, n_in, xs, wo, bo, ys),
                    (_, 6) => dot_tile::<S, 1, 6>(s, n_in, xs, wo, bo, ys),
                    (_, 4) => dot_tile::<S, 1, 4>(s, n_in, xs, wo, bo, ys),
                    (_, 2) => dot_tile::<S, 1, 2>(s, n_in, xs, wo, bo, ys),
                    _ => dot_one(s, n_in, xs.0, wo.0, bo, ys.0),
                }
            }
            s0 += sb;
        }
        o0 += nb;
    }
}

/// `c[r·c_r + i] (+)= Σ_{(a, b) in parts} Σ_{k<kdim} a[r·a_r + k·a_k] · b[k·b_k + i]`
/// for `r < RB` and `i` in `IV` vectors from 0 (the last one holding
/// `last` columns): `b`'s rows contiguous in `i`, `a`'s elements broadcast;
/// the parts summed in order. With `accumulate` the sum is added to `c`.
///
/// # Safety
/// Every part's `a` readable at every `(r, k)`, its `b` rows readable at
/// the columns of the `IV` vectors; `c` likewise writable.
#[inline(always)]
unsafe fn bcast_tile<S: Compute, const RB: usize, const IV: usize>(
    s: S,
    kdim: usize,
    parts: &[(*const f32, *const f32)],
    (a_r, a_k, b_k): (usize, usize, usize),
    (c, c_r): (*mut f32, usize),
    last: usize,
    accumulate: bool,
) {
    let v = S::LANES;
    let cols = |q: usize| if q + 1 == IV { last } else { v };
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mut acc = [[s.zero(); IV]; RB];
        for &(a, b) in parts {
            for k in 0..kdim {
                let bv: [S::F; IV] = core::array::from_fn(|q| {
                    let p = b.add(k * b_k + q * v);
                    if q + 1 == IV && last < v { s.load_n(p, last) } else { s.loadp(p) }
                });
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = s.bcast(a.add(r * a_r + k * a_k));
                    for (x, bv) in row.iter_mut().zip(&bv) {
                        *x = s.fma(av, *bv, *x);
                    }
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (q, x) in row.iter().enumerate() {
                let p = c.add(r * c_r + q * v);
                let out = if accumulate { s.add(*x, s.load_n(p, cols(q))) } else { *x };
                s.store_n(p, cols(q), out);
            }
        }
    }
}

/// `c[r][i] (+)= Σ_{(a, b) in parts} Σ_{k<kdim} a[r·a_r + k·a_k] · b[k·b_k + i]`
/// for `rows` rows and `cols` columns (`c` rows `c_r` apart), each tile
/// summing the parts in order in its registers. `rows_outer` picks the
/// loop order (row blocks outside: `c` streams once; column strips
/// outside: a strip of `b` is reused by every row block). Tiles are `R1 x
/// C1` vectors, or `R2 x C2` with rows outside and at least `R2` rows.
///
/// # Safety
/// `1 <= parts.len() <= MAX_PARTS`; every part's `a[r, k]`, `b[k][0..cols]`
/// readable, `c[r][0..cols]` writable.
#[inline(always)]
pub(crate) unsafe fn bcast_gemm<S: Compute, const R1: usize, const C1: usize, const R2: usize, const C2: usize>(
    s: S,
    (rows, cols, kdim): (usize, usize, usize),
    parts: &[(*const f32, *const f32)],
    (a_r, a_k, b_k): (usize, usize, usize),
    (c, c_r): (*mut f32, usize),
    accumulate: bool,
    rows_outer: bool,
) {
    debug_assert!((1..=MAX_PARTS).contains(&parts.len()));
    let v = S::LANES;
    let nvec = cols.div_ceil(v);
    if nvec == 0 {
        return;
    }
    let last = cols - (nvec - 1) * v;
    if let [(a, b)] = *parts
        && kdim == 1
    {
        // A one-long sum: each row of `c` is a row of `b` scaled (the FMA
        // into +0 is the tiles' too: a bare product would give -0 for 0·(-x)).
        for r in 0..rows {
            // SAFETY: the caller's contract; the loads and stores are masked to the row.
            unsafe {
                let (av, cr) = (s.bcast(a.add(r * a_r)), c.add(r * c_r));
                for q in 0..nvec {
                    let m = if q + 1 == nvec { last } else { v };
                    let mut out = s.fma(av, s.load_n(b.add(q * v), m), s.zero());
                    if accumulate {
                        out = s.add(out, s.load_n(cr.add(q * v), m));
                    }
                    s.store_n(cr.add(q * v), m, out);
                }
            }
        }
        return;
    }
    let strides = (a_r, a_k, b_k);
    // A plain function, not a closure: a closure here would be compiled
    // without the backend's target features and its intrinsics not inlined.
    let tile = |r0: usize, rb: usize, v0: usize, iv: usize| TileAt { r0, rb, v0, iv };
    let (rt, ct) = if rows_outer && rows >= R2 { (R2, C2) } else { (R1, C1) };
    let row_step = |r0: usize| if rows - r0 >= rt { rt } else { 1 };
    let col_step = |v0: usize| if nvec - v0 >= ct { ct } else { 1 };
    if rows_outer {
        let mut r0 = 0;
        while r0 < rows {
            let rb = row_step(r0);
            let mut v0 = 0;
            while v0 < nvec {
                let iv = col_step(v0);
                // SAFETY: the caller's contract; the tile stays inside the arrays.
                unsafe {
                    gemm_tile::<S, R1, C1, R2, C2>(
                        s,
                        tile(r0, rb, v0, iv),
                        (nvec, last),
                        parts,
                        strides,
                        (c, c_r),
                        (kdim, accumulate),
                    )
                };
                v0 += iv;
            }
            r0 += rb;
        }
    } else {
        let mut v0 = 0;
        while v0 < nvec {
            let iv = col_step(v0);
            let mut r0 = 0;
            while r0 < rows {
                let rb = row_step(r0);
                // SAFETY: the caller's contract; the tile stays inside the arrays.
                unsafe {
                    gemm_tile::<S, R1, C1, R2, C2>(
                        s,
                        tile(r0, rb, v0, iv),
                        (nvec, last),
                        parts,
                        strides,
                        (c, c_r),
                        (kdim, accumulate),
                    )
                };
                r0 += rb;
            }
            v0 += iv;
        }
    }
}

/// `yᵀ` tile of a dense layer over a batch packed as `xt[i][s]` (samples
/// contiguous, rows `xt_i` apart): `y[s][o0+o] = start[o] + Σ_i w[o0+o][i]
/// · xt[i][s]` for `o < NB` and `s` in `SV` vectors (the last holding
/// `last` samples): `w` broadcast, `xt` loaded.
///
/// # Safety
/// `w` rows `0..NB` readable for `n_in` floats; `xt` rows readable at the
/// samples; `y` writable at the valid samples.
#[inline(always)]
unsafe fn packed_tile<S: Compute, const NB: usize, const SV: usize>(
    s: S,
    n_in: usize,
    (w, bias): (*const f32, Option<*const f32>),
    (xt, xt_i): (*const f32, usize),
    last: usize,
    (y, n_out): (*mut f32, usize),
) {
    let v = S::LANES;
    let count = |q: usize| if q + 1 == SV { last } else { v };
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mut acc = [[s.zero(); SV]; NB];
        for i in 0..n_in {
            let xv: [S::F; SV] = core::array::from_fn(|q| {
                let p = xt.add(i * xt_i + q * v);
                if count(q) < v { s.load_n(p, count(q)) } else { s.loadp(p) }
            });
            for (o, row) in acc.iter_mut().enumerate() {
                let wv = s.bcast(w.add(o * n_in + i));
                for (a, x) in row.iter_mut().zip(&xv) {
                    *a = s.fma(wv, *x, *a);
                }
            }
        }
        let mut lane = [0.0f32; 16];
        for (o, row) in acc.iter().enumerate() {
            let b = bias.map_or(0.0, |p| *p.add(o));
            for (q, a) in row.iter().enumerate() {
                s.storep(lane.as_mut_ptr(), *a);
                for (l, &x) in lane[..count(q)].iter().enumerate() {
                    *y.add((q * v + l) * n_out + o) = b + x;
                }
            }
        }
    }
}

/// A dense layer's forward pass over a batch of `n` samples whose inputs
/// were transposed into `xt` (`n_in x n`, samples contiguous): tiles of
/// `NB` outputs x 2 vectors of samples, the weights broadcast.
///
/// # Safety
/// `LANES <= 16`; `xt` holds `n_in*n`, `w` `n_out*n_in`, `y` `n*n_out`
/// floats, `bias` (if any) `n_out`.
#[inline(always)]
pub(crate) unsafe fn dense_forward_packed<S: Compute, const NB: usize>(
    s: S,
    (n, n_in, n_out): (usize, usize, usize),
    xt: *const f32,
    w: *const f32,
    bias: Option<*const f32>,
    y: *mut f32,
) {
    let v = S::LANES;
    debug_assert!(v <= 16);
    let nvec = n.div_ceil(v);
    if nvec == 0 {
        return;
    }
    let last = n - (nvec - 1) * v;
    let mut o0 = 0;
    while o0 < n_out {
        let nb = if n_out - o0 >= NB { NB } else { 1 };
        let wb = (w.wrapping_add(o0 * n_in), bias.map(|b| b.wrapping_add(o0)));
        let mut v0 = 0;
        while v0 < nvec {
            let sv = if nvec - v0 >= 2 { 2 } else { 1 };
            let m = if v0 + sv == nvec { last } else { v };
            let (xs, ys) = ((xt.wrapping_add(v0 * v), n), (y.wrapping_add(v0 * v * n_out + o0), n_out));
            // SAFETY: the caller's contract; the tile stays inside the arrays.
            unsafe {
                match (nb == NB, sv) {
                    (true, 2) => packed_tile::<S, NB, 2>(s, n_in, wb, xs, m, ys),
                    (true, _) => packed_tile::<S, NB, 1>(s, n_in, wb, xs, m, ys),
                    (_, 2) => packed_tile::<S, 1, 2>(s, n_in, wb, xs, m, ys),
                    _ => packed_tile::<S, 1, 1>(s, n_in, wb, xs, m, ys),
                }
            }
            v0 += sv;
        }
        o0 += nb;
    }
}

/// Where a tile of [`bcast_gemm`] sits: rows `r0..r0+rb`, vectors `v0..v0+iv`.
#[derive(Clone, Copy)]
struct TileAt {
    r0: usize,
    rb: usize,
    v0: usize,
    iv: usize,
}

/// One tile of [`bcast_gemm`], its shape picked among the backend's.
///
/// # Safety
/// As [`bcast_gemm`], for the tile's rows and columns.
#[inline(always)]
unsafe fn gemm_tile<S: Compute, const R1: usize, const C1: usize, const R2: usize, const C2: usize>(
    s: S,
    TileAt { r0, rb, v0, iv }: TileAt,
    (nvec, last): (usize, usize),
    parts: &[(*const f32, *const f32)],
    (a_r, a_k, b_k): (usize, usize, usize),
    (c, c_r): (*mut f32, usize),
    (kdim, accumulate): (usize, bool),
) {
    let v = S::LANES;
    let m = if v0 + iv == nvec { last } else { v };
    let mut at = [(core::ptr::null(), core::ptr::null()); MAX_PARTS];
    for (t, &(a, b)) in at.iter_mut().zip(parts) {
        *t = (a.wrapping_add(r0 * a_r), b.wrapping_add(v0 * v));
    }
    let (p, cr) = (&at[..parts.len()], (c.wrapping_add(r0 * c_r + v0 * v), c_r));
    let strides = (a_r, a_k, b_k);
    // SAFETY: the caller's contract; the tile stays inside the arrays.
    unsafe {
        if rb == R1 && iv == C1 {
            bcast_tile::<S, R1, C1>(s, kdim, p, strides, cr, m, accumulate)
        } else if rb == R1 {
            bcast_tile::<S, R1, 1>(s, kdim, p, strides, cr, m, accumulate)
        } else if rb == R2 && iv == C2 {
            bcast_tile::<S, R2, C2>(s, kdim, p, strides, cr, m, accumulate)
        } else if rb == R2 {
            bcast_tile::<S, R2, 1>(s, kdim, p, strides, cr, m, accumulate)
        } else if iv == C1 {
            bcast_tile::<S, 1, C1>(s, kdim, p, strides, cr, m, accumulate)
        } else if iv == C2 {
            bcast_tile::<S, 1, C2>(s, kdim, p, strides, cr, m, accumulate)
        } else {
            bcast_tile::<S, 1, 1>(s, kdim, p, strides, cr, m, accumulate)
        }
    }
}
