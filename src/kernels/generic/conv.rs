//! Convolution forward tiles over [`Compute`]: output channels x row
//! segments over a padded input ([`conv_tile`]) and whole rows of one
//! channel ([`conv_rows_tile`]), as `avx512/conv.rs`'s, the segments
//! `LANES` outputs wide.

use super::{RawBatch, RawGeom, RawStart};
use crate::kernels::compute::Compute;
use crate::kernels::{ROUTE_BYTES, Route};

/// Up to `LANES` consecutive output positions of one output row.
#[derive(Clone, Copy, Debug)]
struct Seg {
    /// The input under lane 0 for tap `(c, m, n) = (0, 0, 0)` (in a padded input).
    x: *const f32,
    /// Output channel 0 at lane 0.
    y: *mut f32,
    /// Lanes that are real output positions (0 for a tile's filler).
    n: usize,
}

/// Calls `f` with every output segment of `batch`, sample by sample, row by row.
#[inline(always)]
fn for_each_seg(batch: &RawBatch, x_row: usize, lanes: usize, mut f: impl FnMut(Seg)) {
    for b in 0..batch.n {
        for i in 0..batch.oh {
            let mut j = 0;
            while j < batch.ow {
                f(Seg {
                    x: batch.x.wrapping_add(b * batch.x_sample + i * x_row + j),
                    y: batch.y.wrapping_add(b * batch.y_sample + i * batch.ow + j),
                    n: (batch.ow - j).min(lanes),
                });
                j += lanes;
            }
        }
    }
}

/// `y[o0+o][seg s] = start + Σ_{c,m,n} w[o0+o][c][m][n] · x_s[c·x_plane + m·x_row + n + lane]`
/// for `o < OB`, `s < SB`; lanes outside a segment are neither stored nor
/// (for `RawStart::Load`) loaded.
///
/// # Safety
/// Every segment's input readable for a vector at every tap offset; its
/// output writable (and, for `Load`, readable) at its lanes for channels
/// `o0..o0+OB`; the weights at every tap.
#[inline(always)]
unsafe fn conv_tile<S: Compute, const OB: usize, const SB: usize, const K: usize>(
    s: S,
    g: &RawGeom,
    o0: usize,
    segs: &[Seg; SB],
    start: RawStart,
    relu: bool,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mut acc = [[s.zero(); SB]; OB];
        match start {
            RawStart::Zero => {}
            RawStart::Bias(b) => {
                for (o, row) in acc.iter_mut().enumerate() {
                    *row = [s.bcast(b.add(o0 + o)); SB];
                }
            }
            RawStart::Load => {
                for (o, row) in acc.iter_mut().enumerate() {
                    for (q, a) in row.iter_mut().enumerate() {
                        *a = s.load_n(segs[q].y.add((o0 + o) * g.y_plane), segs[q].n);
                    }
                }
            }
        }
        let xs: [*const f32; SB] = core::array::from_fn(|q| segs[q].x);
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
                    let xv: [S::F; SB] = core::array::from_fn(|q| s.loadp(xs[q].add(xm + n)));
                    for (o, row) in acc.iter_mut().enumerate() {
                        let wv = s.bcast(wn.offset(o as isize * g.w_out));
                        for (a, x) in row.iter_mut().zip(&xv) {
                            *a = s.fma(wv, *x, *a);
                        }
                    }
                }
            }
        }
        for (o, row) in acc.iter().enumerate() {
            for (q, &a) in row.iter().enumerate() {
                let a = if relu { s.max(a, s.zero()) } else { a };
                s.store_n(segs[q].y.add((o0 + o) * g.y_plane), segs[q].n, a);
            }
        }
    }
}

/// Output channels `o0..o0+OB` of a whole batch, in tiles of `SB` segments
/// (the last tile filled with empty copies of its last segment).
#[inline(always)]
unsafe fn conv_block<S: Compute, const OB: usize, const SB: usize>(
    s: S,
    g: &RawGeom,
    o0: usize,
    batch: &RawBatch,
    start: RawStart,
) {
    // SAFETY (each arm): the caller's contract.
    match g.k {
        3 => unsafe { conv_block_k::<S, OB, SB, 3>(s, g, o0, batch, start) },
        5 => unsafe { conv_block_k::<S, OB, SB, 5>(s, g, o0, batch, start) },
        _ => unsafe { conv_block_k::<S, OB, SB, 0>(s, g, o0, batch, start) },
    }
}

