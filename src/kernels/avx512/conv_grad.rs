//! Convolution weight gradients: reduced over a batch per tap tile
//! ([`conv_dw_batch`]), or accumulated with the output channels along the
//! lanes from a channels-last output gradient ([`conv_dw_t`]).

use super::vec::*;
use super::{RawBatch, RawGeom};
use core::arch::x86_64::*;

/// `dw[o0+o][tap t] += Σ_segments Σ_lanes dy_s[(o0+o)·dy_plane + lane] · x_s[tap_off[t] + lane]`
/// for `o < OB`, `t < TB`, over the masked lanes of every segment of
/// `batch` (whose `y` is the output gradient); `dw_tap[t]` is where tap `t`
/// of output channel `o0` is stored (`None`: a padding tap of the last
/// tile, computed and dropped), `dw_out` the stride between output channels.
///
/// # Safety
/// AVX-512F; every segment's input readable for 16 floats at every tap
/// offset; its output gradient readable at its masked lanes for channels
/// `o0..o0+OB`; the gradient entries writable.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn conv_dw_tile<const OB: usize, const TB: usize>(
    batch: &RawBatch,
    x_row: usize,
    dy_plane: usize,
    o0: usize,
    tap_off: &[usize; TB],
    dw_tap: &[Option<*mut f32>; TB],
    dw_out: usize,
) {
    let mut acc = [[_mm512_setzero_ps(); TB]; OB];
    for b in 0..batch.n {
        // SAFETY (this block): the caller's contract: every pointer formed
        // below addresses the caller's buffers (the input taps including the
        // slack after the last padded plane; the output gradient at the start
        // of a segment), and the loads are masked to the segment's lanes.
        unsafe {
            let xb = batch.x.add(b * batch.x_sample);
            let db = batch.y.cast_const().add(b * batch.y_sample);
            let pt: [*const f32; TB] = core::array::from_fn(|t| xb.add(tap_off[t]));
            let pd: [*const f32; OB] = core::array::from_fn(|o| db.add((o0 + o) * dy_plane));
            for i in 0..batch.oh {
                let mut j = 0;
                while j < batch.ow {
                    let k = lanes(batch.ow - j);
                    let (xi, di) = (i * x_row + j, i * batch.ow + j);
                    let dyv: [__m512; OB] = core::array::from_fn(|o| _mm512_maskz_loadu_ps(k, pd[o].add(di)));
                    for (t, p) in pt.iter().enumerate() {
                        let xv = _mm512_loadu_ps(p.add(xi));
                        for (o, row) in acc.iter_mut().enumerate() {
                            row[t] = _mm512_mask3_fmadd_ps(dyv[o], xv, row[t], k);
                        }
                    }
                    j += V;
                }
            }
        }
    }
    for (o, row) in acc.iter().enumerate() {
        for (t, a) in row.iter().enumerate() {
            if let Some(p) = dw_tap[t] {
                // SAFETY: the caller's contract.
                unsafe { *p.add(o * dw_out) += _mm512_reduce_add_ps(*a) };
            }
        }
    }
}

