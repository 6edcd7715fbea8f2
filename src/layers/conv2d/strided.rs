//! `Conv2d`'s fast path where the stride-1 kernels do not apply
//! (`STRIDE > 1`, or `PAD >= K`): im2col and the matrix product
//! [`Kernels::bcast_gemm`].
//!
//! With `t = (c, m, n)` a tap (`IN_C*K*K` of them) and `i = (oy, ox)` an
//! output position, `cols[t][i] = xp[c][oy*S + m][ox*S + n]` is gathered
//! from the padded input in the cache (`xp`, so no bounds checks). Then
//!
//! ```text
//! y[o][i]      = b[o] + sum_t w[o][t] * cols[t][i]     (columns of the whole batch, in blocks)
//! dw[o][t]    += sum_i dy[o][i] * colsᵀ[i][t]          (per sample, in blocks of positions)
//! dcolsᵀ[i][t] = sum_o dy[o][i] * w[o][t]               then scatter-added into dx (col2im)
//! ```
//!
//! Everything goes through fixed-size stack scratch (at most 96 KiB), so
//! nothing is allocated. Where `bcast_gemm` declines (no fast backend),
//! the first call says so before anything is written, and the layer runs
//! its reference loops.

use super::{Conv2d, PaddedInput};
use crate::kernels::Kernels;
use crate::{Flat, Tensor, math};

/// Floats of the columns scratch (64 KiB): `[taps][columns]` in the
/// forward pass, `[positions][taps]` in the backward pass.
const COLS: usize = 1 << 14;

/// Floats of the forward pass's output block (32 KiB): `[OUT_C][columns]`.
const Y_BLOCK: usize = 1 << 13;

/// Most columns of a forward block: the product's widest tile (4 rows x
/// 6 vectors of 16).
const MAX_COLUMNS: usize = 96;