/// [`conv_block`] with the kernel side `K` a constant (`0`: read from `g`).
#[inline(always)]
unsafe fn conv_block_k<S: Compute, const OB: usize, const SB: usize, const K: usize>(
    s: S,
    g: &RawGeom,
    o0: usize,
    batch: &RawBatch,
    start: RawStart,
) {
    let mut tile = [Seg { x: core::ptr::null(), y: core::ptr::null_mut(), n: 0 }; SB];
    let mut n = 0;
    for_each_seg(batch, g.x_row, S::LANES, |seg| {
        tile[n] = seg;
        n += 1;
        if n == SB {
            // SAFETY: the caller's contract (see `conv_batch`).
            unsafe { conv_tile::<S, OB, SB, K>(s, g, o0, &tile, start, batch.relu) };
            n = 0;
        }
    });
    if n > 0 {
        for i in n..SB {
            tile[i] = Seg { n: 0, ..tile[n - 1] };
        }
        // SAFETY: as above; the copies store nothing.
        unsafe { conv_tile::<S, OB, SB, K>(s, g, o0, &tile, start, batch.relu) };
    }
}

/// Output channel `o` x `R` consecutive output rows x `SN` segments of one
/// sample (rows of at most `SN·LANES` outputs): [`conv_tile`]'s sum for
/// one channel, the inputs at fixed offsets from one pointer.
///
/// # Safety
/// As [`conv_tile`]: `x` is the input under the tile's first output row,
/// `y` that row in channel 0; `cols[q]` the outputs of segment `q`.
#[inline(always)]
unsafe fn conv_rows_tile<S: Compute, const R: usize, const SN: usize, const K: usize>(
    s: S,
    g: &RawGeom,
    o: usize,
    (x, y, y_row): (*const f32, *mut f32, usize),
    cols: &[usize; SN],
    start: RawStart,
    relu: bool,
) {
    let v = S::LANES;
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let out = |r: usize, q: usize| y.add(o * g.y_plane + r * y_row + q * v);
        let mut acc = [[s.zero(); SN]; R];
        match start {
            RawStart::Zero => {}
            RawStart::Bias(b) => acc = [[s.bcast(b.add(o)); SN]; R],
            RawStart::Load => {
                for (r, segs) in acc.iter_mut().enumerate() {
                    for (q, a) in segs.iter_mut().enumerate() {
                        *a = s.load_n(out(r, q), cols[q]);
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
                    let wv = s.bcast(wm.offset(n as isize * g.w_n));
                    for (r, segs) in acc.iter_mut().enumerate() {
                        for (q, a) in segs.iter_mut().enumerate() {
                            *a = s.fma(wv, s.loadp(xc.add((r + m) * g.x_row + q * v + n)), *a);
                        }
                    }
                }
            }
        }
        for (r, segs) in acc.iter().enumerate() {
            for (q, &a) in segs.iter().enumerate() {
                let a = if relu { s.max(a, s.zero()) } else { a };
                s.store_n(out(r, q), cols[q], a);
            }
        }
    }
}

/// Output channel `o` of a whole batch whose rows are at most `SN·LANES`
/// wide, `R` rows at a time (a sample's last rows one at a time).
#[inline(always)]
unsafe fn conv_rows_block<S: Compute, const R: usize, const SN: usize, const K: usize>(
    s: S,
    g: &RawGeom,
    o: usize,
    batch: &RawBatch,
    start: RawStart,
) {
    let v = S::LANES;
    let cols: [usize; SN] = core::array::from_fn(|q| batch.ow.saturating_sub(q * v).min(v));
    for b in 0..batch.n {
        let xb = batch.x.wrapping_add(b * batch.x_sample);
        let yb = batch.y.wrapping_add(b * batch.y_sample);
        let tile = |i: usize| (xb.wrapping_add(i * g.x_row), yb.wrapping_add(i * batch.ow), batch.ow);
        let mut i = 0;
        // SAFETY (both loops): the caller's contract (see `conv_batch`); the
        // tiles cover rows i..i+R (or i) of this sample, all below `oh`.
        while i + R <= batch.oh {
            unsafe { conv_rows_tile::<S, R, SN, K>(s, g, o, tile(i), &cols, start, batch.relu) };
            i += R;
        }
        while i < batch.oh {
            unsafe { conv_rows_tile::<S, 1, SN, K>(s, g, o, tile(i), &cols, start, batch.relu) };
            i += 1;
        }
    }
}

