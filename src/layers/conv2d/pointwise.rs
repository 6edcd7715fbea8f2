//! `Conv2d`'s 1x1 path (`K = 1`, `PAD = 0`, stride 1): the convolution is a
//! matrix product per sample, run by [`Kernels::bcast_gemm`] over blocks
//! of [`COLUMNS`] positions of the whole batch. With `x[b]` an
//! `IN_C x HW` matrix (`HW = H*W`), `dy[b]` and `y[b]` `OUT_C x HW`:
//!
//! ```text
//! y[b]  = W · x[b] (+ bias)          W: OUT_C x IN_C
//! dW   += Σ_b dy[b] · x[b]ᵀ
//! dx[b] = Wᵀ · dy[b]
//! ```
//!
//! A block's positions may span two or more samples, so a 7x7 plane (49
//! positions) fills the product's tiles as well as a 28x28 one. Each block
//! is copied into a stack scratch first (`xt[c][j]`, `dyt[o][j]`, and
//! `xᵀ[j][c]` for the weight gradient); the products read only those.
//! Every backend with the kernels runs it, the portable one included.

use super::{Conv2d, PaddedInput};
use crate::kernels::{Isa, Kernels};
use crate::{Flat, Tensor};

/// Positions per block: a whole number of every backend's widest
/// `bcast_gemm` tile (AVX-512 6 vectors of 16; AVX2 2 of 8; NEON 4 of 4;
/// portable 2 of 4).
const COLUMNS: usize = 96;

/// Positions a plane needs for the forward pass and the input gradient
/// to run one product per sample, on the planes themselves.
const DIRECT: usize = 2 * COLUMNS;

/// Floats of one scratch buffer (48 KiB): a block of [`COLUMNS`]
/// positions of up to 128 channels. The path takes two of them.
const SCRATCH: usize = 128 * COLUMNS;

/// Calls `f(sample, position, column, length)` for each run of positions
/// of one sample in the block of `n` columns from column `j0` (column `j`
/// is position `j % npos` of sample `j / npos`).
#[inline(always)]
fn for_runs(j0: usize, n: usize, npos: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
    let mut jj = 0;
    while jj < n {
        let (s, i) = ((j0 + jj) / npos, (j0 + jj) % npos);
        let len = (npos - i).min(n - jj);
        f(s, i, jj, len);
        jj += len;
    }
}

/// Copies the block of `n` columns from column `j0` (as [`for_runs`]) of
/// `channels` planes of `npos` positions, each sample's planes `sample`
/// floats apart in `src`, into `dst` as `[channels][n]`.
#[inline(always)]
fn gather_columns(src: &[f32], sample: usize, channels: usize, npos: usize, j0: usize, n: usize, dst: &mut [f32]) {
    for_runs(j0, n, npos, |s, i, jj, len| {
        for c in 0..channels {
            dst[c * n + jj..][..len].copy_from_slice(&src[s * sample + c * npos + i..][..len]);
        }
    });
}

/// One of the three products of a 1x1 convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pass {
    /// `y = W · x`.
    Forward,
    /// `dW += dy · xᵀ`.
    WeightGrad,
    /// `dx = Wᵀ · dy`.
    InputGrad,
}

/// Whether `pass` runs as a matrix product on `isa` for `h x w` planes,
/// where it measured faster than the stride-1 convolution kernels
/// (docs/performance.md, "1x1 convolutions"); `wg_t` says whether their
/// weight gradient would run channels-last.
fn pays(isa: Isa, pass: Pass, (h, w): (usize, usize), wg_t: bool) -> bool {
    match (isa, pass) {
        // The convolution kernels' forward tiles tied on the planes a
        // product runs in place (28x28 and 14x14).
        (Isa::Avx512, Pass::Forward) => h * w < DIRECT,
        (Isa::Avx512 | Isa::Avx2 | Isa::Neon, _) => true,
        // The portable product lost to the convolution kernels but for
        // the input gradient of small planes (the batched blocks) and the
        // weight gradient of short rows where they run row tiles.
        (Isa::Portable, Pass::Forward) => false,
        (Isa::Portable, Pass::InputGrad) => h * w < DIRECT,
        (Isa::Portable, Pass::WeightGrad) => w <= 16 && !wg_t,
        (Isa::Reference, _) => false,
    }
}

