//! Convolution forward tiles: output channels x row segments over a padded
//! input ([`conv_tile`]), whole rows of one channel ([`conv_rows_tile`]),
//! channels along the lanes ([`conv_cl_tile`]), and the tiles that pool
//! their outputs in registers ([`conv_pool_tile`]).

use super::pool::first_max;
use super::vec::*;
use super::{RawBatch, RawGeom, RawStart, Seg};
use crate::kernels::{ConvGeom, Start};
use crate::kernels::{ROUTE_BYTES, Route, routes_fit};
use core::arch::x86_64::*;

/// `y[o0+o][seg s] = start + Σ_{c,m,n} w[o0+o][c][m][n] · x_s[c·x_plane + m·x_row + n + lane]`
/// for `o < OB`, `s < SB`; lanes outside a segment's mask are neither
/// stored nor (for `RawStart::Load`) loaded.
///
/// # Safety
/// AVX-512F; every segment's input is readable for `16` floats at every
/// tap offset; its output is writable (and, for `Load`, readable) at its
/// masked lanes for channels `o0..o0+OB`; the weights at every tap.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn conv_tile<const OB: usize, const SB: usize, const K: usize>(
    g: &RawGeom,
    o0: usize,
    segs: &[Seg; SB],
    start: RawStart,
    relu: bool,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); SB]; OB];
        match start {
            RawStart::Zero => {}
            RawStart::Bias(b) => {
                for (o, row) in acc.iter_mut().enumerate() {
                    *row = [_mm512_set1_ps(*b.add(o0 + o)); SB];
                }
            }
            RawStart::Load => {
                for (o, row) in acc.iter_mut().enumerate() {
                    for (s, a) in row.iter_mut().enumerate() {
                        *a = _mm512_maskz_loadu_ps(segs[s].mask, segs[s].y.add((o0 + o) * g.y_plane));
                    }
                }
            }
        }
        let xs: [*const f32; SB] = core::array::from_fn(|s| segs[s].x);
        let w0 = g.w.offset(o0 as isize * g.w_out);
        for c in 0..g.in_c {
            let wc = w0.offset(c as isize * g.w_in);
            let xc = c * g.x_plane;
            // K > 0: the kernel side is a constant and the tap loops unroll.
            let k = if K > 0 { K } else { g.k };
            for m in 0..k {
                let wm = wc.offset(m as isize * g.w_m);
                let xm = xc + m * g.x_row;
                for n in 0..k {
                    let wn = wm.offset(n as isize * g.w_n);
                    let xv: [__m512; SB] = core::array::from_fn(|s| _mm512_loadu_ps(xs[s].add(xm + n)));
                    for (o, row) in acc.iter_mut().enumerate() {
                        let wv = _mm512_set1_ps(*wn.offset(o as isize * g.w_out));
                        for (a, x) in row.iter_mut().zip(&xv) {
                            *a = _mm512_fmadd_ps(wv, *x, *a);
                        }
                    }
                }
            }
        }
        for (o, row) in acc.iter().enumerate() {
            for (s, &a) in row.iter().enumerate() {
                let a = if relu { _mm512_max_ps(a, _mm512_setzero_ps()) } else { a };
                _mm512_mask_storeu_ps(segs[s].y.add((o0 + o) * g.y_plane), segs[s].mask, a);
            }
        }
    }
}

/// Output channels `o0..o0+OB` of a whole batch, in tiles of `SB` segments
/// (the last tile filled with empty-mask copies of its last segment).
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_block<const OB: usize, const SB: usize>(g: &RawGeom, o0: usize, batch: &RawBatch, start: RawStart) {
    match g.k {
        // SAFETY: the caller's contract.
        3 => unsafe { conv_block_k::<OB, SB, 3>(g, o0, batch, start) },
        // SAFETY: as above.
        5 => unsafe { conv_block_k::<OB, SB, 5>(g, o0, batch, start) },
        // SAFETY: as above.
        _ => unsafe { conv_block_k::<OB, SB, 0>(g, o0, batch, start) },
    }
}