/// Output channels `o0..o0+OB` of the weight gradient, in tiles of `TB`
/// taps, over chunks of samples small enough that a chunk's output gradient
/// (for these channels) and input planes stay in the L1 cache while every
/// tap tile sweeps them; each (chunk, tile) pair ends in `OB*TB` horizontal
/// sums added into `dw`.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_dw_block<const OB: usize, const TB: usize>(batch: &RawBatch, g: &RawGeom, o0: usize, dw: *mut f32) {
    const L1_BUDGET: usize = 20 << 10;
    let taps = g.in_c * g.k * g.k;
    let per_sample = 4 * (OB * batch.oh * batch.ow + 2 * g.x_plane);
    let chunk = (L1_BUDGET / per_sample).clamp(1, batch.n.max(1));
    let mut s0 = 0;
    while s0 < batch.n {
        let part = RawBatch {
            n: chunk.min(batch.n - s0),
            x: batch.x.wrapping_add(s0 * batch.x_sample),
            y: batch.y.wrapping_add(s0 * batch.y_sample),
            ..*batch
        };
        // Tap (c, m, n) of the next tile, stepped rather than divided out.
        let (mut c, mut m, mut n) = (0, 0, 0);
        let mut t0 = 0;
        while t0 < taps {
            // The offsets of taps t0..t0+TB; past the last tap, the last
            // offset again (computed and dropped).
            let mut last = 0;
            let off: [usize; TB] = core::array::from_fn(|i| {
                if t0 + i < taps {
                    last = c * g.x_plane + m * g.x_row + n;
                    n += 1;
                    if n == g.k {
                        (n, m) = (0, m + 1);
                        if m == g.k {
                            (m, c) = (0, c + 1);
                        }
                    }
                }
                last
            });
            let dst: [Option<*mut f32>; TB] =
                core::array::from_fn(|i| if t0 + i < taps { Some(dw.wrapping_add(o0 * taps + t0 + i)) } else { None });
            // SAFETY: the caller's contract (see `conv_dw_batch`); `part` is a
            // sub-range of the caller's batch.
            unsafe { conv_dw_tile::<OB, TB>(&part, g.x_row, batch.oh * batch.ow, o0, &off, &dst, taps) };
            t0 += TB;
        }
        s0 += chunk;
    }
}

/// The weight gradient of one output channel `o` over one input channel
/// (seed 1's one filter), streamed over the rows of padded input: each
/// input row `r` is loaded once per tap column and meets the output
/// gradient rows `r - m` of every kernel row `m`, kept in registers as they
/// slide by (rows outside the plane are zero); `K x K` accumulators, one
/// per tap, sum over every row of every sample. [`conv_dw_tile`] loads each
/// input row once per tap instead (`K` times as many loads, most of them
/// split over two cache lines) and keeps a pointer per tap (nine for a 3x3
/// kernel, more than the registers hold).
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_dw_rows<const K: usize, const NS: usize>(batch: &RawBatch, o: usize, x_row: usize, dw: *mut f32) {
    let last = lanes(batch.ow - (NS - 1) * V);
    let mask = |s: usize| if s + 1 == NS { last } else { u16::MAX };
    let plane = batch.oh * batch.ow;
    let zero = [_mm512_setzero_ps(); NS];
    let mut acc = [[_mm512_setzero_ps(); K]; K];
    for b in 0..batch.n {
        // SAFETY (this block): the caller's contract (see `conv_dw_batch`):
        // the `oh + K - 1` rows of padded input, with the slack after the
        // last plane, and the output gradient rows, loaded masked.
        unsafe {
            let xb = batch.x.add(b * batch.x_sample);
            let db = batch.y.cast_const().add(b * batch.y_sample + o * plane);
            // dys[m]: the output gradient row r - m.
            let mut dys = [zero; K];
            for r in 0..batch.oh + K - 1 {
                for m in (1..K).rev() {
                    dys[m] = dys[m - 1];
                }
                dys[0] = if r < batch.oh {
                    core::array::from_fn(|s| _mm512_maskz_loadu_ps(mask(s), db.add(r * batch.ow + s * V)))
                } else {
                    zero
                };
                let xr = xb.add(r * x_row);
                for n in 0..K {
                    for s in 0..NS {
                        let xv = _mm512_loadu_ps(xr.add(n + s * V));
                        for (row, d) in acc.iter_mut().zip(&dys) {
                            // Lanes past the row keep their sum (0 · inf would be NaN).
                            row[n] = _mm512_mask3_fmadd_ps(d[s], xv, row[n], mask(s));
                        }
                    }
                }
            }
        }
    }
    let dc = dw.wrapping_add(o * K * K);
    for (m, row) in acc.iter().enumerate() {
        for (n, a) in row.iter().enumerate() {
            // SAFETY: the caller's contract: `dw` holds every output channel's taps.
            unsafe { *dc.add(m * K + n) += _mm512_reduce_add_ps(*a) };
        }
    }
}

