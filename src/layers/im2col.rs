//! im2col and a matrix product ([`Kernels::bcast_gemm`]): the fast path
//! that [`Conv2d`](super::Conv2d) takes where its stride-1 kernels do not
//! (`STRIDE > 1`, or `PAD >= K`), and that [`Conv2dRect`](super::Conv2dRect)
//! and [`Conv1d`](super::Conv1d) take for every shape. One implementation
//! serves the three; `Conv1d` is the case `KH = 1` on a `1 x L` plane.
//!
//! With `t = (c, m, n)` a tap (`IN_C*KH*KW` of them) and `i = (oy, ox)` an
//! output position, `cols[t][i] = xp[c][oy*SH + m][ox*SW + n]`, where `xp`
//! is the input with its padding. Then
//!
//! ```text
//! y[o][i]      = b[o] + sum_t w[o][t] * cols[t][i]     (columns of the whole batch, in blocks)
//! dw[o][t]    += sum_i dy[o][i] * colsᵀ[i][t]          (per sample, in blocks of positions)
//! dcolsᵀ[i][t] = sum_o dy[o][i] * w[o][t]               then scatter-added into dx (col2im)
//! ```
//!
//! The input comes either padded (`PADDED`: `Conv2d`'s cache, planes of
//! `(H + 2*PH) x (W + 2*PW)`, so the gathers have no bounds checks) or
//! plain (planes of `H x W`, the padding read as zeros by the gathers).
//! Everything goes through fixed-size stack scratch (at most 96 KiB), so
//! nothing is allocated. Where `bcast_gemm` declines (no fast backend),
//! the first call says so before anything is written, and the layer runs
//! its reference loops.

use crate::kernels::Kernels;
use crate::math;

/// Floats of the columns scratch (64 KiB): `[taps][columns]` in the
/// forward pass, `[positions][taps]` in the backward pass.
const COLS: usize = 1 << 14;

/// Floats of the forward pass's output block (32 KiB): `[OUT_C][columns]`.
const Y_BLOCK: usize = 1 << 13;

/// Most columns of a forward block: the product's widest tile (4 rows x
/// 6 vectors of 16).
const MAX_COLUMNS: usize = 96;

/// The im2col convolution of `IN_C` channels by `OUT_C` filters of
/// `IN_C x KH x KW`, padding `PH` rows and `PW` columns, strides `SH`
/// and `SW`; `PADDED` says whether the input comes with its padding
/// written out. Weights `[OUT_C][IN_C][KH][KW]` (PyTorch's layout).
pub(crate) struct Im2col<
    const IN_C: usize,
    const OUT_C: usize,
    const KH: usize,
    const KW: usize,
    const PH: usize,
    const PW: usize,
    const SH: usize,
    const SW: usize,
    const PADDED: bool,
>;

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const KH: usize,
    const KW: usize,
    const PH: usize,
    const PW: usize,
    const SH: usize,
    const SW: usize,
    const PADDED: bool,