/// [`conv_block`] with the kernel side `K` a constant (`0`: read from `g`).
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_block_k<const OB: usize, const SB: usize, const K: usize>(
    g: &RawGeom,
    o0: usize,
    batch: &RawBatch,
    start: RawStart,
) {
    let mut tile = [Seg { x: core::ptr::null(), y: core::ptr::null_mut(), mask: 0 }; SB];
    let mut n = 0;
    batch.for_each_seg(g.x_row, |s| {
        tile[n] = s;
        n += 1;
        if n == SB {
            // SAFETY: the caller's contract (see `conv_batch`).
            unsafe { conv_tile::<OB, SB, K>(g, o0, &tile, start, batch.relu) };
            n = 0;
        }
    });
    if n > 0 {
        for i in n..SB {
            tile[i] = Seg { mask: 0, ..tile[n - 1] };
        }
        // SAFETY: as above; the copies store nothing.
        unsafe { conv_tile::<OB, SB, K>(g, o0, &tile, start, batch.relu) };
    }
}

/// Output channel `o` x `R` consecutive output rows x `S` 16-column
/// segments of one sample: the sum of [`conv_tile`] for one channel, for
/// rows of at most `16*S` outputs. The tile's inputs sit at fixed offsets
/// from one pointer (row `r`, segment `s`, tap `(c, m, n)`:
/// `x + c·x_plane + (r+m)·x_row + 16s + n`), so every load is a base
/// register plus a scaled stride or a constant and the loops over a sample
/// are plain counted loops. For a single channel, [`conv_tile`]'s
/// per-segment bookkeeping cost more than its arithmetic: seed 1's 3x3
/// convolution of a 28x28 image took half the time this way.
///
/// # Safety
/// As [`conv_tile`]: `x` is the input under the tile's first output row,
/// readable for 16 floats at every tap offset of every row and segment;
/// `y` is that row in channel 0, writable (and, for `RawStart::Load`,
/// readable) at the masked lanes of `R` rows of `y_row` floats of channel `o`.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_rows_tile<const R: usize, const S: usize, const K: usize>(
    g: &RawGeom,
    o: usize,
    x: *const f32,
    y: *mut f32,
    y_row: usize,
    masks: &[u16; S],
    start: RawStart,
    relu: bool,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let out = |r: usize, s: usize| y.add(o * g.y_plane + r * y_row + s * V);
        let mut acc = [[_mm512_setzero_ps(); S]; R];
        match start {
            RawStart::Zero => {}
            RawStart::Bias(b) => acc = [[_mm512_set1_ps(*b.add(o)); S]; R],
            RawStart::Load => {
                for (r, segs) in acc.iter_mut().enumerate() {
                    for (s, a) in segs.iter_mut().enumerate() {
                        *a = _mm512_maskz_loadu_ps(masks[s], out(r, s));
                    }
                }
            }
        }
        let w0 = g.w.offset(o as isize * g.w_out);
        for c in 0..g.in_c {
            let wc = w0.offset(c as isize * g.w_in);
            let xc = x.add(c * g.x_plane);
            for m in 0..K {
                let wm = wc.offset(m as isize * g.w_m);
                for n in 0..K {
                    let wv = _mm512_set1_ps(*wm.offset(n as isize * g.w_n));
                    for (r, segs) in acc.iter_mut().enumerate() {
                        for (s, a) in segs.iter_mut().enumerate() {
                            *a = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xc.add((r + m) * g.x_row + s * V + n)), *a);
                        }
                    }
                }
            }
        }
        for (r, segs) in acc.iter().enumerate() {
            for (s, &a) in segs.iter().enumerate() {
                let a = if relu { _mm512_max_ps(a, _mm512_setzero_ps()) } else { a };
                _mm512_mask_storeu_ps(out(r, s), masks[s], a);
            }
        }
    }
}