/// Output channel `o` of a batch with rows of at most four vectors and a
/// 3x3 or 5x5 kernel, 8 accumulators a tile (8 rows of one segment, 4 of
/// two, 2 of three or four); returns `false`, having done nothing, for any
/// other shape.
#[inline(always)]
unsafe fn conv_rows_one<S: Compute>(s: S, g: &RawGeom, o: usize, batch: &RawBatch, start: RawStart) -> bool {
    // SAFETY: the caller's contract (see `conv_batch`).
    unsafe {
        match (batch.ow.div_ceil(S::LANES), g.k) {
            (1, 3) => conv_rows_block::<S, 8, 1, 3>(s, g, o, batch, start),
            (1, 5) => conv_rows_block::<S, 8, 1, 5>(s, g, o, batch, start),
            (2, 3) => conv_rows_block::<S, 4, 2, 3>(s, g, o, batch, start),
            (2, 5) => conv_rows_block::<S, 4, 2, 5>(s, g, o, batch, start),
            (3, 3) => conv_rows_block::<S, 2, 3, 3>(s, g, o, batch, start),
            (3, 5) => conv_rows_block::<S, 2, 3, 5>(s, g, o, batch, start),
            (4, 3) => conv_rows_block::<S, 2, 4, 3>(s, g, o, batch, start),
            (4, 5) => conv_rows_block::<S, 2, 4, 5>(s, g, o, batch, start),
            _ => return false,
        }
    }
    true
}

/// A stride-1 convolution of a batch: `out_c` output channels of every
/// sample (see [`conv_tile`] for the sum), `OB` channels x `SB` segments a
/// tile, then 2 x `SB2`, then one channel by rows (or 1 x `SB1`); or, where
/// [`cl_pays`](super::conv_cl::cl_pays) says so, the channels-last tiles of
/// `CL` outputs ([`conv_cl_batch`](super::conv_cl::conv_cl_batch); `CL =
/// 0`: none), with the same bits.
///
/// # Safety
/// The buffers `g` and `batch` describe are valid, each padded input
/// followed by [`SLACK`](crate::kernels::SLACK) readable floats.
#[inline(always)]
pub(crate) unsafe fn conv_batch<
    S: Compute,
    const OB: usize,
    const SB: usize,
    const SB2: usize,
    const SB1: usize,
    const CL: usize,
>(
    s: S,
    g: &RawGeom,
    out_c: usize,
    batch: &RawBatch,
    start: RawStart,
) {
    let mut o0 = 0;
    // SAFETY: the caller's contract (and `cl_pays` checked the
    // channels-last shape).
    unsafe {
        if CL > 0 && super::conv_cl::cl_pays(S::LANES, CL, g, out_c, batch.ow) {
            super::conv_cl::conv_cl_batch::<S, CL>(s, g, out_c, batch, start);
            return;
        }
        while o0 + OB <= out_c {
            conv_block::<S, OB, SB>(s, g, o0, batch, start);
            o0 += OB;
        }
        while o0 + 2 <= out_c {
            conv_block::<S, 2, SB2>(s, g, o0, batch, start);
            o0 += 2;
        }
        if o0 < out_c && !conv_rows_one(s, g, o0, batch, start) {
            conv_block::<S, 1, SB1>(s, g, o0, batch, start);
        }
    }
}

/// `OB` output channels x `R` output rows (`R` even, from an even row) x
/// `SN` segments of one sample, each a sum of [`conv_tile`]'s (in its
/// order, so with its bits; not stored), put through a ReLU and a 2x2
/// max-pool in registers: `R / 2` rows of the pooled planes, with the bits
/// [`maxpool2_forward`](super::pool::maxpool2_forward) gives with the ReLU
/// from the outputs, and, with `ROUTES`, each pooled row's [`Route`]
/// record at `routes`. Rows from `nr` on are past the outputs: the caller
/// points them at row `nr - 1`, and they are not pooled.
///
/// # Safety
/// As [`conv_rows_tile`] for the inputs under `x[r]`; `cols[q]` the
/// outputs of segment `q`; `pooled` the first pooled row of channel `o0`,
/// writable at `pw` floats of the first `ceil(nr/2)` rows (`pw` apart) of
/// `OB` planes `p_plane` apart; with `ROUTES`, `routes` likewise at a
/// [`Route`] record for each of those rows ([`ROUTE_BYTES`] apart, planes
/// `r_plane` bytes apart); `SN <= 8` and `SN·LANES <= 32`.
#[inline(always)]
unsafe fn conv_pool_tile<
    S: Compute,
    const OB: usize,
    const R: usize,
    const SN: usize,
    const K: usize,
    const ROUTES: bool,