impl<const IN_C: usize, const OUT_C: usize, const K: usize, const PAD: usize, const STRIDE: usize, const BIAS: bool>
    Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
    /// Whether this shape is a pointwise convolution the scratch takes:
    /// `K = 1`, no padding, stride 1, 1 to 128 channels in and out.
    pub(super) const POINTWISE: bool =
        K == 1 && PAD == 0 && STRIDE == 1 && IN_C > 0 && IN_C <= 128 && OUT_C > 0 && OUT_C <= 128;

    /// Whether `k` runs `pass` of this layer on `H x W` planes as a matrix
    /// product (a [`POINTWISE`](Self::POINTWISE) shape, where it pays).
    #[inline]
    pub(super) fn pointwise<const H: usize, const W: usize>(k: Kernels, pass: Pass) -> bool {
        Self::POINTWISE && pays(k.isa(), pass, (H, W), Self::weight_grad_t_applies(H, W))
    }

    /// Forward pass of a batch as matrix products, `y[b] = W · x[b] +
    /// bias`, from the inputs in `cache` (no padding: `PAD = 0`). `false`,
    /// having written nothing, where `k` declines the product or the shape
    /// is not [`POINTWISE`](Self::POINTWISE).
    pub(super) fn forward_pointwise<
        const B: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    >(
        &self,
        k: Kernels,
        cache: &[PaddedInput<IN_C, H, W, PAD>; B],
        y: &mut [Tensor<OUT_C, OH, OW>; B],
    ) -> bool {
        if !Self::POINTWISE || !k.is_fast() {
            return false;
        }
        let (npos, xs) = (H * W, PaddedInput::<IN_C, H, W, PAD>::LEN);
        let (x, y, w) = (cache.as_flat(), y.as_flat_mut(), self.weight.as_flat());
        if npos >= DIRECT {
            // Planes as wide as two blocks: one product per sample, in place.
            for s in 0..B {
                let ys = &mut y[s * OUT_C * npos..][..OUT_C * npos];
                if BIAS {
                    for (yo, &b) in ys.chunks_exact_mut(npos).zip(&self.bias) {
                        yo.fill(b);
                    }
                }
                let xs = &x[s * xs..][..IN_C * npos];
                if !k.bcast_gemm((OUT_C, npos, IN_C), &[(w, xs)], (IN_C, 1, npos), ys, npos, BIAS, false) {
                    assert!(s == 0, "a backend declined a matrix product it ran before");
                    return false;
                }
            }
            return true;
        }
        let mut xt = [0.0f32; SCRATCH]; // [IN_C][n]
        let mut yt = [0.0f32; SCRATCH]; // [OUT_C][n]
        let total = B * npos;
        for j0 in (0..total).step_by(COLUMNS) {
            let n = COLUMNS.min(total - j0);
            gather_columns(x, xs, IN_C, npos, j0, n, &mut xt);
            // yt[o][j] = Σ_c w[o][c] · xt[c][j]
            if !k.bcast_gemm(
                (OUT_C, n, IN_C),
                &[(w, &xt[..IN_C * n])],
                (IN_C, 1, n),
                &mut yt[..OUT_C * n],
                n,
                false,
                false,
            ) {
                assert!(j0 == 0, "a backend declined a matrix product it ran before");
                return false;
            }
            for_runs(j0, n, npos, |s, i, jj, len| {
                for o in 0..OUT_C {
                    let b = if BIAS { self.bias[o] } else { 0.0 };
                    let dst = &mut y[(s * OUT_C + o) * npos + i..][..len];
                    for (d, v) in dst.iter_mut().zip(&yt[o * n + jj..][..len]) {
                        *d = v + b;
                    }
                }
            });
        }
        true
    }

    /// Weight gradient of a batch as matrix products: adds `Σ_b dy[b] ·
    /// x[b]ᵀ` into `grads.weight`, in blocks of [`COLUMNS`] positions (the
    /// output gradient copied, `dyt[o][j]`, the inputs transposed,
    /// `xᵀ[j][c]`). `false`, having written nothing, where `k` declines
    /// the product or the shape is not [`POINTWISE`](Self::POINTWISE).
    pub(super) fn weight_grad_pointwise<
        const B: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    >(
        k: Kernels,
        cache: &[PaddedInput<IN_C, H, W, PAD>; B],
        dy: &[Tensor<OUT_C, OH, OW>; B],
        grads: &mut Self,
    ) -> bool {
        if !Self::POINTWISE || !k.is_fast() {
            return false;
        }
        let (npos, xs) = (H * W, PaddedInput::<IN_C, H, W, PAD>::LEN);
        let (x, dy) = (cache.as_flat(), dy.as_flat());
        let mut dyt = [0.0f32; SCRATCH]; // [OUT_C][n]
        let mut xtt = [0.0f32; SCRATCH]; // [n][IN_C]
        let total = B * npos;
        for j0 in (0..total).step_by(COLUMNS) {
            let n = COLUMNS.min(total - j0);
            gather_columns(dy, OUT_C * npos, OUT_C, npos, j0, n, &mut dyt);
            for_runs(j0, n, npos, |s, i, jj, len| {
                let x = &x[s * xs + i..];
                if IN_C.is_multiple_of(16) {
                    for c0 in (0..IN_C).step_by(16) {
                        let ran = k.transpose16(&x[c0 * npos..], npos, len, &mut xtt[jj * IN_C + c0..], IN_C);
                        assert!(ran, "a fast backend runs every transposition");
                    }
                } else {
                    for c in 0..IN_C {
                        for (p, &v) in x[c * npos..][..len].iter().enumerate() {
                            xtt[(jj + p) * IN_C + c] = v;
                        }
                    }
                }
            });
            // dw[o][c] += Σ_j dyt[o][j] · xᵀ[j][c]
            let (a, b) = (&dyt[..OUT_C * n], &xtt[..n * IN_C]);
            let dw = grads.weight.as_flat_mut();
            if !k.bcast_gemm((OUT_C, IN_C, n), &[(a, b)], (n, 1, IN_C), dw, IN_C, true, true) {
                assert!(j0 == 0, "a backend declined a matrix product it ran before");
                return false;
            }
        }
        true
    }

    /// Input gradient of a batch as matrix products: overwrites `dx` with
    /// `Wᵀ · dy[b]`, one product per sample on planes of at least
    /// [`DIRECT`] positions, else in blocks of [`COLUMNS`] positions of the
    /// batch. `false`, having written nothing, where `k` declines the
    /// product or the shape is not [`POINTWISE`](Self::POINTWISE).
    pub(super) fn input_grad_pointwise<
        const B: usize,
        const H: usize,
        const W: usize,
        const OH: usize,
        const OW: usize,
    >(
        &self,
        k: Kernels,
        dy: &[Tensor<OUT_C, OH, OW>; B],
        dx: &mut [Tensor<IN_C, H, W>; B],
    ) -> bool {
        if !Self::POINTWISE || !k.is_fast() {
            return false;
        }
        let npos = H * W;
        let w = self.weight.as_flat();
        if npos >= DIRECT {
            for (s, (dy, dx)) in dy.iter().zip(dx.iter_mut()).enumerate() {
                let (dy, dx) = (dy.as_flat(), dx.as_flat_mut());
                if !k.bcast_gemm((IN_C, npos, OUT_C), &[(w, dy)], (1, IN_C, npos), dx, npos, false, false) {
                    assert!(s == 0, "a backend declined a matrix product it ran before");
                    return false;
                }
            }
            return true;
        }
        let (dy, dx) = (dy.as_flat(), dx.as_flat_mut());
        let mut dyt = [0.0f32; SCRATCH]; // [OUT_C][n]
        let mut dxt = [0.0f32; SCRATCH]; // [IN_C][n]
        let total = B * npos;
        for j0 in (0..total).step_by(COLUMNS) {
            let n = COLUMNS.min(total - j0);
            gather_columns(dy, OUT_C * npos, OUT_C, npos, j0, n, &mut dyt);
            // dxt[c][j] = Σ_o w[o][c] · dyt[o][j]
            let dxt = &mut dxt[..IN_C * n];
            if !k.bcast_gemm((IN_C, n, OUT_C), &[(w, &dyt[..OUT_C * n])], (1, IN_C, n), dxt, n, false, false) {
                assert!(j0 == 0, "a backend declined a matrix product it ran before");
                return false;
            }
            for_runs(j0, n, npos, |s, i, jj, len| {
                for c in 0..IN_C {
                    dx[(s * IN_C + c) * npos + i..][..len].copy_from_slice(&dxt[c * n + jj..][..len]);
                }
            });
        }
        true
    }
}