/// [`conv_dw_rows`] for one input channel and a 3x3 kernel over rows of
/// at most 32 outputs or a 5x5 one over rows of at most 16 (what fits the
/// registers); returns `false`, having done nothing, for any other shape.
/// (With several input channels each output gradient plane would be read
/// once per channel, and it does not keep a chunk of samples in the L1
/// cache as [`conv_dw_block`] does; only one input channel was measured.)
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_dw_rows_one(batch: &RawBatch, g: &RawGeom, o: usize, dw: *mut f32) -> bool {
    if g.in_c != 1 {
        return false;
    }
    // SAFETY: the caller's contract (see `conv_dw_batch`).
    unsafe {
        match (batch.ow.div_ceil(V), g.k) {
            (1, 3) => conv_dw_rows::<3, 1>(batch, o, g.x_row, dw),
            (1, 5) => conv_dw_rows::<5, 1>(batch, o, g.x_row, dw),
            (2, 3) => conv_dw_rows::<3, 2>(batch, o, g.x_row, dw),
            _ => return false,
        }
    }
    true
}

/// Adds the weight gradient of a stride-1 convolution over a batch into
/// `dw` (`[out_c][in_c][k][k]`): `batch.y` is the output gradient, `g` the
/// forward geometry (its weight fields unused).
///
/// # Safety
/// AVX-512F; as [`conv_batch`](super::conv::conv_batch), with `dw` writable for `out_c*in_c*k*k` floats.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn conv_dw_batch(g: &RawGeom, out_c: usize, batch: &RawBatch, dw: *mut f32) {
    let mut o0 = 0;
    // SAFETY: the caller's contract.
    unsafe {
        while o0 + 4 <= out_c {
            conv_dw_block::<4, 5>(batch, g, o0, dw);
            o0 += 4;
        }
        while o0 < out_c {
            if !conv_dw_rows_one(batch, g, o0, dw) {
                conv_dw_block::<1, 9>(batch, g, o0, dw);
            }
            o0 += 1;
        }
    }
}

/// The signature of [`conv_dw_t_tile`] (one instance per tile shape).
type DwTTile = unsafe fn(
    usize,
    usize,
    &[usize],
    *const f32,
    usize,
    core::ops::Range<usize>,
    usize,
    *const f32,
    usize,
    usize,
    *mut f32,
);

/// `dwt[tap t][o] += Σ_{i in rows, j<ow} x[tap_off[t] + i·x_row + j] · dyt[(i·ow + j)·out_c + o]`
/// for `TB` taps from `t0` (fewer at the end: `taps` in all) and `16*OV`
/// output channels from `o0` (24 taps x 1 vector: 24 accumulators, one
/// load and 24 broadcasts per position): the weight gradient of one sample with the
/// output channels along the vector lanes (`dyt` is the output gradient
/// transposed to channels-last), so no lane is wasted and nothing is
/// reduced horizontally; `dwt` is the gradient transposed (`[tap][o]`).
///
/// # Safety
/// AVX-512F; `x` readable at every tap offset plus `i*x_row + j`; `dyt`
/// readable for `oh*ow*out_c` floats, `dwt` writable for `taps*out_c`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(super) unsafe fn conv_dw_t_tile<const TB: usize, const OV: usize>(
    t0: usize,
    taps: usize,
    tap_off: &[usize],
    x: *const f32,
    x_row: usize,
    rows: core::ops::Range<usize>,
    ow: usize,
    dyt: *const f32,
    out_c: usize,
    o0: usize,
    dwt: *mut f32,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let valid = (taps - t0).min(TB);
        let pt: [*const f32; TB] = core::array::from_fn(|t| x.add(tap_off[t0 + t.min(valid - 1)]));
        let mut acc = [[_mm512_setzero_ps(); OV]; TB];
        for (t, row) in acc.iter_mut().enumerate().take(valid) {
            for (v, a) in row.iter_mut().enumerate() {
                *a = _mm512_loadu_ps(dwt.add((t0 + t) * out_c + o0 + v * V));
            }
        }
        for i in rows {
            let (xr, dr) = (i * x_row, dyt.add(i * ow * out_c + o0));
            for j in 0..ow {
                let dv: [__m512; OV] = core::array::from_fn(|v| _mm512_loadu_ps(dr.add(j * out_c + v * V)));
                for (t, row) in acc.iter_mut().enumerate() {
                    let xb = _mm512_set1_ps(*pt[t].add(xr + j));
                    for (a, d) in row.iter_mut().zip(&dv) {
                        *a = _mm512_fmadd_ps(xb, *d, *a);
                    }
                }
            }
        }
        for (t, row) in acc.iter().enumerate().take(valid) {
            for (v, a) in row.iter().enumerate() {
                _mm512_storeu_ps(dwt.add((t0 + t) * out_c + o0 + v * V), *a);
            }
        }
    }
}