/// Output channel `o` of a whole batch whose rows are at most `16*S`
/// wide, `R` rows at a time (a sample's last rows one at a time).
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_rows_block<const R: usize, const S: usize, const K: usize>(
    g: &RawGeom,
    o: usize,
    batch: &RawBatch,
    start: RawStart,
) {
    let masks: [u16; S] = core::array::from_fn(|s| cols(s * V, batch.ow));
    for b in 0..batch.n {
        let xb = batch.x.wrapping_add(b * batch.x_sample);
        let yb = batch.y.wrapping_add(b * batch.y_sample);
        let tile = |i: usize| (xb.wrapping_add(i * g.x_row), yb.wrapping_add(i * batch.ow));
        let mut i = 0;
        // SAFETY (both loops): the caller's contract (see `conv_batch`); the
        // tiles cover rows i..i+R (or i) of this sample, all below `oh`.
        while i + R <= batch.oh {
            let (x, y) = tile(i);
            unsafe { conv_rows_tile::<R, S, K>(g, o, x, y, batch.ow, &masks, start, batch.relu) };
            i += R;
        }
        while i < batch.oh {
            let (x, y) = tile(i);
            unsafe { conv_rows_tile::<1, S, K>(g, o, x, y, batch.ow, &masks, start, batch.relu) };
            i += 1;
        }
    }
}

/// Output channel `o` of a batch with rows of at most 32 outputs and a
/// 3x3 or 5x5 kernel, 8 rows (or 4 rows of two segments: 8 accumulators,
/// enough to hide the FMA latency) per tile; returns `false`, having done
/// nothing, for any other shape.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_rows_one(g: &RawGeom, o: usize, batch: &RawBatch, start: RawStart) -> bool {
    // SAFETY: the caller's contract (see `conv_batch`).
    unsafe {
        match (batch.ow.div_ceil(V), g.k) {
            (1, 3) => conv_rows_block::<8, 1, 3>(g, o, batch, start),
            (1, 5) => conv_rows_block::<8, 1, 5>(g, o, batch, start),
            (2, 3) => conv_rows_block::<4, 2, 3>(g, o, batch, start),
            (2, 5) => conv_rows_block::<4, 2, 5>(g, o, batch, start),
            _ => return false,
        }
    }
    true
}

/// A stride-1 convolution of a batch: `out_c` output channels of every
/// sample (see [`conv_tile`] for the sum).
///
/// # Safety
/// AVX-512F; the buffers `g` and `batch` describe are valid, each padded
/// input followed by [`SLACK`](crate::kernels::SLACK) readable floats.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn conv_batch(g: &RawGeom, out_c: usize, batch: &RawBatch, start: RawStart) {
    let mut o0 = 0;
    // SAFETY: the caller's contract.
    unsafe {
        while o0 + 8 <= out_c {
            conv_block::<8, 3>(g, o0, batch, start);
            o0 += 8;
        }
        if o0 + 4 <= out_c {
            conv_block::<4, 5>(g, o0, batch, start);
            o0 += 4;
        }
        if o0 + 2 <= out_c {
            conv_block::<2, 8>(g, o0, batch, start);
            o0 += 2;
        }
        if o0 < out_c && !conv_rows_one(g, o0, batch, start) {
            conv_block::<1, 6>(g, o0, batch, start);
        }
    }
}

