//! Depthwise 3x3 convolution, padding 1, stride 1 or 2 (MobileNet's
//! depthwise layer): forward, input gradient, weight and bias gradients,
//! written once over the vector width ([`Simd`]) and run by every backend
//! (the per-ISA instances are at the end of this file).
//!
//! Plane `p` of a sample is convolved with filter `p` alone (`w[p][m][n]`,
//! 9 floats a plane). The input arrives padded (planes of `(h+2) x (w+2)`,
//! as `GroupConv2d` caches it); the output is `oh x ow` with
//! `oh = (h-1)/s + 1`, `ow = (w-1)/s + 1`.
//!
//! ```text
//! y[i][j]   = b + sum_{m,n<3} w[m][n] · xp[s·i + m][s·j + n]
//! dx[u][v]  = sum_{m,n} w[m][n] · dy[i][j]    over s·i + m = u + 1, s·j + n = v + 1
//! dw[m][n] += sum_{i,j} dy[i][j] · xp[s·i + m][s·j + n],   db += sum_{i,j} dy[i][j]
//! ```
//!
//! A vector holds `LANES` outputs of a row and stays in a register over
//! the 9 taps (the reference loops run one pass over the row per tap).
//! Stride 2 computes a row's outputs at every column and keeps the even
//! ones ([`Simd::pair_sums`] of the masked lanes); its input gradient
//! interleaves the even and odd columns with [`Simd::spread`]. Forward
//! adds the taps in the reference loops' order (bias, then row by row,
//! tap by tap), so it gives their bits; the gradients sum in another order.

use super::simd::Simd;

/// A batch of depthwise 3x3 convolutions (padding 1).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Depthwise3 {
    /// Samples.
    pub n: usize,
    /// Channels (planes) a sample.
    pub c: usize,
    /// Input plane, unpadded: `h x w`.
    pub h: usize,
    /// See [`h`](Self::h).
    pub w: usize,
    /// 1 or 2.
    pub stride: usize,
    /// Floats from one sample's padded planes to the next
    /// (at least `c·(h+2)·(w+2)`).
    pub x_sample: usize,
}

impl Depthwise3 {
    /// The output plane `(oh, ow)`.
    pub(crate) fn out(&self) -> (usize, usize) {
        ((self.h.max(1) - 1) / self.stride + 1, (self.w.max(1) - 1) / self.stride + 1)
    }

    /// Floats of one padded plane.
    pub(crate) fn padded_plane(&self) -> usize {
        (self.h + 2) * (self.w + 2)
    }
}

/// Floats the kernels may read after each sample's last padded plane
/// (the zeros `PaddedInput` keeps there): whole-vector loads run past a
/// row's end by up to `2·LANES - 1` floats, into lanes whose results are
/// dropped (forward) or multiplied by zero (weight gradient).
pub(crate) const READ_PAST: usize = 32;

/// Up to `n <= LANES` floats of `row` from `start`, clipped at the row's
/// end, zeros in the other lanes.
#[inline(always)]
fn load_clip<S: Simd>(s: S, row: &[f32], start: usize, n: usize) -> S::F {
    let end = (start + n).min(row.len());
    if start >= end {
        s.splat(0.0)
    } else if end - start == S::LANES {
        s.load(&row[start..])
    } else {
        s.load_tail(&row[start..end])
    }
}

/// Stores the first `y.len() <= LANES` lanes of `v`.
#[inline(always)]
fn store_n<S: Simd>(s: S, y: &mut [f32], v: S::F) {
    if y.len() == S::LANES {
        s.store(y, v)
    } else if !y.is_empty() {
        s.store_tail(y, v)
    }
}

/// The sum of `v`'s lanes, in lane order.
#[inline(always)]
fn hsum<S: Simd>(s: S, v: S::F) -> f32 {
    let mut buf = [0.0; 64];
    s.store(&mut buf, v);
    buf[..S::LANES].iter().sum()
}