> Im2col<IN_C, OUT_C, KH, KW, PH, PW, SH, SW, PADDED>
{
    /// Taps per filter: `IN_C*KH*KW`.
    const TAPS: usize = IN_C * KH * KW;

    /// Whether the scratch takes this shape: at least one tap and at most
    /// what it holds for one position, at most `Y_BLOCK / 16` filters.
    pub(crate) const FITS: bool = Self::TAPS > 0 && Self::TAPS <= COLS && OUT_C > 0 && OUT_C <= Y_BLOCK / 16;

    /// The flat index in a padded sample of tap `t` at output position
    /// `(oy, ox)` (padded rows of `W + 2*PW`, planes of `H + 2*PH` rows).
    #[inline(always)]
    fn tap_offset<const H: usize, const W: usize>(t: usize) -> usize {
        let rw = W + 2 * PW;
        let (c, m, n) = (t / (KH * KW), t / KW % KH, t % KW);
        c * (H + 2 * PH) * rw + m * rw + n
    }

    /// Forward pass of a batch of `B` samples, `xs` floats apart in `x`:
    /// `y = w · cols (+ bias)`, into `y` (`B` samples of `OUT_C x OH x OW`).
    /// Blocks of up to [`MAX_COLUMNS`] columns run over the samples of the
    /// batch (`j = s*OH*OW + i`), taps in chunks that fit [`COLS`].
    /// `false`, having written nothing, where `k` declines the matrix
    /// product or the shape does not [fit](Self::FITS).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward<const B: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
        k: Kernels,
        x: &[f32],
        xs: usize,
        w: &[f32],
        bias: Option<&[f32; OUT_C]>,
        y: &mut [f32],
    ) -> bool {
        if !Self::FITS {
            return false;
        }
        let (taps, npos, rw) = (Self::TAPS, OH * OW, W + 2 * PW);
        let total = B * npos;
        if total == 0 {
            return true;
        }
        let nb = (Y_BLOCK / OUT_C / 16 * 16).min(MAX_COLUMNS);
        let chunks = taps.div_ceil(COLS / nb);
        let kc = taps.div_ceil(chunks);
        let mut cols = [0.0f32; COLS];
        let mut yb = [0.0f32; Y_BLOCK];
        // The block's row segments: (start in `x`: the padded row's first
        // tap, or the plain sample's start; first column; length; row; column).
        let mut segs = [(0usize, 0usize, 0usize, 0usize, 0usize); MAX_COLUMNS];
        for j0 in (0..total).step_by(nb) {
            let n = nb.min(total - j0);
            let (mut nseg, mut jj) = (0, 0);
            while jj < n {
                let (s, i) = ((j0 + jj) / npos, (j0 + jj) % npos);
                let (oy, ox) = (i / OW, i % OW);
                let len = (OW - ox).min(n - jj);
                let at = if PADDED { s * xs + oy * SH * rw + ox * SW } else { s * xs };
                segs[nseg] = (at, jj, len, oy, ox);
                nseg += 1;
                jj += len;
            }
            let segs = &segs[..nseg];
            for t0 in (0..taps).step_by(kc) {
                let t1 = (t0 + kc).min(taps);
                // cols[t - t0][jj], one output row segment at a time.
                for t in t0..t1 {
                    let row = &mut cols[(t - t0) * n..(t - t0 + 1) * n];
                    if PADDED {
                        let off = Self::tap_offset::<H, W>(t);
                        for &(at, jj, len, _, _) in segs {
                            let (dst, src) = (&mut row[jj..jj + len], &x[at + off..at + off + (len - 1) * SW + 1]);
                            for (i, d) in dst.iter_mut().enumerate() {
                                *d = src[i * SW];
                            }
                        }
                    } else {
                        Self::gather_plain::<H, W, OW>(x, t, segs, row);
                    }
                }
                let parts = [(&w[t0..], &cols[..(t1 - t0) * n])];
                let yb = &mut yb[..OUT_C * n];
                if !k.bcast_gemm((OUT_C, n, t1 - t0), &parts, (taps, 1, n), yb, n, t0 > 0, false) {
                    assert!(j0 == 0 && t0 == 0, "a backend declined a matrix product it ran before");
                    return false;
                }
            }
            // Out of the block into each sample's planes, with the bias.
            let (mut jj, mut j) = (0, j0);
            while jj < n {
                let (s, i) = (j / npos, j % npos);
                let len = (npos - i).min(n - jj);
                let ys = &mut y[s * OUT_C * npos..(s + 1) * OUT_C * npos];
                for o in 0..OUT_C {
                    let b = match bias {
                        Some(bias) => bias[o],
                        None => 0.0,
                    };
                    let src = &yb[o * n + jj..o * n + jj + len];
                    for (d, v) in ys[o * npos + i..o * npos + i + len].iter_mut().zip(src) {
                        *d = v + b;
                    }
                }
                jj += len;
                j += len;
            }
        }
        true
    }

    /// `cols` row of tap `t` from a plain (unpadded) batch `x`, one output
    /// row segment `(sample start, first column, length, oy, ox)` at a
    /// time: zeros where the tap lands on the padding.
    #[inline(always)]
    fn gather_plain<const H: usize, const W: usize, const OW: usize>(
        x: &[f32],
        t: usize,
        segs: &[(usize, usize, usize, usize, usize)],
        row: &mut [f32],
    ) {
        let (c, m, n) = (t / (KH * KW), t / KW % KH, t % KW);
        // The output columns whose input column `ox*SW + n - PW` is inside.
        let (lo, hi) = super::conv2d::valid_range(W, OW, n, PW, SW);
        for &(at, jj, len, oy, ox) in segs {
            let dst = &mut row[jj..jj + len];
            let iy = oy * SH + m;
            let (a, b) = (lo.clamp(ox, ox + len), hi.clamp(ox, ox + len));
            if iy < PH || iy >= H + PH || a >= b {
                dst.fill(0.0);
                continue;
            }
            dst[..a - ox].fill(0.0);
            dst[b - ox..].fill(0.0);
            let start = at + c * H * W + (iy - PH) * W + a * SW + n - PW;
            let src = &x[start..start + (b - a - 1) * SW + 1];
            for (i, d) in dst[a - ox..b - ox].iter_mut().enumerate() {
                *d = src[i * SW];
            }
        }
    }

    /// Backward pass of a batch of `B` samples (`xs` floats apart in `x`)
    /// by im2col, per sample, in blocks of output positions whose `colsᵀ`
    /// fits [`COLS`]: adds the weight gradient into `dw` and the bias
    /// gradient into `db` and, if asked, overwrites `dx` (`B` plain
    /// samples of `IN_C x H x W`). `false`, having written nothing, where
    /// `k` declines the matrix product or the shape does not fit.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward<const B: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
        k: Kernels,
        x: &[f32],
        xs: usize,
        dy: &[f32],
        mut dx: Option<&mut [f32]>,
        w: &[f32],
        dw: &mut [f32],
        db: Option<&mut [f32; OUT_C]>,
    ) -> bool {
        if !Self::FITS {
            return false;
        }
        let (taps, npos, in_len) = (Self::TAPS, OH * OW, IN_C * H * W);
        if B * npos == 0 {
            return true;
        }
        let blocks = npos.div_ceil(COLS / taps);
        let nb = npos.div_ceil(blocks);
        let mut cols = [0.0f32; COLS];
        let mut first = true;
        for s in 0..B {
            let (x, dy) = (&x[s * xs..], &dy[s * OUT_C * npos..(s + 1) * OUT_C * npos]);
            for i0 in (0..npos).step_by(nb) {
                let n = nb.min(npos - i0);
                let cols = &mut cols[..n * taps];
                Self::gather_t::<H, W, OW>(x, i0, cols);
                // dw[o][t] += sum_i dy[o][i0 + i] * colsᵀ[i][t]
                let parts = [(&dy[i0..], &cols[..])];
                if !k.bcast_gemm((OUT_C, taps, n), &parts, (npos, 1, taps), dw, taps, true, true) {
                    assert!(first, "a backend declined a matrix product it ran before");
                    return false;
                }
                first = false;
                if let Some(dx) = dx.as_deref_mut() {
                    // dcolsᵀ[i][t] = sum_o dy[o][i0 + i] * w[o][t]
                    let ran =
                        k.bcast_gemm((n, taps, OUT_C), &[(&dy[i0..], w)], (1, npos, taps), cols, taps, false, true);
                    assert!(ran, "a backend declined a matrix product it ran before");
                    let dx = &mut dx[s * in_len..(s + 1) * in_len];
                    if i0 == 0 {
                        dx.fill(0.0);
                    }
                    Self::col2im::<H, W, OW>(cols, i0, dx);
                }
            }
        }
        if let Some(db) = db {
            let mut sums = [0.0; OUT_C];
            for dy in dy[..B * OUT_C * npos].chunks_exact(OUT_C * npos) {
                math::plane_sums(dy, npos, &mut sums);
                for (gb, s) in db.iter_mut().zip(&sums) {
                    *gb += s;
                }
            }
        }
        true
    }

    /// `colsᵀ[i][t]` of one sample `x` for the positions from `i0`
    /// (`cols.len() / TAPS` of them): each tap row `(c, m)` is `KW`
    /// contiguous floats, zeros on the padding of a plain input.
    fn gather_t<const H: usize, const W: usize, const OW: usize>(x: &[f32], i0: usize, cols: &mut [f32]) {
        if PADDED {
            let (rw, plane) = (W + 2 * PW, (H + 2 * PH) * (W + 2 * PW));
            for (i, dst) in (i0..).zip(cols.chunks_exact_mut(Self::TAPS)) {
                let base = (i / OW) * SH * rw + (i % OW) * SW;
                for (c, dst) in dst.chunks_exact_mut(KH * KW).enumerate() {
                    for (m, dst) in dst.chunks_exact_mut(KW).enumerate() {
                        let at = c * plane + base + m * rw;
                        dst.copy_from_slice(&x[at..at + KW]);
                    }
                }
            }
            return;
        }
        for (i, dst) in (i0..).zip(cols.chunks_exact_mut(Self::TAPS)) {
            let (py, px) = ((i / OW) * SH, (i % OW) * SW);
            // Kernel columns that land inside the input.
            let (n_lo, n_hi) = (PW.saturating_sub(px), KW.min((W + PW).saturating_sub(px)));
            for (c, dst) in dst.chunks_exact_mut(KH * KW).enumerate() {
                for (m, dst) in dst.chunks_exact_mut(KW).enumerate() {
                    let iy = py + m;
                    if iy < PH || iy >= H + PH || n_lo >= n_hi {
                        dst.fill(0.0);
                        continue;
                    }
                    let at = c * H * W + (iy - PH) * W + px;
                    dst[..n_lo].fill(0.0);
                    dst[n_lo..n_hi].copy_from_slice(&x[at + n_lo - PW..at + n_hi - PW]);
                    dst[n_hi..].fill(0.0);
                }
            }
        }
    }

    /// `dx += ` the scatter of `dcolsᵀ[i][t]` for the positions from `i0`
    /// (`cols.len() / TAPS` of them) into one plain sample `dx`, skipping
    /// the taps on the padding.
    fn col2im<const H: usize, const W: usize, const OW: usize>(cols: &[f32], i0: usize, dx: &mut [f32]) {
        // Rows of `W`, `IN_C*H` of them: constant-length rows, as the
        // `Tensor` it came from.
        let rows = dx.as_chunks_mut::<W>().0;
        for (i, g) in (i0..).zip(cols.chunks_exact(Self::TAPS)) {
            let (py, px) = ((i / OW) * SH, (i % OW) * SW);
            // Kernel rows and columns that land inside the input.
            let (m_lo, m_hi) = (PH.saturating_sub(py), KH.min((H + PH).saturating_sub(py)));
            let (n_lo, n_hi) = (PW.saturating_sub(px), KW.min((W + PW).saturating_sub(px)));
            if n_lo >= n_hi {
                continue;
            }
            if (m_lo, m_hi, n_lo, n_hi) == (0, KH, 0, KW) {
                // Inside the input: whole kernel rows of KW (unrolled).
                for (c, g) in g.chunks_exact(KH * KW).enumerate() {
                    for (m, g) in g.chunks_exact(KW).enumerate() {
                        let row = &mut rows[c * H + py + m - PH][px - PW..px - PW + KW];
                        for n in 0..KW {
                            row[n] += g[n];
                        }
                    }
                }
                continue;
            }
            for (c, g) in g.chunks_exact(KH * KW).enumerate() {
                for m in m_lo..m_hi {
                    let row = &mut rows[c * H + py + m - PH][px + n_lo - PW..px + n_hi - PW];
                    for (d, v) in row.iter_mut().zip(&g[m * KW + n_lo..m * KW + n_hi]) {
                        *d += v;
                    }
                }
            }
        }
    }
}