/// `OB` output channels x `R` output rows (`R` even, from an even row) x
/// `S` 16-column segments of one sample, each a sum of [`conv_tile`]'s
/// (not stored), put through a ReLU and a 2x2 max-pool in registers: `R /
/// 2` rows of the pooled planes, with the bits [`maxpool2_forward`](super::pool::maxpool2_forward) gives
/// with `PoolRelu::Apply` from the outputs (each output's ReLU, lanes
/// past the row end as 0, the two rows' maximum, then each pair of
/// columns'), and, with `ROUTES`, each pooled row's [`Route`] record at
/// `routes`. Rows from `nr` on are past the outputs: the caller
/// points them at row `nr - 1`, and they are not pooled on their own (a
/// last pooled row of one output row pools that row alone, as
/// `maxpool2_forward` does).
///
/// # Safety
/// As [`conv_rows_tile`] for the inputs under `x[r]` (the padded input
/// under output row `r`); `masks` the lanes of each segment below the
/// row's width `ow`; `pooled` is the first
/// pooled row of channel `o0`, writable at `min(16, pw)` floats of the
/// first `ceil(nr/2)` rows (`pw` apart) of `OB` planes `p_plane` apart;
/// with `ROUTES`, `routes` likewise at a [`Route`] record for each of those
/// rows ([`ROUTE_BYTES`] apart, planes `r_plane` bytes apart).
#[target_feature(enable = "avx512f,avx512vl")]
#[allow(clippy::too_many_arguments)]
unsafe fn conv_pool_tile<const OB: usize, const R: usize, const S: usize, const K: usize, const ROUTES: bool>(
    g: &RawGeom,
    o0: usize,
    (x, nr): ([*const f32; R], usize),
    masks: &[u16; S],
    pooled: *mut f32,
    (p_plane, pw): (usize, usize),
    start: RawStart,
    (routes, r_plane): (*mut u8, usize),
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let zero = _mm512_setzero_ps();
        let mut acc = [[[zero; S]; R]; OB];
        if let RawStart::Bias(b) = start {
            for (o, rows) in acc.iter_mut().enumerate() {
                *rows = [[_mm512_set1_ps(*b.add(o0 + o)); S]; R];
            }
        }
        let w0 = g.w.offset(o0 as isize * g.w_out);
        for c in 0..g.in_c {
            let wc = w0.offset(c as isize * g.w_in);
            let xc = c * g.x_plane;
            for m in 0..K {
                let wm = wc.offset(m as isize * g.w_m);
                let xm = xc + m * g.x_row;
                for n in 0..K {
                    let wn = wm.offset(n as isize * g.w_n);
                    let xv: [[__m512; S]; R] =
                        core::array::from_fn(|r| core::array::from_fn(|s| _mm512_loadu_ps(x[r].add(xm + s * V + n))));
                    for (o, rows) in acc.iter_mut().enumerate() {
                        let wv = _mm512_set1_ps(*wn.offset(o as isize * g.w_out));
                        for (row, xr) in rows.iter_mut().zip(&xv) {
                            for (a, xs) in row.iter_mut().zip(xr) {
                                *a = _mm512_fmadd_ps(wv, *xs, *a);
                            }
                        }
                    }
                }
            }
        }
        let pool = (p_plane, pw);
        if ROUTES {
            conv_pool_routed(acc, nr, masks, pooled, pool, (routes, r_plane))
        } else {
            conv_pool_epilogue::<OB, R, S, false>(acc, nr, masks, pooled, pool, (routes, r_plane))
        }
    }
}

/// [`conv_pool_epilogue`] with the routes, a function of its own, not
/// inlined: computed in the tile, the routes took the registers the sums
/// needed, and the sums were stored to the stack at every step of the FMA
/// loop (the training step took 1.09-1.13x the time); here they are
/// stored once.
///
/// # Safety
/// As [`conv_pool_tile`].
#[target_feature(enable = "avx512f,avx512vl")]
#[inline(never)]
unsafe fn conv_pool_routed<const OB: usize, const R: usize, const S: usize>(
    acc: [[[__m512; S]; R]; OB],
    nr: usize,
    masks: &[u16; S],
    pooled: *mut f32,
    pool: (usize, usize),
    routes: (*mut u8, usize),
) {
    // SAFETY: the caller's contract.
    unsafe { conv_pool_epilogue::<OB, R, S, true>(acc, nr, masks, pooled, pool, routes) }
}