/// Float lanes 0, 1, 0, 1, …: the parity of each lane's index.
const PARITY: [f32; 64] = {
    let mut p = [0.0; 64];
    let mut i = 1;
    while i < 64 {
        p[i] = 1.0;
        i += 2;
    }
    p
};

/// All-ones bits in the even lanes, zeros in the odd ones (an `and` mask).
#[inline(always)]
fn even_bits<S: Simd>(s: S) -> S::F {
    s.select(even_mask(s), s.float(s.splat_i(-1)), s.splat(0.0))
}

/// The select mask of the even lanes.
#[inline(always)]
fn even_mask<S: Simd>(s: S) -> S::M {
    s.lt(s.load(&PARITY), s.splat(0.5))
}

/// A plane's 9 weights, splat. (No closure: a closure would not inherit
/// the caller's target features, and the intrinsics would not inline.)
#[inline(always)]
fn taps<S: Simd>(s: S, w: &[f32]) -> [S::F; 9] {
    let w: &[f32; 9] = w[..9].try_into().expect("9 weights");
    [
        s.splat(w[0]),
        s.splat(w[1]),
        s.splat(w[2]),
        s.splat(w[3]),
        s.splat(w[4]),
        s.splat(w[5]),
        s.splat(w[6]),
        s.splat(w[7]),
        s.splat(w[8]),
    ]
}

/// `y = ` the depthwise convolution of the batch's padded planes `xp`
/// with `w` (`c x 3 x 3`) plus `bias` (`c`, or zero). (The layer runs
/// other paths forward; the input gradient runs this loop.)
///
/// # Panics
/// If a slice is shorter than `d` says.
#[inline(always)]
pub(crate) fn forward<S: Simd>(s: S, d: &Depthwise3, w: &[f32], bias: Option<&[f32]>, xp: &[f32], y: &mut [f32]) {
    let (oh, ow) = d.out();
    let (pw, plane) = (d.w + 2, d.padded_plane());
    for b in 0..d.n {
        for ch in 0..d.c {
            // The plane, and what follows it to the sample's end (`READ_PAST`).
            let x = &xp[b * d.x_sample + ch * plane..b * d.x_sample + d.c * plane + READ_PAST];
            let yp = &mut y[(b * d.c + ch) * oh * ow..][..oh * ow];
            let wt = taps(s, &w[ch * 9..ch * 9 + 9]);
            let b0 = s.splat(bias.map_or(0.0, |b| b[ch]));
            let mut i = 0;
            while i < oh {
                let rows = &mut yp[i * ow..];
                if d.stride == 1 && oh - i >= 4 {
                    forward_rows::<S, 4, 1>(s, &wt, b0, x, pw, i, rows, ow);
                    i += 4;
                } else if d.stride == 2 && oh - i >= 2 {
                    forward_rows::<S, 2, 2>(s, &wt, b0, x, pw, i, rows, ow);
                    i += 2;
                } else if d.stride == 1 {
                    forward_rows::<S, 1, 1>(s, &wt, b0, x, pw, i, rows, ow);
                    i += 1;
                } else {
                    forward_rows::<S, 1, 2>(s, &wt, b0, x, pw, i, rows, ow);
                    i += 1;
                }
            }
        }
    }
}