/// [`conv_dw_t_tile`] for one vector of output channels and a 3x3 kernel:
/// `KR` kernel rows `(c, m)` of 3 taps each (taps `t0..t0+3·KR`, `t0` at a
/// row's first tap), over the positions in pairs. The two positions' three
/// taps of a kernel row read 4 consecutive inputs, so a pair takes 2 loads
/// of the output gradient and `4·KR` broadcasts for `6·KR` FMAs, where the
/// 24 x 1 tile takes 25 loads for 24 FMAs, more than the load ports issue
/// beside the FMAs. The sums run in the same order, so the bits are the
/// same as that tile's.
///
/// # Safety
/// As [`conv_dw_t_tile`]; `t0` and `taps` are multiples of 3, and
/// `tap_off[t0 + 3r]` is the offset of kernel row `r`'s first tap.
#[target_feature(enable = "avx512f,avx512vl")]
pub(super) unsafe fn conv_dw_t_rows3<const KR: usize>(
    t0: usize,
    taps: usize,
    tap_off: &[usize],
    x: *const f32,
    x_row: usize,
    rows: core::ops::Range<usize>,
    ow: usize,
    dyt: *const f32,
    out_c: usize,
    o0: usize,
    dwt: *mut f32,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        debug_assert!(t0.is_multiple_of(3) && (taps - t0).is_multiple_of(3) && taps > t0, "whole kernel rows");
        let valid = ((taps - t0) / 3).min(KR);
        let pr: [*const f32; KR] = core::array::from_fn(|r| x.add(tap_off[t0 + 3 * r.min(valid - 1)]));
        let at = |r: usize, n: usize| dwt.add((t0 + 3 * r + n) * out_c + o0);
        let mut acc = [[_mm512_setzero_ps(); 3]; KR];
        for (r, row) in acc.iter_mut().enumerate().take(valid) {
            for (n, a) in row.iter_mut().enumerate() {
                *a = _mm512_loadu_ps(at(r, n));
            }
        }
        for i in rows {
            let (xr, dr) = (i * x_row, dyt.add(i * ow * out_c + o0));
            let mut j = 0;
            while j + 2 <= ow {
                let (d0, d1) = (_mm512_loadu_ps(dr.add(j * out_c)), _mm512_loadu_ps(dr.add((j + 1) * out_c)));
                for (r, row) in acc.iter_mut().enumerate() {
                    let p = pr[r].add(xr + j);
                    let xv: [__m512; 4] = core::array::from_fn(|q| _mm512_set1_ps(*p.add(q)));
                    for (n, a) in row.iter_mut().enumerate() {
                        *a = _mm512_fmadd_ps(xv[n], d0, *a);
                        *a = _mm512_fmadd_ps(xv[n + 1], d1, *a);
                    }
                }
                j += 2;
            }
            if j < ow {
                let d0 = _mm512_loadu_ps(dr.add(j * out_c));
                for (r, row) in acc.iter_mut().enumerate() {
                    let p = pr[r].add(xr + j);
                    for (n, a) in row.iter_mut().enumerate() {
                        *a = _mm512_fmadd_ps(_mm512_set1_ps(*p.add(n)), d0, *a);
                    }
                }
            }
        }
        for (r, row) in acc.iter().enumerate().take(valid) {
            for (n, a) in row.iter().enumerate() {
                _mm512_storeu_ps(at(r, n), *a);
            }
        }
    }
}