/// [`conv_pool_tile`]'s pooling, and with `ROUTES` its routes, from its
/// sums `acc`.
///
/// # Safety
/// As [`conv_pool_tile`].
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_pool_epilogue<const OB: usize, const R: usize, const S: usize, const ROUTES: bool>(
    acc: [[[__m512; S]; R]; OB],
    nr: usize,
    masks: &[u16; S],
    pooled: *mut f32,
    (p_plane, pw): (usize, usize),
    (routes, r_plane): (*mut u8, usize),
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let zero = _mm512_setzero_ps();
        let (ie, io) = (_mm512_loadu_si512(EVEN.as_ptr().cast()), _mm512_loadu_si512(ODD.as_ptr().cast()));
        let p_mask = lanes(pw);
        // The windows with a right column: `ow / 2` of them.
        let right = lanes(masks.iter().map(|m| m.count_ones() as usize).sum::<usize>() / 2);
        // A row's outputs as the windows' left and right columns.
        let split = |row: [__m512; S]| {
            let (lo, hi) = (row[0], row[S - 1]);
            (_mm512_permutex2var_ps(lo, ie, hi), _mm512_permutex2var_ps(lo, io, hi))
        };
        for (o, acc) in acc.iter().enumerate() {
            // Over a constant count, so that the loop unrolls and every
            // accumulator stays in its register (indexed by a variable, the
            // array would live on the stack: the FMA loop then spilled).
            for i in 0..R.div_ceil(2) {
                if 2 * i >= nr {
                    break;
                }
                // The windows' maxima of the ReLU's outputs, as
                // maxpool2_forward takes them: lanes past the row as 0,
                // rows first.
                let m: [__m512; S] = core::array::from_fn(|s| {
                    let top = _mm512_maskz_max_ps(masks[s], acc[2 * i][s], zero);
                    if 2 * i + 1 < nr {
                        _mm512_max_ps(top, _mm512_maskz_max_ps(masks[s], acc[2 * i + 1][s], zero))
                    } else {
                        top
                    }
                });
                let (lo, hi) = (m[0], if S > 1 { m[S - 1] } else { zero });
                let even = _mm512_permutex2var_ps(lo, ie, hi);
                let odd = _mm512_permutex2var_ps(lo, io, hi);
                let p = _mm512_max_ps(even, odd);
                _mm512_mask_storeu_ps(pooled.add(o * p_plane + i * pw), p_mask, p);
                if !ROUTES {
                    continue;
                }
                // The first output equal to a positive maximum, row-major,
                // as `maxpool2_backward` finds it in the stored outputs.
                let pos = _mm512_mask_cmp_ps_mask::<_CMP_GT_OQ>(p_mask, p, zero);
                let eq = |mask: u16, v: __m512| _mm512_mask_cmp_ps_mask::<_CMP_EQ_OQ>(mask, v, p);
                let (l, r) = split(acc[2 * i]);
                let (tl, tr) = (eq(pos, l), eq(pos & right, r));
                let (bl, br) = if 2 * i + 1 < nr {
                    let (l, r) = split(acc[2 * i + 1]);
                    (eq(pos, l), eq(pos & right, r))
                } else {
                    (0, 0)
                };
                let record = routes.add(o * r_plane + i * ROUTE_BYTES).cast::<Route>();
                record.write_unaligned(first_max([tl, tr, bl, br]));
            }
        }
    }
}

/// Channels and rows per [`conv_pool_tile`] for rows of `ow` outputs: 4
/// channels x 6 rows of one segment, or 4 x 2 rows of two (24 or 16
/// accumulators).
pub(crate) fn conv_pool_block(ow: usize) -> (usize, usize) {
    if ow <= V { (4, 6) } else { (4, 2) }
}

/// Whether [`conv_pool_batch`] can compute this convolution: rows of at
/// most 32 outputs, a 3x3 or 5x5 kernel, output channels a multiple of
/// [`conv_pool_block`]'s, and a bias or zero start.
pub(crate) fn conv_pool_applies(g: &ConvGeom, out_c: usize, ow: usize, start: &Start) -> bool {
    (1..=2 * V).contains(&ow)
        && matches!(g.k, 3 | 5)
        && out_c.is_multiple_of(conv_pool_block(ow).0)
        && !matches!(start, Start::Load)
}