/// `R` output rows from row `i` of one plane at stride `ST` (`y` from the
/// first of them). Each output adds its taps in the reference loops'
/// order (row `m`, then column `n`). At stride 2 a vector pair covers the
/// columns from `2j`, and the even ones are kept. Loads are whole vectors:
/// lanes past a row's end read the next row or [`READ_PAST`] and are
/// never stored.
#[inline(always)]
fn forward_rows<S: Simd, const R: usize, const ST: usize>(
    s: S,
    wt: &[S::F; 9],
    b0: S::F,
    x: &[f32],
    pw: usize,
    i: usize,
    y: &mut [f32],
    ow: usize,
) {
    let even = even_bits(s);
    let mut j = 0;
    while j < ow {
        let cnt = S::LANES.min(ow - j);
        for q in 0..R {
            let (mut lo, mut hi) = (b0, b0);
            for m in 0..3 {
                let row = &x[(ST * (i + q) + m) * pw..];
                for n in 0..3 {
                    let (c, t) = (ST * j + n, wt[3 * m + n]);
                    lo = s.add(lo, s.mul(t, s.load(&row[c..])));
                    if ST == 2 {
                        hi = s.add(hi, s.mul(t, s.load(&row[c + S::LANES..])));
                    }
                }
            }
            let v = if ST == 1 { lo } else { s.pair_sums(s.and(lo, even), s.and(hi, even)) };
            store_n(s, &mut y[q * ow + j..q * ow + j + cnt], v);
        }
        j += cnt;
    }
}

/// Adds the weight gradient into `dw` (`c x 3 x 3`) and the bias gradient
/// into `db` (`c`), each if given; overwrites `dx` (unpadded `c` planes
/// of `h x w` a sample), if given, with the input gradient.
///
/// # Panics
/// If a slice is shorter than `d` says.
#[inline(always)]
pub(crate) fn backward<S: Simd>(
    s: S,
    d: &Depthwise3,
    w: &[f32],
    xp: &[f32],
    dy: &[f32],
    mut dx: Option<&mut [f32]>,
    mut dw: Option<&mut [f32]>,
    mut db: Option<&mut [f32]>,
) {
    let (oh, ow) = d.out();
    let (pw, plane) = (d.w + 2, d.padded_plane());
    let mut dy_padded = [0.0; DY_PADDED];
    let (zero, even) = (s.splat(0.0), even_bits(s));
    // Sample by sample, plane by plane, in memory order.
    for b in 0..d.n {
        for ch in 0..d.c {
            let (mut acc, mut accb) = ([zero; 9], zero);
            let x = &xp[b * d.x_sample + ch * plane..b * d.x_sample + d.c * plane + READ_PAST];
            let g = &dy[(b * d.c + ch) * oh * ow..][..oh * ow];
            if dw.is_none() {
                if db.is_some() {
                    accb = s.add(accb, plane_sum(s, g));
                }
            } else if d.stride == 1 {
                param_grad_s1(s, x, pw, g, ow, &mut acc, &mut accb);
            } else {
                param_grad_s2(s, x, pw, g, ow, &mut acc, &mut accb);
            }
            if let Some(dx) = dx.as_deref_mut() {
                let dxp = &mut dx[(b * d.c + ch) * d.h * d.w..][..d.h * d.w];
                let wt = taps(s, &w[ch * 9..ch * 9 + 9]);
                if d.stride == 1 && (oh + 2) * (ow + 2) + READ_PAST <= DY_PADDED {
                    // The correlation of the zero-padded dy with the
                    // flipped filter: the forward pass's loop.
                    pad_plane(g, (oh, ow), &mut dy_padded);
                    let flipped = taps(s, &flip(&w[ch * 9..ch * 9 + 9]));
                    let mut u = 0;
                    while u < d.h {
                        let rows = &mut dxp[u * d.w..];
                        if d.h - u >= 4 {
                            forward_rows::<S, 4, 1>(s, &flipped, s.splat(0.0), &dy_padded, ow + 2, u, rows, d.w);
                            u += 4;
                        } else {
                            forward_rows::<S, 1, 1>(s, &flipped, s.splat(0.0), &dy_padded, ow + 2, u, rows, d.w);
                            u += 1;
                        }
                    }
                } else if d.stride == 1 {
                    input_grad_s1(s, &wt, &w[ch * 9..ch * 9 + 9], g, (oh, ow), dxp, d.w);
                } else if (oh + 2) * (ow + 2) + READ_PAST <= DY_PADDED {
                    // Lanes past a row's end read its zero border (the
                    // last output's right neighbour) or are not stored.
                    pad_plane(g, (oh, ow), &mut dy_padded);
                    input_grad_s2::<S, true>(s, &wt, &dy_padded, (oh, ow), dxp, d.w);
                } else {
                    input_grad_s2::<S, false>(s, &wt, g, (oh, ow), dxp, d.w);
                }
            }
            // At stride 2 the odd lanes hold products with the columns
            // between the taps: dropped.
            let keep = if d.stride == 1 { s.float(s.splat_i(-1)) } else { even };
            if let Some(dw) = dw.as_deref_mut() {
                for (t, a) in dw[ch * 9..ch * 9 + 9].iter_mut().zip(acc) {
                    *t += hsum(s, s.and(a, keep));
                }
            }
            if let Some(db) = db.as_deref_mut() {
                db[ch] += hsum(s, accb);
            }
        }
    }
}

