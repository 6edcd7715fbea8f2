//! Channels-last convolution tiles over [`Compute`]: `LANES` output
//! channels along the lanes x `P` consecutive outputs, the input
//! broadcast ([`conv_cl_tile`]), as `avx512/conv.rs`'s `conv_cl_tile`.
//!
//! [`conv_tile`](super::conv) puts a row's outputs along the lanes: on
//! rows of 14 and 8 lanes its segments of 8 and 6 leave 1/8 of the lanes
//! idle, and it loads an input vector and broadcasts a weight for every
//! FMA pair. Here the accumulators are the outputs, each a vector of
//! output channels: a kernel row's `K` weight vectors stay in registers,
//! and one broadcast input feeds the `K` outputs that read it. A tile's
//! `P` outputs are consecutive in the batch's row-major order, so a tile
//! may end one row and start the next (of the same sample or the next
//! one): no output past a row's end is computed, and `P` can be chosen
//! for the registers (`P` accumulators, `K` weights and a broadcast) and
//! the FMA latency (`P` independent sums), not for the row width.

use super::{RawBatch, RawGeom, RawStart};
use crate::kernels::compute::Compute;

/// Floats of the packed weights [`conv_cl_batch`] keeps on the stack (32 KiB).
pub(crate) const CL_LIMIT: usize = 1 << 13;

/// Floats of one tile's outputs, transposed through the stack (`P·LANES`).
const TILE_LIMIT: usize = 128;

/// Whether [`conv_batch`](super::conv::conv_batch) on `lanes`-wide vectors
/// takes its channels-last tiles of `p` outputs for this convolution: `p >
/// 0`, output channels a multiple of `lanes`, a 3x3 or 5x5 kernel, at
/// least 256 taps per output (the packing and the transposition are paid
/// per call and per tile), their packed weights within [`CL_LIMIT`], and
/// rows of at least `p` outputs (a tile spans at most two rows).
pub(crate) fn cl_pays(lanes: usize, p: usize, g: &RawGeom, out_c: usize, ow: usize) -> bool {
    let taps = g.in_c * g.k * g.k;
    (1..=10).contains(&p)
        && p * lanes <= TILE_LIMIT
        && out_c.is_multiple_of(lanes)
        && matches!(g.k, 3 | 5)
        && taps >= 256
        && taps * lanes <= CL_LIMIT
        && ow >= p
}

/// Where a tile's outputs lie: outputs `0..split` from input `x[0]` and
/// output `y[0]` (one row), outputs `split..P` from `x[1]` and `y[1]` (the
/// start of the next row); `np` of the `P` are real outputs.
#[derive(Clone, Copy, Debug)]
struct Tile {
    /// The padded input under the first output of each part (input channel 0).
    x: [*const f32; 2],
    /// The first output of each part (output channel 0 of the tile).
    y: [*mut f32; 2],
    /// Outputs to store (the rest are computed and dropped).
    np: usize,
}

/// Channels-last tile: `LANES` output channels x `P` consecutive outputs,
/// `out[o][p] = start[o] + Σ_{c,m,n} wt[((c·K + m)·K + n)·LANES + o] ·
/// x_p[c·x_plane + m·x_row + n]` for `o < LANES`, `p < np`, `x_p` the
/// input under output `p` ([`Tile`]; `SPLIT` of them in the first row, or
/// `SPLIT = P`: all). The sums run in [`conv_tile`](super::conv)'s order
/// (`c`, then `m`, then `n`, each an FMA of the same product), so the
/// bits are the same. The tile goes through a stack buffer to and from
/// the channel planes (`y_plane` apart).
///
/// # Safety
/// Each part's `x` readable at `c·x_plane + m·x_row + j` for `c < in_c`,
/// `m < K`, `j < P + K - 1`; `wt` holds `in_c·K·K·LANES` floats; `y`
/// writable (and, for `RawStart::Load`, readable) at `o·y_plane + p` for
/// `o < LANES` and the parts' outputs below `np`; `1 <= SPLIT <= P`, `P +
/// K <= 17`, `P·LANES <= 128`.
#[inline(always)]
unsafe fn conv_cl_tile<S: Compute, const P: usize, const K: usize, const SPLIT: usize>(
    s: S,
    g: &RawGeom,
    t: &Tile,
    wt: *const f32,
    start: Option<S::F>,
    relu: bool,
) {
    let l = S::LANES;
    let mut buf = [0.0f32; TILE_LIMIT];
    // Output p's address in channel 0.
    let out = |p: usize| if p < SPLIT { t.y[0].wrapping_add(p) } else { t.y[1].wrapping_add(p - SPLIT) };
    // SAFETY: the caller's contract covers every access below; `buf`
    // holds P·LANES <= 128 floats.
    unsafe {
        let mut acc = [s.zero(); P];
        if let Some(st) = start {
            acc = [st; P];
        } else {
            for p in 0..t.np {
                for o in 0..l {
                    buf[p * l + o] = *out(p).add(o * g.y_plane);
                }
            }
            for (p, a) in acc.iter_mut().enumerate() {
                *a = s.loadp(buf.as_ptr().add(p * l));
            }
        }
        for c in 0..g.in_c {
            for m in 0..K {
                let off = c * g.x_plane + m * g.x_row;
                let (ra, rb) = (t.x[0].add(off), t.x[1].add(off));
                let wm = wt.add((c * K + m) * K * l);
                let mut w = [s.zero(); K];
                for (n, w) in w.iter_mut().enumerate() {
                    *w = s.loadp(wm.add(n * l));
                }
                // Written out for every input column of each part, so that
                // each accumulator index is a constant and stays in a
                // register: column j of the first part feeds outputs j - n
                // below SPLIT, of the second part outputs SPLIT + j - n.
                macro_rules! columns {
                    ($($j:literal)*) => {$(
                        if $j < SPLIT + K - 1 {
                            let b = s.bcast(ra.add($j));
                            for (n, wn) in w.iter().enumerate() {
                                if $j >= n && $j - n < SPLIT && $j - n < P {
                                    acc[$j - n] = s.fma(b, *wn, acc[$j - n]);
                                }
                            }
                        }
                        if SPLIT < P && $j + SPLIT < P + K - 1 {
                            let b = s.bcast(rb.add($j));
                            for (n, wn) in w.iter().enumerate() {
                                if $j >= n && SPLIT + $j - n < P {
                                    acc[SPLIT + $j - n] = s.fma(b, *wn, acc[SPLIT + $j - n]);
                                }
                            }
                        }
                    )*};
                }
                columns!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
            }
        }
        for (p, &a) in acc.iter().enumerate() {
            let a = if relu { s.max(a, s.zero()) } else { a };
            s.storep(buf.as_mut_ptr().add(p * l), a);
        }
        for p in 0..t.np {
            let y = out(p);
            for o in 0..l {
                *y.add(o * g.y_plane) = buf[p * l + o];
            }
        }
    }
}