/// [`conv_batch`], then a ReLU and a 2x2 max-pool (stride 2, edge windows
/// kept) in the same tiles ([`conv_pool_tile`]): the outputs are not
/// stored, the pooled planes (`ceil(oh/2) x ceil(ow/2)` per channel,
/// `p_sample` floats between samples) get the bits of [`maxpool2_forward`](super::pool::maxpool2_forward)
/// with `PoolRelu::Apply` over them, and, with `routes`, each sample's
/// output buffer (at `batch.y`) receives the windows' [`Route`]s, for
/// [`maxpool2_backward_routes`](super::pool::maxpool2_backward_routes): a record per pooled row (channel by
/// channel, row by row), its windows' four masks. Without `routes`
/// `batch.y` is not touched.
///
/// # Safety
/// As [`conv_batch`], `conv_pool_applies(g, out_c, batch.ow, start)`,
/// `pooled` writable for `n` samples of `out_c` pooled planes, and with
/// `routes` each sample's output buffer writable for `out_c·ceil(oh/2)`
/// records ([`routes_fit`]).
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn conv_pool_batch(
    g: &RawGeom,
    out_c: usize,
    batch: &RawBatch,
    start: RawStart,
    pooled: *mut f32,
    p_sample: usize,
    routes: bool,
) {
    debug_assert!(!routes || routes_fit(batch.oh, batch.ow));
    let (oh, ow) = (batch.oh, batch.ow);
    let (ph, pw) = (oh.div_ceil(2), ow.div_ceil(2));
    let masks = [cols(0, ow), cols(V, ow)];
    let (ob, rows) = conv_pool_block(ow);
    // The tile of output rows r0.. of sample b: rows past the last as the last.
    fn tile<const R: usize>(batch: &RawBatch, x_row: usize, b: usize, r0: usize) -> ([*const f32; R], usize) {
        let row = |r: usize| (r0 + r).min(batch.oh - 1);
        let x = core::array::from_fn(|r| batch.x.wrapping_add(b * batch.x_sample + row(r) * x_row));
        (x, (batch.oh - r0).min(R))
    }
    for b in 0..batch.n {
        let rb = batch.y.wrapping_add(b * batch.y_sample).cast::<u8>();
        for o0 in (0..out_c).step_by(ob) {
            let mut r0 = 0;
            while r0 < oh {
                let pr = pooled.wrapping_add(b * p_sample + o0 * ph * pw + r0 / 2 * pw);
                let pool = (ph * pw, pw);
                let rt = if routes { rb.wrapping_add((o0 * ph + r0 / 2) * ROUTE_BYTES) } else { core::ptr::null_mut() };
                // The tile of 4 channels x R rows x S segments, K x K.
                macro_rules! run {
                    ($r:literal, $s:literal, $k:literal) => {{
                        let m: [u16; $s] = core::array::from_fn(|i| masks[i]);
                        let x = tile(batch, g.x_row, b, r0);
                        let rt = (rt, ph * ROUTE_BYTES);
                        if routes {
                            conv_pool_tile::<4, $r, $s, $k, true>(g, o0, x, &m, pr, pool, start, rt)
                        } else {
                            conv_pool_tile::<4, $r, $s, $k, false>(g, o0, x, &m, pr, pool, start, rt)
                        }
                    }};
                }
                // SAFETY: the caller's contract: rows r0.. below oh of
                // sample b, channels o0..o0+ob <= out_c.
                unsafe {
                    match (rows, oh - r0 >= rows, g.k) {
                        (6, true, 3) => run!(6, 1, 3),
                        (6, true, _) => run!(6, 1, 5),
                        (6, false, 3) => run!(2, 1, 3),
                        (6, false, _) => run!(2, 1, 5),
                        (_, _, 3) => run!(2, 2, 3),
                        _ => run!(2, 2, 5),
                    }
                }
                r0 += if oh - r0 >= rows { rows } else { 2 };
            }
        }
    }
}