/// The sum of `g`'s floats, as a vector of partial sums.
#[inline(always)]
fn plane_sum<S: Simd>(s: S, g: &[f32]) -> S::F {
    let mut acc = s.splat(0.0);
    for c in g.chunks(S::LANES) {
        acc = s.add(acc, load_clip(s, c, 0, c.len()));
    }
    acc
}

/// Floats of the stack buffer that holds one output-gradient plane padded
/// by a zero on every side, then [`READ_PAST`] zeros (6 KiB: planes up to
/// 36 x 36). Larger planes take the loop with clipped loads.
const DY_PADDED: usize = 38 * 38 + READ_PAST;

/// `g` (`oh x ow`) into `buf` with a zero border, then [`READ_PAST`] zeros.
#[inline(always)]
fn pad_plane(g: &[f32], (oh, ow): (usize, usize), buf: &mut [f32]) {
    let pw = ow + 2;
    buf[..pw].fill(0.0);
    for (i, gr) in g.chunks_exact(ow).enumerate() {
        let row = &mut buf[(i + 1) * pw..(i + 2) * pw];
        row[0] = 0.0;
        row[1..=ow].copy_from_slice(gr);
        row[ow + 1] = 0.0;
    }
    buf[(oh + 1) * pw..(oh + 2) * pw + READ_PAST].fill(0.0);
}

/// A 3x3 filter turned by 180 degrees: `w[2 - m][2 - n]`.
#[inline(always)]
fn flip(w: &[f32]) -> [f32; 9] {
    [w[8], w[7], w[6], w[5], w[4], w[3], w[2], w[1], w[0]]
}

/// Adds one plane's weight-gradient products (tap by tap) and output
/// gradients into the vector sums `acc` and `accb`, at stride 1.
#[inline(always)]
fn param_grad_s1<S: Simd>(s: S, x: &[f32], pw: usize, g: &[f32], ow: usize, acc: &mut [S::F; 9], accb: &mut S::F) {
    for (i, gr) in g.chunks_exact(ow).enumerate() {
        let rows = [&x[i * pw..], &x[(i + 1) * pw..], &x[(i + 2) * pw..]];
        let mut j = 0;
        while j < ow {
            let cnt = S::LANES.min(ow - j);
            let dv = load_clip(s, gr, j, cnt);
            *accb = s.add(*accb, dv);
            for (m, row) in rows.iter().enumerate() {
                for n in 0..3 {
                    acc[3 * m + n] = s.add(acc[3 * m + n], s.mul(dv, s.load(&row[j + n..])));
                }
            }
            j += cnt;
        }
    }
}

/// [`param_grad_s1`] at stride 2: each output gradient spread over its
/// column pair; the odd lanes (products with the columns between the
/// taps) are the caller's to drop.
#[inline(always)]
fn param_grad_s2<S: Simd>(s: S, x: &[f32], pw: usize, g: &[f32], ow: usize, acc: &mut [S::F; 9], accb: &mut S::F) {
    for (i, gr) in g.chunks_exact(ow).enumerate() {
        let rows = [&x[2 * i * pw..], &x[(2 * i + 1) * pw..], &x[(2 * i + 2) * pw..]];
        let mut j = 0;
        while j < ow {
            let cnt = S::LANES.min(ow - j);
            let dv = load_clip(s, gr, j, cnt);
            *accb = s.add(*accb, dv);
            let (dlo, dhi) = s.spread(dv);
            for (m, row) in rows.iter().enumerate() {
                for n in 0..3 {
                    let c = 2 * j + n;
                    let t = &mut acc[3 * m + n];
                    *t = s.add(*t, s.mul(dlo, s.load(&row[c..])));
                    *t = s.add(*t, s.mul(dhi, s.load(&row[c + S::LANES..])));
                }
            }
            j += cnt;
        }
    }
}