impl<const IN_C: usize, const OUT_C: usize, const K: usize, const PAD: usize, const STRIDE: usize, const BIAS: bool>
    Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
    /// Taps per filter: `IN_C*K*K`.
    const TAPS: usize = IN_C * K * K;

    /// Whether this shape takes the im2col path: where the stride-1
    /// kernels do not ([`FAST_SHAPE`](Self::FAST_SHAPE)), with at least
    /// one tap and at most what the scratch holds for one position.
    pub(super) const IM2COL: bool =
        !Self::FAST_SHAPE && Self::TAPS > 0 && Self::TAPS <= COLS && OUT_C > 0 && OUT_C <= Y_BLOCK / 16;

    /// The flat index in a padded sample of tap `t` at output position
    /// `(oy, ox)` (padded rows of `W + 2*PAD`, planes of `(H + 2*PAD)` rows).
    #[inline(always)]
    fn tap_offset<const H: usize, const W: usize>(t: usize) -> usize {
        let rw = W + 2 * PAD;
        let (c, m, n) = (t / (K * K), t / K % K, t % K);
        c * (H + 2 * PAD) * rw + m * rw + n
    }

    /// Forward pass of a batch by im2col: `y = w · cols (+ b)`, blocks of
    /// up to [`MAX_COLUMNS`] columns running over the samples of the batch
    /// (`j = s*OH*OW + i`), taps in chunks that fit [`COLS`]. `false`,
    /// having written nothing, where `k` declines the matrix product.
    pub(super) fn forward_im2col<const B: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        k: Kernels,
        cache: &[PaddedInput<IN_C, H, W, PAD>; B],
        y: &mut [Tensor<OUT_C, OH, OW>; B],
    ) -> bool {
        if !Self::IM2COL {
            return false;
        }
        let (taps, npos, rw) = (Self::TAPS, OH * OW, W + 2 * PAD);
        let total = B * npos;
        if total == 0 {
            return true;
        }
        let nb = (Y_BLOCK / OUT_C / 16 * 16).min(MAX_COLUMNS);
        let chunks = taps.div_ceil(COLS / nb);
        let kc = taps.div_ceil(chunks);
        let (x, xs) = (cache.as_flat(), PaddedInput::<IN_C, H, W, PAD>::LEN);
        let w = self.weight.as_flat();
        let mut cols = [0.0f32; COLS];
        let mut yb = [0.0f32; Y_BLOCK];
        // The block's row segments: (start in `x`, first column, length).
        let mut segs = [(0usize, 0usize, 0usize); MAX_COLUMNS];
        for j0 in (0..total).step_by(nb) {
            let n = nb.min(total - j0);
            let (mut nseg, mut jj) = (0, 0);
            while jj < n {
                let (s, i) = ((j0 + jj) / npos, (j0 + jj) % npos);
                let (oy, ox) = (i / OW, i % OW);
                let len = (OW - ox).min(n - jj);
                segs[nseg] = (s * xs + oy * STRIDE * rw + ox * STRIDE, jj, len);
                nseg += 1;
                jj += len;
            }
            let segs = &segs[..nseg];
            for t0 in (0..taps).step_by(kc) {
                let t1 = (t0 + kc).min(taps);
                // cols[t - t0][jj], one output row segment at a time.
                for t in t0..t1 {
                    let off = Self::tap_offset::<H, W>(t);
                    let row = &mut cols[(t - t0) * n..(t - t0 + 1) * n];
                    for &(at, jj, len) in segs {
                        let (dst, src) = (&mut row[jj..jj + len], &x[at + off..at + off + (len - 1) * STRIDE + 1]);
                        for (i, d) in dst.iter_mut().enumerate() {
                            *d = src[i * STRIDE];
                        }
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
                let ys = y[s].as_flat_mut();
                for o in 0..OUT_C {
                    let b = if BIAS { self.bias[o] } else { 0.0 };
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

    /// Backward pass of a batch by im2col, per sample, in blocks of output
    /// positions whose `colsᵀ` fits [`COLS`]: adds the weight and bias
    /// gradients into `grads` and, if asked, overwrites `dx`. `false`,
    /// having written nothing, where `k` declines the matrix product.
    pub(super) fn backward_im2col<const B: usize, const H: usize, const W: usize, const OH: usize, const OW: usize>(
        &self,
        k: Kernels,
        cache: &[PaddedInput<IN_C, H, W, PAD>; B],
        dy: &[Tensor<OUT_C, OH, OW>; B],
        mut dx: Option<&mut [Tensor<IN_C, H, W>; B]>,
        grads: &mut Self,
    ) -> bool {
        if !Self::IM2COL {
            return false;
        }
        let (taps, npos) = (Self::TAPS, OH * OW);
        if B * npos == 0 {
            return true;
        }
        let blocks = npos.div_ceil(COLS / taps);
        let nb = npos.div_ceil(blocks);
        let w = self.weight.as_flat();
        let mut cols = [0.0f32; COLS];
        let mut first = true;
        for (s, (x, dy)) in cache.iter().zip(dy).enumerate() {
            let (x, dy) = (x.as_flat(), dy.as_flat());
            for i0 in (0..npos).step_by(nb) {
                let n = nb.min(npos - i0);
                let cols = &mut cols[..n * taps];
                Self::gather_t::<H, W, OW>(x, i0, cols);
                // dw[o][t] += sum_i dy[o][i0 + i] * colsᵀ[i][t]
                let parts = [(&dy[i0..], &cols[..])];
                let dw = grads.weight.as_flat_mut();
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
                    if i0 == 0 {
                        dx[s].zero();
                    }
                    Self::col2im::<H, W, OW>(cols, i0, &mut dx[s]);
                }
            }
        }
        if BIAS {
            let mut sums = [0.0; OUT_C];
            for dy in dy {
                math::plane_sums(dy.as_flat(), npos, &mut sums);
                for (gb, s) in grads.bias.iter_mut().zip(&sums) {
                    *gb += s;
                }
            }
        }
        true
    }

    /// `colsᵀ[i][t]` of one padded sample `x` for the positions from `i0`
    /// (`cols.len() / TAPS` of them): each tap row `(c, m)` is `K`
    /// contiguous floats.
    fn gather_t<const H: usize, const W: usize, const OW: usize>(x: &[f32], i0: usize, cols: &mut [f32]) {
        let (rw, plane) = (W + 2 * PAD, (H + 2 * PAD) * (W + 2 * PAD));
        for (i, dst) in (i0..).zip(cols.chunks_exact_mut(Self::TAPS)) {
            let base = (i / OW) * STRIDE * rw + (i % OW) * STRIDE;
            for (c, dst) in dst.chunks_exact_mut(K * K).enumerate() {
                for (m, dst) in dst.chunks_exact_mut(K).enumerate() {
                    let at = c * plane + base + m * rw;
                    dst.copy_from_slice(&x[at..at + K]);
                }
            }
        }
    }

    /// `dx += ` the scatter of `dcolsᵀ[i][t]` for the positions from `i0`
    /// (`cols.len() / TAPS` of them), skipping the taps on the padding.
    fn col2im<const H: usize, const W: usize, const OW: usize>(cols: &[f32], i0: usize, dx: &mut Tensor<IN_C, H, W>) {
        for (i, g) in (i0..).zip(cols.chunks_exact(Self::TAPS)) {
            let (py, px) = ((i / OW) * STRIDE, (i % OW) * STRIDE);
            // Kernel rows and columns that land inside the input.
            let (m_lo, m_hi) = (PAD.saturating_sub(py), K.min((H + PAD).saturating_sub(py)));
            let (n_lo, n_hi) = (PAD.saturating_sub(px), K.min((W + PAD).saturating_sub(px)));
            if n_lo >= n_hi {
                continue;
            }
            for (c, g) in g.chunks_exact(K * K).enumerate() {
                for m in m_lo..m_hi {
                    let row = &mut dx.0[c][py + m - PAD][px + n_lo - PAD..px + n_hi - PAD];
                    for (d, v) in row.iter_mut().zip(&g[m * K + n_lo..m * K + n_hi]) {
                        *d += v;
                    }
                }
            }
        }
    }
}