>(
    s: S,
    g: &RawGeom,
    o0: usize,
    (x, nr): ([*const f32; R], usize),
    cols: &[usize; SN],
    (pooled, p_plane, pw): (*mut f32, usize, usize),
    start: RawStart,
    (routes, r_plane): (*mut u8, usize),
) {
    let v = S::LANES;
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let zero = s.zero();
        let mut acc = [[[zero; SN]; R]; OB];
        if let RawStart::Bias(b) = start {
            for (o, rows) in acc.iter_mut().enumerate() {
                *rows = [[s.bcast(b.add(o0 + o)); SN]; R];
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
                    let xv: [[S::F; SN]; R] =
                        core::array::from_fn(|r| core::array::from_fn(|q| s.loadp(x[r].add(xm + q * v + n))));
                    for (o, rows) in acc.iter_mut().enumerate() {
                        let wv = s.bcast(wn.offset(o as isize * g.w_out));
                        for (row, xr) in rows.iter_mut().zip(&xv) {
                            for (a, xs) in row.iter_mut().zip(xr) {
                                *a = s.fma(wv, *xs, *a);
                            }
                        }
                    }
                }
            }
        }
        // The ReLU's outputs, lanes past the row as 0. (Loops, not
        // closures: a closure here is compiled without the backend's
        // target features.)
        let ow: usize = cols.iter().sum();
        let mut valid = [s.first(0); SN];
        for (q, m) in valid.iter_mut().enumerate() {
            *m = s.first(cols[q]);
        }
        let nwv = SN.div_ceil(2);
        for (o, acc) in acc.iter().enumerate() {
            for i in 0..R.div_ceil(2) {
                if 2 * i >= nr {
                    break;
                }
                let bottom = 2 * i + 1 < nr;
                // Each segment's maxima over the window's rows, a missing
                // odd segment as zeros; the raw sums of the two rows likewise.
                let mut m = [zero; 8];
                let (mut top, mut bot) = ([zero; 8], [zero; 8]);
                for q in 0..SN {
                    top[q] = acc[2 * i][q];
                    let t = s.select(valid[q], s.max(top[q], zero), zero);
                    m[q] = t;
                    if bottom {
                        bot[q] = acc[2 * i + 1][q];
                        m[q] = s.max(t, s.select(valid[q], s.max(bot[q], zero), zero));
                    }
                }
                let mut record = [0u16; 4];
                for j in 0..nwv {
                    let (even, odd) = s.unzip(m[2 * j], m[2 * j + 1]);
                    let p = s.max(even, odd);
                    let np = pw.saturating_sub(j * v).min(v);
                    s.store_n(pooled.add(o * p_plane + i * pw + j * v), np, p);
                    if !ROUTES {
                        continue;
                    }
                    // The first output equal to a positive maximum, row-major,
                    // as `maxpool2_backward` finds it in the stored outputs.
                    let pos = s.m_and(s.first(np), s.gt(p, zero));
                    let right = s.m_and(pos, s.first((ow / 2).saturating_sub(j * v)));
                    let (l, r) = s.unzip(top[2 * j], top[2 * j + 1]);
                    let (tl, tr) = (s.m_and(pos, s.eq(l, p)), s.m_and(right, s.eq(r, p)));
                    let (mut bl, mut br) = (s.first(0), s.first(0));
                    if bottom {
                        let (l, r) = s.unzip(bot[2 * j], bot[2 * j + 1]);
                        (bl, br) = (s.m_and(pos, s.eq(l, p)), s.m_and(right, s.eq(r, p)));
                    }
                    let masks = super::pool::first_max(s, [tl, tr, bl, br]);
                    for (rec, mk) in record.iter_mut().zip(masks) {
                        *rec |= (s.bitmask(mk) << (j * v)) as u16;
                    }
                }
                if ROUTES {
                    routes.add(o * r_plane + i * ROUTE_BYTES).cast::<Route>().write_unaligned(record);
                }
            }
        }
    }
}

/// The pooling convolution's tile for rows of `SN` segments: channels and
/// rows a tile (at most 12 accumulators, the loaded inputs beside them, up
/// to rows of 4 segments; 2 rows of 5 to 8, on 4 lanes, take 10 to 16).
pub(crate) const fn pool_tile(sn: usize) -> (usize, usize) {
    match sn {
        1 => (2, 4),
        2 => (2, 2),
        _ => (1, 2),
    }
}