/// Floats of the packed weights [`conv_cl_batch`] keeps on the stack (64 KiB).
pub(crate) const CL_LIMIT: usize = 1 << 14;

/// Outputs per channels-last tile for rows of `ow`: 16, 14 or 12, whichever
/// computes the fewest outputs past the row ends (ties: the larger), or
/// `None` if even that one wastes more than 1/8 of the work.
fn cl_positions(ow: usize) -> Option<usize> {
    let waste = |p: usize| ow.div_ceil(p) * p - ow;
    let p = [16, 14, 12].into_iter().min_by_key(|&p| waste(p))?;
    (ow > 0 && 8 * waste(p) <= ow).then_some(p)
}

/// Whether [`conv_cl_batch`] can compute this convolution: output
/// channels a multiple of 16, a 3x3 or 5x5 kernel, the packed weights of
/// 16 output channels within [`CL_LIMIT`], rows that [`cl_positions`]
/// accepts, and a start other than [`RawStart::Load`].
pub(crate) fn cl_applies(g: &ConvGeom, out_c: usize, ow: usize, start: &Start) -> bool {
    out_c.is_multiple_of(V)
        && matches!(g.k, 3 | 5)
        && g.in_c * g.k * g.k * V <= CL_LIMIT
        && cl_positions(ow).is_some()
        && !matches!(start, Start::Load)
}

/// Whether a convolution's forward pass takes [`conv_cl_batch`]: where it
/// applies and sums at least 256 taps per output. A tile's transposition
/// and the packing of the weights are paid per tile and per call; over
/// tfconv's 800 taps they vanish, and its conv2 took 0.90x the time at
/// B = 32 and 0.93x at B = 1 (21 alternations, in one process, with
/// [`conv_batch`]); over fashion10's 72 they cost what the lanes saved
/// (0.98x at B = 8, 1.01x at B = 1).
pub(crate) fn cl_pays(g: &ConvGeom, out_c: usize, ow: usize, start: &Start) -> bool {
    g.in_c * g.k * g.k >= 256 && cl_applies(g, out_c, ow, start)
}

/// Channels-last tile: 16 output channels x `P` consecutive outputs of one
/// row, `y[o·y_plane + p] = start[o] + Σ_{c,m,n} wt[((c·K + m)·K + n)·16 + o]
/// · x[c·x_plane + m·x_row + n + p]` for `o < 16`, `p < np` (outputs from
/// `np` to `P` are computed and dropped). The accumulators are the
/// outputs, each a vector of the 16 channels: the input is broadcast, and
/// one broadcast of a row's input `j` feeds the `K` outputs `j - n` that
/// read it, with `K` weight vectors per kernel row. No lane is idle, where
/// [`conv_tile`]'s rows of 14 use 14 of 16. The sums run in `conv_tile`'s
/// order (`c`, then `m`, then `n`, each an FMA of the same product), so the
/// bits are the same. At the end the tile is transposed in registers and
/// stored channel by channel.
///
/// # Safety
/// AVX-512F; `x` readable at every `c·x_plane + m·x_row + j` for `c <
/// in_c`, `m < K`, `j < P + K - 1`; `wt` holds `in_c·K·K·16` floats; `y`
/// writable at `o·y_plane + p` for `o < 16`, `p < np`.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_cl_tile<const P: usize, const K: usize>(
    in_c: usize,
    x_plane: usize,
    x_row: usize,
    x: *const f32,
    wt: *const f32,
    start: __m512,
    y: *mut f32,
    y_plane: usize,
    np: usize,
    relu: bool,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mut acc = [start; P];
        for c in 0..in_c {
            for m in 0..K {
                let row = x.add(c * x_plane + m * x_row);
                let wm = wt.add((c * K + m) * K * V);
                let w: [__m512; K] = core::array::from_fn(|n| _mm512_loadu_ps(wm.add(n * V)));
                // Written out for every input column, so that each
                // accumulator index is a constant and stays in a register.
                macro_rules! columns {
                    ($($j:literal)*) => {$(
                        if $j < P + K - 1 {
                            let b = _mm512_set1_ps(*row.add($j));
                            for (n, wn) in w.iter().enumerate() {
                                if $j >= n && $j - n < P {
                                    acc[$j - n] = _mm512_fmadd_ps(b, *wn, acc[$j - n]);
                                }
                            }
                        }
                    )*};
                }
                columns!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20);
            }
        }
        let zero = _mm512_setzero_ps();
        if relu {
            acc = acc.map(|a| _mm512_max_ps(a, zero));
        }
        let t = transpose_regs(core::array::from_fn(|p| if p < P { acc[p] } else { zero }));
        let mask = lanes(np);
        for (o, v) in t.iter().enumerate() {
            _mm512_mask_storeu_ps(y.add(o * y_plane), mask, *v);
        }
    }
}