/// The dy rows output row `oy = (u + 1 - m) / stride` of each tap row `m`
/// that reaches input row `u`, where there is one.
#[inline(always)]
fn tap_rows(g: &[f32], (oh, ow): (usize, usize), u: usize, stride: usize) -> [Option<&[f32]>; 3] {
    let row = |m: usize| {
        let o = (u + 1).checked_sub(m)?;
        (o % stride == 0 && o / stride < oh).then(|| &g[o / stride * ow..][..ow])
    };
    [row(0), row(1), row(2)]
}

/// One plane's input gradient at stride 1 (`dx` overwritten): column 0
/// (whose tap `n = 2` falls in the padding) by scalars, the rest by
/// vectors, four rows at a time.
#[inline(always)]
fn input_grad_s1<S: Simd>(
    s: S,
    wt: &[S::F; 9],
    w: &[f32],
    g: &[f32],
    (oh, ow): (usize, usize),
    dx: &mut [f32],
    width: usize,
) {
    for (u, dxr) in dx.chunks_exact_mut(width).enumerate() {
        let rows = tap_rows(g, (oh, ow), u, 1);
        let mut first = 0.0;
        for (m, row) in rows.iter().enumerate() {
            if let Some(row) = row {
                for n in 0..2 {
                    if let Some(&gv) = row.get(1 - n) {
                        first += w[3 * m + n] * gv;
                    }
                }
            }
        }
        dxr[0] = first;
    }
    let h = dx.len() / width;
    let mut u = 0;
    while u < h {
        if h - u >= 4 {
            input_rows_s1::<S, 4>(s, wt, g, (oh, ow), dx, width, u);
            u += 4;
        } else {
            input_rows_s1::<S, 1>(s, wt, g, (oh, ow), dx, width, u);
            u += 1;
        }
    }
}

/// Columns 1.. of `R` input-gradient rows from row `u` at stride 1: the
/// output-gradient rows `u - 1 ..= u + R` each loaded once for all of them.
#[inline(always)]
fn input_rows_s1<S: Simd, const R: usize>(
    s: S,
    wt: &[S::F; 9],
    g: &[f32],
    (oh, ow): (usize, usize),
    dx: &mut [f32],
    width: usize,
    u: usize,
) {
    let mut v = 1;
    while v < width {
        let cnt = S::LANES.min(width - v);
        let mut acc = [s.splat(0.0); R];
        for t in 0..R + 2 {
            // Output row `u + t - 1`, tap row `m = q + 2 - t` of row `u + q`.
            let Some(oy) = (u + t).checked_sub(1) else { continue };
            if oy >= oh {
                continue;
            }
            let row = &g[oy * ow..][..ow];
            for n in 0..3 {
                let val = load_clip(s, row, v + 1 - n, cnt);
                for (q, a) in acc.iter_mut().enumerate() {
                    if q <= t && t <= q + 2 {
                        *a = s.add(*a, s.mul(wt[3 * (q + 2 - t) + n], val));
                    }
                }
            }
        }
        for (q, a) in acc.into_iter().enumerate() {
            store_n(s, &mut dx[(u + q) * width + v..][..cnt], a);
        }
        v += cnt;
    }
}