/// Adds one sample's weight gradient for taps `taps.start..taps.end` into
/// `dwt` (`[tap - taps.start][out_c]`, the gradient transposed), from its
/// padded input `x` (geometry `g`) and its output gradient transposed to
/// channels-last, `dyt` (`[oh][ow][out_c]`). `out_c` must be a multiple of
/// 16; tiles of 6 taps x 64 channels (24 accumulators, 4 loads and 6
/// broadcasts per position), or 12 x 32, or 24 x 16 ([`conv_dw_t_rows3`]
/// for a 3x3 kernel when `taps` starts and ends at whole kernel rows, as
/// [`Conv2d`](crate::Conv2d)'s chunks do). The positions go in
/// bands of rows whose output gradient fits in 16 KB, each band swept by
/// every tile while it is in the L1 cache: tfconv's second convolution
/// (196 positions x 64 channels = 50 KB) re-read its whole gradient from
/// L2 for every 6 taps before.
///
/// # Safety
/// AVX-512F; as [`conv_dw_t_tile`] for every tile.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn conv_dw_t(
    g: &RawGeom,
    taps: core::ops::Range<usize>,
    x: *const f32,
    oh: usize,
    ow: usize,
    dyt: *const f32,
    out_c: usize,
    dwt: *mut f32,
) {
    let mut tap_off = [0usize; 72];
    let band = (4096 / (ow * out_c).max(1)).max(1);
    // Tap (c, m, n) of the next offset, stepped rather than divided out.
    let kk = g.k * g.k;
    // Whole kernel rows in every chunk of 72 taps: the 3x3 row tile applies.
    let rows3 = g.k == 3 && taps.start.is_multiple_of(3) && taps.end.is_multiple_of(3);
    let (mut c, mut m, mut n) = (taps.start / kk, taps.start / g.k % g.k, taps.start % g.k);
    let mut t0 = taps.start;
    while t0 < taps.end {
        let nt = 72.min(taps.end - t0);
        for off in tap_off.iter_mut().take(nt) {
            *off = c * g.x_plane + m * g.x_row + n;
            n += 1;
            if n == g.k {
                (n, m) = (0, m + 1);
                if m == g.k {
                    (m, c) = (0, c + 1);
                }
            }
        }
        let d = dwt.wrapping_add((t0 - taps.start) * out_c);
        for i0 in (0..oh).step_by(band) {
            let rows = i0..(i0 + band).min(oh);
            let mut o0 = 0;
            while o0 < out_c {
                // Taps per tile, channels per tile, and the tile.
                let (tb, step, tile): (usize, usize, DwTTile) = match ((out_c - o0) / V).min(4) {
                    4 => (6, 4 * V, conv_dw_t_tile::<6, 4>),
                    2 | 3 => (12, 2 * V, conv_dw_t_tile::<12, 2>),
                    _ if rows3 => (24, V, conv_dw_t_rows3::<8>),
                    _ => (24, V, conv_dw_t_tile::<24, 1>),
                };
                let mut s = 0;
                while s < nt {
                    // SAFETY: the caller's contract; tap_off[..nt] holds taps t0..t0+nt.
                    unsafe { tile(s, nt, &tap_off, x, g.x_row, rows.clone(), ow, dyt, out_c, o0, d) };
                    s += tb;
                }
                o0 += step;
            }
        }
        t0 += nt;
    }
}