/// [`conv_batch`] with the output channels along the vector lanes
/// ([`conv_cl_tile`]), for the shapes [`cl_applies`] accepts: per group of
/// 16 output channels, the weights are packed `[c][m][n][16]` on the stack,
/// then every sample's rows run in tiles of [`cl_positions`] outputs.
///
/// # Safety
/// As [`conv_batch`], and `cl_applies(g, out_c, batch.ow, start)`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn conv_cl_batch(g: &RawGeom, out_c: usize, batch: &RawBatch, start: RawStart) {
    let (k, ow) = (g.k, batch.ow);
    let p = cl_positions(ow).unwrap_or(V);
    let taps = g.in_c * k * k;
    let mut wt = [core::mem::MaybeUninit::<f32>::uninit(); CL_LIMIT];
    for o0 in (0..out_c).step_by(V) {
        // SAFETY (this block): the caller's contract: the weights of
        // channels o0..o0+16 at every tap, the inputs and outputs as
        // `conv_batch`'s (each row's last tile reads at most P - 1 floats
        // past its padded row, inside the next row or the slack).
        unsafe {
            for c in 0..g.in_c {
                for m in 0..k {
                    for n in 0..k {
                        let src = g.w.offset(c as isize * g.w_in + m as isize * g.w_m + n as isize * g.w_n);
                        let t = (c * k + m) * k + n;
                        for o in 0..V {
                            wt[t * V + o].write(*src.offset((o0 + o) as isize * g.w_out));
                        }
                    }
                }
            }
            let wt = wt[..taps * V].as_ptr().cast::<f32>();
            let st = match start {
                RawStart::Bias(b) => _mm512_loadu_ps(b.add(o0)),
                _ => _mm512_setzero_ps(),
            };
            for s in 0..batch.n {
                for i in 0..batch.oh {
                    let mut j0 = 0;
                    while j0 < ow {
                        let x = batch.x.add(s * batch.x_sample + i * g.x_row + j0);
                        let y = batch.y.add(s * batch.y_sample + o0 * g.y_plane + i * ow + j0);
                        let np = (ow - j0).min(p);
                        let (xp, xr, yp) = (g.x_plane, g.x_row, g.y_plane);
                        match (p, k) {
                            (16, 3) => conv_cl_tile::<16, 3>(g.in_c, xp, xr, x, wt, st, y, yp, np, batch.relu),
                            (14, 3) => conv_cl_tile::<14, 3>(g.in_c, xp, xr, x, wt, st, y, yp, np, batch.relu),
                            (12, 3) => conv_cl_tile::<12, 3>(g.in_c, xp, xr, x, wt, st, y, yp, np, batch.relu),
                            (16, _) => conv_cl_tile::<16, 5>(g.in_c, xp, xr, x, wt, st, y, yp, np, batch.relu),
                            (14, _) => conv_cl_tile::<14, 5>(g.in_c, xp, xr, x, wt, st, y, yp, np, batch.relu),
                            _ => conv_cl_tile::<12, 5>(g.in_c, xp, xr, x, wt, st, y, yp, np, batch.relu),
                        }
                        j0 += p;
                    }
                }
            }
        }
    }
}