/// [`conv_batch`], then a ReLU and a 2x2 max-pool (stride 2, edge windows
/// kept) in the same tiles ([`conv_pool_tile`]): the outputs are not
/// stored; the pooled planes (`p_sample` floats between samples) get the
/// bits of [`maxpool2_forward`](super::pool::maxpool2_forward) with the
/// ReLU over them, and, with `routes`, each sample's output buffer
/// receives the windows' [`Route`]s, a record per pooled row (channel by
/// channel, row by row). Without `routes` `batch.y` is not touched.
///
/// # Safety
/// As [`conv_batch`]; rows of 1 to 32 outputs and at most 8 vectors, a 3x3 or 5x5 kernel,
/// `out_c` a multiple of 2, no load start; `pooled` writable for `n`
/// samples of `out_c` pooled planes; with `routes` each sample's output
/// buffer writable for `out_c·ceil(oh/2)` records ([`routes_fit`](crate::kernels::routes_fit)).
#[inline(always)]
pub(crate) unsafe fn conv_pool_batch<S: Compute>(
    s: S,
    g: &RawGeom,
    out_c: usize,
    batch: &RawBatch,
    start: RawStart,
    (pooled, p_sample): (*mut f32, usize),
    routes: bool,
) {
    let v = S::LANES;
    let (oh, ow) = (batch.oh, batch.ow);
    let (ph, pw) = (oh.div_ceil(2), ow.div_ceil(2));
    let sn = ow.div_ceil(v);
    debug_assert!((1..=8).contains(&sn) && ow <= 32, "rows of {ow}: {sn} vectors");
    let (ob, rows) = pool_tile(sn);
    /// Rows r0.. of sample b's tile: rows past the last as the last.
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
                let pr = (pooled.wrapping_add(b * p_sample + o0 * ph * pw + r0 / 2 * pw), ph * pw, pw);
                let rt = if routes { rb.wrapping_add((o0 * ph + r0 / 2) * ROUTE_BYTES) } else { core::ptr::null_mut() };
                let rt = (rt, ph * ROUTE_BYTES);
                let full = oh - r0 >= rows;
                macro_rules! run {
                    ($ob:literal, $r:literal, $sn:literal, $k:literal) => {{
                        let c: [usize; $sn] = core::array::from_fn(|q| ow.saturating_sub(q * v).min(v));
                        let x = tile::<$r>(batch, g.x_row, b, r0);
                        if routes {
                            conv_pool_tile::<S, $ob, $r, $sn, $k, true>(s, g, o0, x, &c, pr, start, rt)
                        } else {
                            conv_pool_tile::<S, $ob, $r, $sn, $k, false>(s, g, o0, x, &c, pr, start, rt)
                        }
                    }};
                }
                // SAFETY: the caller's contract: rows r0.. below oh of
                // sample b, channels o0..o0+ob <= out_c.
                unsafe {
                    match (sn, full, g.k) {
                        (1, true, 3) => run!(2, 4, 1, 3),
                        (1, true, _) => run!(2, 4, 1, 5),
                        (1, false, 3) => run!(2, 2, 1, 3),
                        (1, false, _) => run!(2, 2, 1, 5),
                        (2, _, 3) => run!(2, 2, 2, 3),
                        (2, _, _) => run!(2, 2, 2, 5),
                        (3, _, 3) => run!(1, 2, 3, 3),
                        (3, _, _) => run!(1, 2, 3, 5),
                        (4, _, 3) => run!(1, 2, 4, 3),
                        (4, _, _) => run!(1, 2, 4, 5),
                        // Rows of 5 to 8 vectors: 4 lanes only (32 outputs at most).
                        (5, _, 3) if v < 8 => run!(1, 2, 5, 3),
                        (5, _, _) if v < 8 => run!(1, 2, 5, 5),
                        (6, _, 3) if v < 8 => run!(1, 2, 6, 3),
                        (6, _, _) if v < 8 => run!(1, 2, 6, 5),
                        (7, _, 3) if v < 8 => run!(1, 2, 7, 3),
                        (7, _, _) if v < 8 => run!(1, 2, 7, 5),
                        (8, _, 3) if v < 8 => run!(1, 2, 8, 3),
                        (8, _, _) if v < 8 => run!(1, 2, 8, 5),
                        _ => unreachable!("kernels::conv_pool_batch: rows of {ow}: {sn} vectors"),
                    }
                }
                r0 += if full { rows } else { 2 };
            }
        }
    }
}
