//! Convolution weight gradients over [`Compute`], as `avx512/conv_grad.rs`'s:
//! reduced over a batch per tap tile ([`conv_dw_batch`]), or accumulated
//! with the output channels along the lanes from a channels-last output
//! gradient ([`conv_dw_t`]).

use super::RawBatch;
use super::RawGeom;
use crate::kernels::compute::Compute;

/// `dw[o0+o][tap t] += Σ_segments Σ_lanes dy_s[(o0+o)·dy_plane + lane] · x_s[tap_off[t] + lane]`
/// for `o < OB`, `t < TB`, over the lanes of every segment of `batch`
/// (whose `y` is the output gradient); `dw_tap[t]` is where tap `t` of
/// output channel `o0` is stored (`None`: a padding tap of the last tile,
/// computed and dropped), `dw_out` the stride between output channels.
/// A row's last segment loads both operands masked (zeros past the row:
/// `0·0` adds nothing, where a NaN or infinity past the row would).
///
/// # Safety
/// Every segment's input readable for a vector at every tap offset; its
/// output gradient readable at its lanes for channels `o0..o0+OB`; the
/// gradient entries writable.
#[inline(always)]
unsafe fn conv_dw_tile<S: Compute, const OB: usize, const TB: usize>(
    s: S,
    batch: &RawBatch,
    (x_row, dy_plane): (usize, usize),
    o0: usize,
    tap_off: &[usize; TB],
    dw_tap: &[Option<*mut f32>; TB],
    dw_out: usize,
) {
    let v = S::LANES;
    let mut acc = [[s.zero(); TB]; OB];
    for b in 0..batch.n {
        // SAFETY (this block): the caller's contract.
        unsafe {
            let xb = batch.x.add(b * batch.x_sample);
            let db = batch.y.cast_const().add(b * batch.y_sample);
            let pt: [*const f32; TB] = core::array::from_fn(|t| xb.add(tap_off[t]));
            let pd: [*const f32; OB] = core::array::from_fn(|o| db.add((o0 + o) * dy_plane));
            for i in 0..batch.oh {
                let mut j = 0;
                while j + v <= batch.ow {
                    let (xi, di) = (i * x_row + j, i * batch.ow + j);
                    let dyv: [S::F; OB] = core::array::from_fn(|o| s.loadp(pd[o].add(di)));
                    for (t, p) in pt.iter().enumerate() {
                        let xv = s.loadp(p.add(xi));
                        for (o, row) in acc.iter_mut().enumerate() {
                            row[t] = s.fma(dyv[o], xv, row[t]);
                        }
                    }
                    j += v;
                }
                if j < batch.ow {
                    let (k, xi, di) = (batch.ow - j, i * x_row + j, i * batch.ow + j);
                    let dyv: [S::F; OB] = core::array::from_fn(|o| s.load_n(pd[o].add(di), k));
                    for (t, p) in pt.iter().enumerate() {
                        let xv = s.load_n(p.add(xi), k);
                        for (o, row) in acc.iter_mut().enumerate() {
                            row[t] = s.fma(dyv[o], xv, row[t]);
                        }
                    }
                }
            }
        }
    }
    for (o, row) in acc.iter().enumerate() {
        for (t, a) in row.iter().enumerate() {
            if let Some(p) = dw_tap[t] {
                // SAFETY: the caller's contract.
                unsafe { *p.add(o * dw_out) += s.reduce_add(*a) };
            }
        }
    }
}

/// Output channels `o0..o0+OB` of the weight gradient, in tiles of `TB`
/// taps, over chunks of samples small enough to stay in the L1 cache while
/// every tap tile sweeps them.
#[inline(always)]
unsafe fn conv_dw_block<S: Compute, const OB: usize, const TB: usize>(
    s: S,
    batch: &RawBatch,
    g: &RawGeom,
    o0: usize,
    dw: *mut f32,
) {
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
        let (mut c, mut m, mut n) = (0, 0, 0);
        let mut t0 = 0;
        while t0 < taps {
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
            let strides = (g.x_row, batch.oh * batch.ow);
            // SAFETY: the caller's contract; `part` is a sub-range of the batch.
            unsafe { conv_dw_tile::<S, OB, TB>(s, &part, strides, o0, &off, &dst, taps) };
            t0 += TB;
        }
        s0 += chunk;
    }
}