/// [`conv_batch`](super::conv::conv_batch) with the output channels along
/// the lanes ([`conv_cl_tile`]), for the shapes [`cl_pays`] accepts: per
/// group of `LANES` output channels, the weights are packed
/// `[c][m][n][LANES]` on the stack, then the batch's outputs run in tiles
/// of `P`, in row-major order over the samples.
///
/// # Safety
/// As [`conv_batch`](super::conv::conv_batch), and `cl_pays(S::LANES, P,
/// g, out_c, batch.ow)`.
#[inline(always)]
pub(crate) unsafe fn conv_cl_batch<S: Compute, const P: usize>(
    s: S,
    g: &RawGeom,
    out_c: usize,
    batch: &RawBatch,
    start: RawStart,
) {
    let (k, l) = (g.k, S::LANES);
    let (oh, ow) = (batch.oh, batch.ow);
    let plane = oh * ow;
    let total = batch.n * plane;
    // Output q of the batch (row-major over the samples): its padded input
    // and its output in channel 0.
    let at = |q: usize| {
        let (b, r) = (q / plane, q % plane);
        let x = batch.x.wrapping_add(b * batch.x_sample + r / ow * g.x_row + r % ow);
        (x, batch.y.wrapping_add(b * batch.y_sample + r))
    };
    let mut wt = [core::mem::MaybeUninit::<f32>::uninit(); CL_LIMIT];
    for o0 in (0..out_c).step_by(l) {
        // SAFETY (this block): the caller's contract: the weights of
        // channels o0..o0+LANES at every tap, the inputs and outputs as
        // `conv_batch`'s (a part reads at most P - 1 floats past its padded
        // row, inside the next row or the slack).
        unsafe {
            for c in 0..g.in_c {
                for m in 0..k {
                    for n in 0..k {
                        let src = g.w.offset(c as isize * g.w_in + m as isize * g.w_m + n as isize * g.w_n);
                        let t = (c * k + m) * k + n;
                        for o in 0..l {
                            wt[t * l + o].write(*src.offset((o0 + o) as isize * g.w_out));
                        }
                    }
                }
            }
            let wt = wt.as_ptr().cast::<f32>();
            let st = match start {
                RawStart::Zero => Some(s.zero()),
                RawStart::Bias(b) => Some(s.loadp(b.add(o0))),
                RawStart::Load => None,
            };
            let y0 = o0 * g.y_plane;
            let mut q = 0;
            while q < total {
                let (xa, ya) = at(q);
                let split = (ow - q % ow).min(P);
                let np = (total - q).min(P);
                // The second part: the next row's start, or (past the
                // batch's last output) the first part again, unstored.
                let (xb, yb) = if split < np { at(q + split) } else { (xa, ya) };
                let t = Tile { x: [xa, xb], y: [ya.add(y0), yb.add(y0)], np };
                macro_rules! splits {
                    ($($sp:literal)*) => {
                        match (split, k) {
                            $(
                                ($sp, 3) => conv_cl_tile::<S, P, 3, $sp>(s, g, &t, wt, st, batch.relu),
                                ($sp, _) => conv_cl_tile::<S, P, 5, $sp>(s, g, &t, wt, st, batch.relu),
                            )*
                            _ => unreachable!("kernels::conv_cl_batch: a tile of {P} split at {split}"),
                        }
                    };
                }
                splits!(1 2 3 4 5 6 7 8 9 10);
                q += P;
            }
        }
    }
}