/// One plane's input gradient at stride 2 (`dx` overwritten): column
/// `2k` takes tap `n = 1` of output `k`; column `2k + 1` taps 0 and 2 of
/// outputs `k + 1` and `k`. The two are computed apart and interleaved.
#[inline(always)]
fn input_grad_s2<S: Simd, const PADDED: bool>(
    s: S,
    wt: &[S::F; 9],
    g: &[f32],
    (oh, ow): (usize, usize),
    dx: &mut [f32],
    width: usize,
) {
    let even = even_mask(s);
    for (u, dxr) in dx.chunks_exact_mut(width).enumerate() {
        let rows = if PADDED {
            // Rows of `ow + 2` behind a zero border; whole-vector loads.
            let row = |m: usize| {
                let o = (u + 1).checked_sub(m)?;
                (o % 2 == 0 && o / 2 < oh).then(|| &g[(o / 2 + 1) * (ow + 2) + 1..])
            };
            [row(0), row(1), row(2)]
        } else {
            tap_rows(g, (oh, ow), u, 2)
        };
        let mut k = 0;
        while k < ow {
            let cnt = S::LANES.min(ow - k);
            let (mut e, mut o) = (s.splat(0.0), s.splat(0.0));
            for (m, row) in rows.iter().enumerate() {
                if let Some(row) = row {
                    let (here, next) = if PADDED {
                        (s.load(&row[k..]), s.load(&row[k + 1..]))
                    } else {
                        (load_clip(s, row, k, cnt), load_clip(s, row, k + 1, cnt))
                    };
                    e = s.add(e, s.mul(wt[3 * m + 1], here));
                    o = s.add(o, s.mul(wt[3 * m], next));
                    o = s.add(o, s.mul(wt[3 * m + 2], here));
                }
            }
            let ((elo, ehi), (olo, ohi)) = (s.spread(e), s.spread(o));
            let (v0, end) = (2 * k, (2 * k + 2 * cnt).min(width));
            let mid = (v0 + S::LANES).min(end);
            store_n(s, &mut dxr[v0..mid], s.select(even, elo, olo));
            store_n(s, &mut dxr[mid..end], s.select(even, ehi, ohi));
            k += cnt;
        }
    }
}

// ---- the backends' instances ----------------------------------------------

/// [`forward`] and [`backward`] compiled for one ISA (`$token` built by
/// its `unsafe` constructor inside `$feature`).
macro_rules! instances {
    ($cfg:meta, $feature:literal, $fwd:ident, $bwd:ident, $token:path) => {
        /// [`forward`] on this ISA.
        ///
        /// # Safety
        /// The CPU has the features enabled here.
        #[$cfg]
        #[cfg_attr(not(test), allow(dead_code))]
        #[target_feature(enable = $feature)]
        pub(crate) unsafe fn $fwd(d: &Depthwise3, w: &[f32], bias: Option<&[f32]>, xp: &[f32], y: &mut [f32]) {
            // SAFETY: the caller's contract.
            forward(unsafe { <$token>::new() }, d, w, bias, xp, y)
        }

        /// [`backward`] on this ISA.
        ///
        /// # Safety
        /// The CPU has the features enabled here.
        #[$cfg]
        #[target_feature(enable = $feature)]
        pub(crate) unsafe fn $bwd(
            d: &Depthwise3,
            w: &[f32],
            xp: &[f32],
            dy: &[f32],
            dx: Option<&mut [f32]>,
            dw: Option<&mut [f32]>,
            db: Option<&mut [f32]>,
        ) {
            // SAFETY: the caller's contract.
            backward(unsafe { <$token>::new() }, d, w, xp, dy, dx, dw, db)
        }
    };
}

instances!(
    cfg(target_arch = "x86_64"),
    "avx512f,avx512vl",
    forward_avx512,
    backward_avx512,
    super::avx512::simd::Avx512
);
instances!(cfg(target_arch = "x86_64"), "avx2,fma", forward_avx2, backward_avx2, super::avx2::simd::Avx2);
instances!(cfg(target_arch = "aarch64"), "neon", forward_neon, backward_neon, super::neon::simd::Neon);