/// Adds the weight gradient of a stride-1 convolution over a batch into
/// `dw` (`[out_c][in_c][k][k]`): `batch.y` is the output gradient, `g` the
/// forward geometry (its weight fields unused). Tiles of `OB` channels x
/// `TB` taps, then single channels x `TB1` taps.
///
/// # Safety
/// As [`conv_batch`](super::conv::conv_batch), with `dw` writable for `out_c*in_c*k*k` floats.
#[inline(always)]
pub(crate) unsafe fn conv_dw_batch<S: Compute, const OB: usize, const TB: usize, const TB1: usize>(
    s: S,
    g: &RawGeom,
    out_c: usize,
    batch: &RawBatch,
    dw: *mut f32,
) {
    let mut o0 = 0;
    // SAFETY: the caller's contract.
    unsafe {
        while o0 + OB <= out_c {
            conv_dw_block::<S, OB, TB>(s, batch, g, o0, dw);
            o0 += OB;
        }
        while o0 < out_c {
            conv_dw_block::<S, 1, TB1>(s, batch, g, o0, dw);
            o0 += 1;
        }
    }
}

/// `dwt[tap t][o] += Σ_{i in rows, j<ow} x[tap_off[t] + i·x_row + j] · dyt[(i·ow + j)·out_c + o]`
/// for `TB` taps from `t0` (fewer at the end: `taps` in all) and `OV`
/// vectors of output channels from `o0`: one sample's weight gradient with
/// the output channels along the lanes.
///
/// # Safety
/// `x` readable at every tap offset plus `i*x_row + j`; `dyt` readable for
/// `oh*ow*out_c` floats, `dwt` writable for `taps*out_c`.
#[inline(always)]
unsafe fn conv_dw_t_tile<S: Compute, const TB: usize, const OV: usize>(
    s: S,
    (t0, taps, tap_off): (usize, usize, &[usize]),
    (x, x_row): (*const f32, usize),
    rows: core::ops::Range<usize>,
    ow: usize,
    (dyt, out_c, o0): (*const f32, usize, usize),
    dwt: *mut f32,
) {
    let v = S::LANES;
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let valid = (taps - t0).min(TB);
        let pt: [*const f32; TB] = core::array::from_fn(|t| x.add(tap_off[t0 + t.min(valid - 1)]));
        let mut acc = [[s.zero(); OV]; TB];
        for (t, row) in acc.iter_mut().enumerate().take(valid) {
            for (q, a) in row.iter_mut().enumerate() {
                *a = s.loadp(dwt.add((t0 + t) * out_c + o0 + q * v));
            }
        }
        for i in rows {
            let (xr, dr) = (i * x_row, dyt.add(i * ow * out_c + o0));
            for j in 0..ow {
                let dv: [S::F; OV] = core::array::from_fn(|q| s.loadp(dr.add(j * out_c + q * v)));
                for (t, row) in acc.iter_mut().enumerate() {
                    let xb = s.bcast(pt[t].add(xr + j));
                    for (a, d) in row.iter_mut().zip(&dv) {
                        *a = s.fma(xb, *d, *a);
                    }
                }
            }
        }
        for (t, row) in acc.iter().enumerate().take(valid) {
            for (q, a) in row.iter().enumerate() {
                s.storep(dwt.add((t0 + t) * out_c + o0 + q * v), *a);
            }
        }
    }
}

/// Adds one sample's weight gradient for taps `taps` into `dwt`
/// (`[tap - taps.start][out_c]`), from its padded input `x` and its output
/// gradient in channels-last order `dyt` (`[oh][ow][out_c]`); `out_c` a
/// multiple of `OV·LANES`; tiles of `TB` taps x `OV` vectors of channels
/// (`TB` divides 72), over bands of rows whose gradient fits in 16 KB.
///
/// # Safety
/// As [`conv_dw_t_tile`] for every tile.
#[inline(always)]
pub(crate) unsafe fn conv_dw_t<S: Compute, const TB: usize, const OV: usize>(
    s: S,
    g: &RawGeom,
    taps: core::ops::Range<usize>,
    x: *const f32,
    (oh, ow): (usize, usize),
    (dyt, out_c): (*const f32, usize),
    dwt: *mut f32,
) {
    let mut tap_off = [0usize; 72];
    let band = (4096 / (ow * out_c).max(1)).max(1);
    let kk = g.k * g.k;
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
            for o0 in (0..out_c).step_by(OV * S::LANES) {
                for t in (0..nt).step_by(TB) {
                    // SAFETY: the caller's contract; tap_off[..nt] holds taps t0..t0+nt.
                    unsafe {
                        conv_dw_t_tile::<S, TB, OV>(
                            s,
                            (t, nt, &tap_off),
                            (x, g.x_row),
                            rows.clone(),
                            ow,
                            (dyt, out_c, o0),
                            d,
                        )
                    };
                }
            }
        }
        t0 += nt;
    }
}
