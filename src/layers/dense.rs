//! `Dense`: a fully connected layer on the flattened input.
//!
//! Forward, with `x` flattened in PyTorch order (`x.flatten(1)`):
//!
//! ```text
//! y[o] = b[o] + sum_{i < N_IN} w[o][i] * x[i]
//! ```
//!
//! Backward, with `dy = dL/dy`:
//!
//! ```text
//! dL/dw[o][i] = dy[o] * x[i]        (an outer product; over a batch, a matrix product)
//! dL/db[o]    = dy[o]
//! dL/dx[i]    = sum_o w[o][i] * dy[o]
//! ```

use crate::kernels::{self, Kernels, MAX_PARTS};
use crate::layer::{Grad, Init, Layer, Mode, ParamTensor, Parameters, visit_weight_bias, visit_weight_bias_mut};
use crate::{Flat, Shape, Tensor, math};
use rand::Rng;

/// The fewest weights for which a `Dense` layer's weight gradient is shared
/// out between the threads of a data-parallel trainer ([`Parameters::SHARED`]):
/// 2^18, a 1 MiB gradient, half this machine's L2. Each thread then computes
/// some rows over every thread's samples, instead of all rows over its
/// own: tfconv's 12.8 MB gradient is written once per step, not once per
/// thread, and not summed afterwards.
pub const SHARE_MIN: usize = 1 << 18;

/// Fully connected layer from `N_IN` inputs to `N_OUT` outputs, with or
/// without bias. Its input is any `Tensor<C, H, W>` with `C*H*W == N_IN`,
/// read flattened in PyTorch order; its output is `Tensor<N_OUT, 1, 1>`.
///
/// PyTorch: `nn.Linear(N_IN, N_OUT, bias=BIAS)` after `x.flatten(1)`;
/// `weight` has the same `[N_OUT][N_IN]` layout.
///
/// # Shapes
/// Input `C x H x W` with `C*H*W = N_IN`; output `N_OUT x 1 x 1`.
///
/// ```
/// use constnet::{Dense, Flat, Layer, Mode, Tensor};
/// let mut d = Dense::<4, 1>::zeroed();
/// d.weight = [[1.0, 2.0, 3.0, 4.0]];
/// d.bias = [0.5];
/// let x = Tensor::<1, 2, 2>::from_array([[[1.0, 1.0], [1.0, 1.0]]]);
/// let mut y = [Tensor::<1, 1, 1>::zeroed()];
/// d.forward(&[x], &mut y, &mut Flat::zeroed(), &mut Mode::Infer);
/// assert_eq!(y[0].0[0][0][0], 10.5);
/// ```
///
/// An input whose size is not `N_IN` does not build:
///
/// ```compile_fail
/// use constnet::{Dense, Flat, Layer, Mode, Tensor};
/// let d = Dense::<676, 1>::zeroed();
/// let mut y = [Tensor::<1, 1, 1>::zeroed()];
/// d.forward(&[Tensor::<1, 28, 28>::zeroed()], &mut y, &mut Flat::zeroed(), &mut Mode::Infer);
/// ```
#[repr(C)]
#[derive(Clone, Debug, PartialEq)]
pub struct Dense<const N_IN: usize, const N_OUT: usize, const BIAS: bool = true> {
    /// Weights, `[N_OUT][N_IN]` (PyTorch's layout).
    pub weight: [[f32; N_IN]; N_OUT],
    /// Biases (zero and untouched when `BIAS = false`).
    pub bias: [f32; N_OUT],
}

// SAFETY: repr(C) struct of f32 arrays.
unsafe impl<const N_IN: usize, const N_OUT: usize, const BIAS: bool> Flat for Dense<N_IN, N_OUT, BIAS> {}

impl<const N_IN: usize, const N_OUT: usize, const BIAS: bool, const C: usize, const H: usize, const W: usize>
    Shape<C, H, W> for Dense<N_IN, N_OUT, BIAS>
{
    const OUT_C: usize = {
        assert!(C * H * W == N_IN, "Dense: N_IN must equal C*H*W, the size of its flattened input");
        N_OUT
    };
    const OUT_H: usize = 1;
    const OUT_W: usize = 1;
}

impl<const N_IN: usize, const N_OUT: usize, const BIAS: bool> Dense<N_IN, N_OUT, BIAS> {
    /// Fast forward pass over a batch (`x`: B x N_IN, `y`: B x N_OUT,
    /// `xt`: scratch of B x N_IN). Batches of 16 or more are transposed into
    /// `xt` (samples contiguous) and computed as `yᵀ = W xᵀ`, each weight
    /// read once per tile of samples; smaller batches use tiles of samples
    /// x outputs reduced along `N_IN`. `false`, having done nothing, where
    /// the kernels decline.
    fn forward_fast(&self, k: Kernels, x: &[f32], y: &mut [f32], xt: &mut [f32]) -> bool {
        let n = x.len() / N_IN;
        assert!(
            x.len() == n * N_IN && y.len() == n * N_OUT && xt.len() == x.len(),
            "Dense: batch buffers of unequal sizes"
        );
        let (w, bias) = (self.weight.as_flat(), BIAS.then_some(&self.bias[..]));
        if n < 16 {
            return k.dense_forward((n, N_IN, N_OUT), x, w, bias, y);
        }
        let full = n / 16 * 16;
        for s0 in (0..full).step_by(16) {
            // Samples s0..s0+16 of x into column s0.. of xt (N_IN rows of n).
            if !k.transpose16(&x[s0 * N_IN..], N_IN, N_IN, &mut xt[s0..], n) {
                return false;
            }
        }
        for (s, xs) in x.chunks_exact(N_IN).enumerate().skip(full) {
            for (i, &v) in xs.iter().enumerate() {
                xt[i * n + s] = v;
            }
        }
        k.dense_forward_packed((n, N_IN, N_OUT), xt, w, bias, y)
    }

    /// Fast backward pass over a batch: the weight gradient `dW += dyᵀ x`
    /// (with `overwrite`, `dW = dyᵀ x`, the bias gradient likewise) and the
    /// input gradient `dx = dy W` as broadcast-FMA matrix products
    /// ([`Kernels::bcast_gemm`]). For a backend with fast kernels
    /// ([`Kernels::is_fast`]), which implement the matrix products for every
    /// shape.
    #[allow(clippy::too_many_arguments)]
    fn backward_fast(
        &self,
        k: Kernels,
        x: &[f32],
        dy: &[f32],
        dx: Option<&mut [f32]>,
        grads: &mut Self,
        overwrite: bool,
        dw: bool,
    ) {
        let n = x.len() / N_IN;
        assert!(x.len() == n * N_IN && dy.len() == n * N_OUT, "Dense: batch buffers of unequal sizes");
        if overwrite {
            grads.bias.fill(0.0);
        }
        if BIAS {
            for dy in dy.chunks_exact(N_OUT) {
                math::add_assign(&mut grads.bias, dy);
            }
        }
        if dw {
            Self::weight_grad_fast(k, &[(dy, x)], n, 0..N_OUT, grads.weight.as_flat_mut(), !overwrite);
        }
        // dL/dx[b][i] = Σ_o dy[b][o] W[o][i]: rows b, k = o, in bands of
        // DX_BAND weight rows, so the weights stream from memory band by band
        // while each band's column strips are reused by every block of samples.
        if let Some(dx) = dx {
            assert_eq!(dx.len(), n * N_IN, "Dense: batch buffers of unequal sizes");
            const DX_BAND: usize = 32;
            let w = self.weight.as_flat();
            let mut o0 = 0;
            while o0 < N_OUT {
                let band = DX_BAND.min(N_OUT - o0);
                let parts = [(&dy[o0..], &w[o0 * N_IN..])];
                let ran = k.bcast_gemm((n, N_IN, band), &parts, (N_OUT, 1, N_IN), dx, N_IN, o0 > 0, false);
                assert!(ran, "a fast backend runs every matrix product");
                o0 += band;
            }
        }
    }

    /// Fast weight gradient rows `rows` over a batch held in `parts` (each
    /// a `(dy, x)` pair of `n`-sample buffers, `dy` `n x N_OUT`, `x`
    /// `n x N_IN`): `dW[o][i] (+)= Σ_parts Σ_b dy[b][o] x[b][i]`, a matrix
    /// product (rows `o`, `k = b`) with the parts summed in order in each
    /// tile, stored into `w` (the gradient's rows `rows` only), or added with
    /// `accumulate`.
    fn weight_grad_fast(
        k: Kernels,
        parts: &[(&[f32], &[f32])],
        n: usize,
        rows: core::ops::Range<usize>,
        w: &mut [f32],
        accumulate: bool,
    ) {
        let mut at: [(&[f32], &[f32]); MAX_PARTS] = [(&[], &[]); MAX_PARTS];
        for (t, &(dy, x)) in at.iter_mut().zip(parts) {
            *t = (&dy[rows.start..], x);
        }
        let dims = (rows.len(), N_IN, n);
        let ran = k.bcast_gemm(dims, &at[..parts.len()], (1, N_OUT, N_IN), w, N_IN, accumulate, true);
        assert!(ran, "a fast backend runs every matrix product");
    }

    /// Backward pass over a batch, with fast kernels where the backend has them:
    /// parameter gradients added, or with `overwrite` overwritten (the fast
    /// path stores them; the reference one zeroes and adds).
    /// With `dw` false the weight gradient is left as it was (the bias
    /// gradient and `dx` are still computed).
    fn backward_batch(
        &self,
        x: &[f32],
        dy: &[f32],
        dx: Option<&mut [f32]>,
        grads: &mut Self,
        overwrite: bool,
        dw: bool,
    ) {
        let k = kernels::active();
        if k.is_fast() {
            return self.backward_fast(k, x, dy, dx, grads, overwrite, dw);
        }
        if overwrite {
            grads.bias.fill(0.0);
            if dw {
                grads.weight.as_flat_mut().fill(0.0);
            }
        }
        self.backward_reference(x, dy, dx, grads, dw);
    }

    /// The output rows of share `part` of `parts` of the weight gradient.
    fn share_rows(part: usize, parts: usize) -> core::ops::Range<usize> {
        part * N_OUT / parts..(part + 1) * N_OUT / parts
    }

    /// Portable weight gradient rows `rows`: `dW[o][i] (+)= Σ_b dy[b][o] x[b][i]`
    /// into `w`, which holds those rows only, overwritten unless `accumulate`.
    fn weight_grad_reference(x: &[f32], dy: &[f32], rows: core::ops::Range<usize>, w: &mut [f32], accumulate: bool) {
        for (o, gw) in rows.zip(w.chunks_exact_mut(N_IN)) {
            if !accumulate {
                gw.fill(0.0);
            }
            for (x, dy) in x.chunks_exact(N_IN).zip(dy.chunks_exact(N_OUT)) {
                math::axpy(gw, dy[o], x);
            }
        }
    }

    /// Portable forward pass over a batch (`x`: B x N_IN, `y`: B x N_OUT).
    /// Each weight row is read once per batch (a matrix product y = x Wᵀ).
    fn forward_reference(&self, x: &[f32], y: &mut [f32]) {
        for (o, w) in self.weight.iter().enumerate() {
            let b = if BIAS { self.bias[o] } else { 0.0 };
            for (x, y) in x.chunks_exact(N_IN).zip(y.chunks_exact_mut(N_OUT)) {
                y[o] = b + math::dot(w, x);
            }
        }
    }

    /// Portable backward pass over a batch (`dy`: B x N_OUT, `x`, `dx`: B x N_IN).
    fn backward_reference(&self, x: &[f32], dy: &[f32], mut dx: Option<&mut [f32]>, grads: &mut Self, dw: bool) {
        if let Some(dx) = dx.as_deref_mut() {
            dx.fill(0.0);
        }
        if dw {
            Self::weight_grad_reference(x, dy, 0..N_OUT, grads.weight.as_flat_mut(), true);
        }
        for o in 0..N_OUT {
            let w = &self.weight[o];
            for (b, dy) in dy.chunks_exact(N_OUT).enumerate() {
                let d = dy[o];
                if BIAS {
                    grads.bias[o] += d;
                }
                if let Some(dx) = dx.as_deref_mut() {
                    math::axpy(&mut dx[b * N_IN..(b + 1) * N_IN], d, w);
                }
            }
        }
    }
}

impl<const N_IN: usize, const N_OUT: usize, const BIAS: bool, const C: usize, const H: usize, const W: usize>
    Layer<C, H, W> for Dense<N_IN, N_OUT, BIAS>
{
    /// Scratch for the batch transposed (`N_IN` floats per sample; the
    /// fast kernels pack batches of 16 or more into it).
    type Cache<const B: usize> = [Tensor<C, H, W>; B];

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        cache: &mut [Tensor<C, H, W>; B],
        _mode: &mut Mode<'_>,
    ) {
        crate::layer::assert_out_shape!("Dense", OC, OH, OW);
        // The reference loops need no scratch.
        if !self.forward_fast(kernels::active(), x.as_flat(), y.as_flat_mut(), cache.as_flat_mut()) {
            self.forward_reference(x.as_flat(), y.as_flat_mut());
        }
    }

    /// With [`Grad::Overwrite`] the fast path stores the weight gradient
    /// instead of adding it (no zeroing pass, no read of the old values).
    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        _y: &[Tensor<OC, OH, OW>; B],
        _cache: &mut [Tensor<C, H, W>; B],
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        grads: &mut Self,
        grad: Grad,
    ) {
        crate::layer::assert_out_shape!("Dense", OC, OH, OW);
        let (overwrite, dw) = match grad {
            Grad::Add => (false, true),
            Grad::Overwrite => (true, true),
            Grad::OverwriteExceptShared => (true, <Self as Parameters>::SHARED == 0),
        };
        self.backward_batch(x.as_flat(), dy.as_flat(), dx.map(|d| d.as_flat_mut()), grads, overwrite, dw);
    }
}

impl<const N_IN: usize, const N_OUT: usize, const BIAS: bool> Parameters for Dense<N_IN, N_OUT, BIAS> {
    /// Fans as PyTorch computes them: `fan_in = N_IN`, `fan_out = N_OUT`.
    fn init(&mut self, init: Init, rng: &mut dyn Rng) {
        init.fill(self.weight.as_flat_mut(), N_IN, N_OUT, rng);
        self.bias = [0.0; N_OUT];
    }

    fn visit(&self, f: &mut dyn FnMut(ParamTensor<'_>)) {
        visit_weight_bias(self.weight.as_flat(), &[N_OUT, N_IN], BIAS.then_some(&self.bias), f);
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&'static str, &[usize], &mut [f32])) {
        visit_weight_bias_mut(self.weight.as_flat_mut(), &[N_OUT, N_IN], BIAS.then_some(&mut self.bias), f);
    }

    /// The weights, for a layer with at least [`SHARE_MIN`] of them.
    const SHARED: usize = if N_IN * N_OUT >= SHARE_MIN { N_IN * N_OUT } else { 0 };

    /// Share `part` of `parts` is the weight gradient's output rows
    /// `part·N_OUT/parts .. (part+1)·N_OUT/parts`.
    fn share(part: usize, parts: usize) -> core::ops::Range<usize> {
        let rows = Self::share_rows(part, parts);
        rows.start * N_IN..rows.end * N_IN
    }

    /// Over every part's samples, the parts summed in order inside each
    /// register tile (8 per pass over the rows; a further pass adds the
    /// next ones).
    fn shared_grad<'a>(
        &self,
        inputs: &mut dyn Iterator<Item = (&'a [f32], &'a [f32])>,
        part: usize,
        parts: usize,
        w: &mut [f32],
    ) {
        if <Self as Parameters>::SHARED == 0 {
            return;
        }
        let rows = Self::share_rows(part, parts);
        assert_eq!(w.len(), rows.len() * N_IN, "Dense::shared_grad: the share's gradient");
        let k = kernels::active();
        if k.is_fast() {
            // Up to MAX_PARTS parts per pass over the rows: one pass for a
            // trainer of up to 8 threads, and the sum in the whole batch's order.
            let (mut buf, mut n, mut pass): ([(&[f32], &[f32]); MAX_PARTS], _, _) = ([(&[], &[]); MAX_PARTS], 0, 0);
            let mut samples = None;
            for (x, dy) in inputs {
                let b = dy.len() / N_OUT;
                assert!(
                    x.len() == b * N_IN && dy.len() == b * N_OUT && *samples.get_or_insert(b) == b,
                    "Dense::shared_grad: parts of whole samples, the same number in each"
                );
                buf[n] = (dy, x);
                n += 1;
                if n == MAX_PARTS {
                    Self::weight_grad_fast(k, &buf, b, rows.clone(), w, pass > 0);
                    (n, pass) = (0, pass + 1);
                }
            }
            if n > 0 {
                Self::weight_grad_fast(k, &buf[..n], samples.unwrap_or(0), rows.clone(), w, pass > 0);
            }
            return;
        }
        for (k, (x, dy)) in inputs.enumerate() {
            Self::weight_grad_reference(x, dy, rows.clone(), w, k > 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients_from_a_feature_map() {
        check_layer::<Dense<12, 3>, 2, 3, 2, 2, 3, 1, 1>(11).unwrap();
    }

    #[test]
    fn gradients_without_bias() {
        check_layer::<Dense<25, 1, false>, 3, 1, 5, 5, 1, 1, 1>(12).unwrap();
    }

    #[test]
    fn gradients_batch_one() {
        check_layer::<Dense<7, 4>, 1, 7, 1, 1, 4, 1, 1>(13).unwrap();
    }

    /// Batch 9 = sample tiles 4 + 4 + 1; 13 outputs = 6 + 6 + 1; 70 inputs =
    /// a 4-vector column tile and a masked 6-lane one.
    #[test]
    fn gradients_blocked_and_remainder_tiles() {
        check_layer::<Dense<70, 13>, 9, 7, 2, 5, 13, 1, 1>(14).unwrap();
    }

    /// Batch 17: the transposed (packed) forward path, a full and a 1-lane
    /// sample vector; 13 outputs = a 12-output tile and a single one.
    #[test]
    fn gradients_packed_batch() {
        check_layer::<Dense<20, 13>, 17, 5, 2, 2, 13, 1, 1>(15).unwrap();
    }

    /// Every fast backend this CPU runs against the reference loops (tiles
    /// and remainders).
    fn fast_matches_reference<const N_IN: usize, const N_OUT: usize, const B: usize>(seed: u64) {
        for k in kernels::fast_backends() {
            fast_matches_reference_on::<N_IN, N_OUT, B>(k, seed);
        }
    }

    fn fast_matches_reference_on<const N_IN: usize, const N_OUT: usize, const B: usize>(k: Kernels, seed: u64) {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut fill = |v: &mut [f32]| v.iter_mut().for_each(|x| *x = rng.random_range(-1.0..1.0));
        let mut d = Dense::<N_IN, N_OUT>::boxed_zeroed();
        fill(d.as_flat_mut());
        let mut x = <[Tensor<N_IN, 1, 1>; B]>::boxed_zeroed();
        fill(x.as_flat_mut());
        let mut dy = <[Tensor<N_OUT, 1, 1>; B]>::boxed_zeroed();
        fill(dy.as_flat_mut());
        let close = |what: &str, fast: &[f32], slow: &[f32]| {
            for (i, (a, b)) in fast.iter().zip(slow).enumerate() {
                let tol = 1e-5 * (1.0 + b.abs()) * (N_IN.max(N_OUT).max(B)) as f32;
                assert!(
                    (a - b).abs() <= tol,
                    "{what}[{i}]: fast {a} vs reference {b}, |diff| {} > {tol}",
                    (a - b).abs()
                );
            }
        };
        let (mut yf, mut ys) = (<[Tensor<N_OUT, 1, 1>; B]>::boxed_zeroed(), <[Tensor<N_OUT, 1, 1>; B]>::boxed_zeroed());
        let mut xt = <[Tensor<N_IN, 1, 1>; B]>::boxed_zeroed();
        assert!(d.forward_fast(k, x.as_flat(), yf.as_flat_mut(), xt.as_flat_mut()));
        d.forward_reference(x.as_flat(), ys.as_flat_mut());
        close("y", yf.as_flat(), ys.as_flat());
        let (mut gf, mut gs) = (Dense::<N_IN, N_OUT>::boxed_zeroed(), Dense::<N_IN, N_OUT>::boxed_zeroed());
        gf.as_flat_mut().fill(0.25);
        gs.as_flat_mut().fill(0.25);
        let (mut dxf, mut dxs) = (<[Tensor<N_IN, 1, 1>; B]>::boxed_zeroed(), <[Tensor<N_IN, 1, 1>; B]>::boxed_zeroed());
        dxf.as_flat_mut().fill(f32::NAN);
        d.backward_fast(k, x.as_flat(), dy.as_flat(), Some(dxf.as_flat_mut()), &mut gf, false, true);
        d.backward_reference(x.as_flat(), dy.as_flat(), Some(dxs.as_flat_mut()), &mut gs, true);
        close("grads", gf.as_flat(), gs.as_flat());
        close("dx", dxf.as_flat(), dxs.as_flat());
        // Overwriting: nothing of the old gradient (NaN) may be read.
        gf.as_flat_mut().fill(f32::NAN);
        gs.as_flat_mut().fill(0.0);
        d.backward_fast(k, x.as_flat(), dy.as_flat(), None, &mut gf, true, true);
        d.backward_reference(x.as_flat(), dy.as_flat(), None, &mut gs, true);
        close("overwritten grads", gf.as_flat(), gs.as_flat());
    }

    /// The weight gradient in shares of rows (3 shares: 136 + 137 + 137
    /// of 410), each over two parts of the batch, is the whole batch's, on
    /// the path this CPU takes (`Parameters::shared_grad`) and on the reference
    /// loops; and `Grad::OverwriteExceptShared` gives the bias and input
    /// gradients of `Grad::Overwrite`, leaving the weights' alone.
    #[test]
    fn shares_of_rows_over_parts_make_the_weight_gradient() {
        use rand::{RngExt, SeedableRng};
        type D = Dense<640, 410>;
        assert_eq!(<D as Parameters>::SHARED, 640 * 410);
        assert_eq!(<Dense<512, 511> as Parameters>::SHARED, 0);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(21);
        let mut fill = |v: &mut [f32]| v.iter_mut().for_each(|x| *x = rng.random_range(-1.0..1.0));
        let mut d = D::boxed_zeroed();
        fill(d.as_flat_mut());
        let mut x = <[[Tensor<640, 1, 1>; 3]; 2]>::boxed_zeroed();
        fill(x.as_flat_mut());
        let mut dy = <[[Tensor<410, 1, 1>; 3]; 2]>::boxed_zeroed();
        fill(dy.as_flat_mut());
        let mut whole = D::boxed_zeroed();
        d.backward_reference(x.as_flat(), dy.as_flat(), None, &mut whole, true);
        let close = |what: &str, a: &[f32], b: &[f32]| {
            let diff = a.iter().zip(b).fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
            assert!(diff < 1e-5, "{what}: differs by {diff}");
        };
        let (mut shared, mut reference) = (D::boxed_zeroed(), D::boxed_zeroed());
        shared.as_flat_mut().fill(f32::NAN);
        reference.as_flat_mut().fill(f32::NAN);
        for part in 0..3 {
            let mut parts = x.iter().zip(dy.iter()).map(|(x, dy)| (x.as_flat(), dy.as_flat()));
            d.shared_grad(&mut parts, part, 3, &mut shared.as_flat_mut()[D::share(part, 3)]);
            let rows = part * 410 / 3..(part + 1) * 410 / 3;
            let w = &mut reference.weight.as_flat_mut()[rows.start * 640..rows.end * 640];
            for (k, (x, dy)) in x.iter().zip(dy.iter()).enumerate() {
                D::weight_grad_reference(x.as_flat(), dy.as_flat(), rows.clone(), w, k > 0);
            }
        }
        close("shared_grad", shared.weight.as_flat(), whole.weight.as_flat());
        // Ten one-sample parts: more than one pass of MAX_PARTS (8).
        let mut x1 = <[[Tensor<640, 1, 1>; 1]; 10]>::boxed_zeroed();
        fill(x1.as_flat_mut());
        let mut dy1 = <[[Tensor<410, 1, 1>; 1]; 10]>::boxed_zeroed();
        fill(dy1.as_flat_mut());
        let (mut whole1, mut shared1) = (D::boxed_zeroed(), D::boxed_zeroed());
        d.backward_reference(x1.as_flat(), dy1.as_flat(), None, &mut whole1, true);
        shared1.as_flat_mut().fill(f32::NAN);
        for part in 0..2 {
            let mut parts = x1.iter().zip(dy1.iter()).map(|(x, dy)| (x.as_flat(), dy.as_flat()));
            d.shared_grad(&mut parts, part, 2, &mut shared1.as_flat_mut()[D::share(part, 2)]);
        }
        close("shared_grad over 10 parts", shared1.weight.as_flat(), whole1.weight.as_flat());
        close("reference shares", reference.weight.as_flat(), whole.weight.as_flat());
        assert!(shared.bias.iter().all(|v| v.is_nan()), "a share wrote the bias");
        // The unshared backward: bias and dx as the full one, weights untouched.
        let (mut x6, mut dy6) = (<[Tensor<640, 1, 1>; 6]>::boxed_zeroed(), <[Tensor<410, 1, 1>; 6]>::boxed_zeroed());
        x6.as_flat_mut().copy_from_slice(x.as_flat());
        dy6.as_flat_mut().copy_from_slice(dy.as_flat());
        let (x6, dy6) = (&*x6, &*dy6);
        let (mut gu, mut gf) = (D::boxed_zeroed(), D::boxed_zeroed());
        gu.as_flat_mut().fill(f32::NAN);
        let (mut dxu, mut dxf) = (<[Tensor<640, 1, 1>; 6]>::boxed_zeroed(), <[Tensor<640, 1, 1>; 6]>::boxed_zeroed());
        let y = <[Tensor<410, 1, 1>; 6]>::boxed_zeroed();
        let mut cache = <[Tensor<640, 1, 1>; 6]>::boxed_zeroed();
        d.backward(x6, &y, &mut cache, dy6, Some(&mut dxu), &mut gu, Grad::OverwriteExceptShared);
        d.backward(x6, &y, &mut cache, dy6, Some(&mut dxf), &mut gf, Grad::Overwrite);
        assert_eq!(gu.bias, gf.bias);
        assert_eq!(dxu.as_flat(), dxf.as_flat());
        assert!(gu.weight.as_flat().iter().all(|v| v.is_nan()), "the unshared backward wrote weight gradients");
    }

    /// Below 16 samples (the packed path's threshold), a sample's outputs
    /// have the same bits wherever it sits in the batch and alone: one
    /// output (seed1's 784 -> 1) and a single last output (3 = 2 + 1).
    #[test]
    fn small_batches_give_each_sample_the_bits_it_gets_alone() {
        fn check<const N_IN: usize, const N_OUT: usize>() {
            use rand::{RngExt, SeedableRng};
            let mut rng = rand::rngs::SmallRng::seed_from_u64(N_IN as u64);
            let mut d = Dense::<N_IN, N_OUT>::boxed_zeroed();
            d.as_flat_mut().iter_mut().for_each(|v| *v = rng.random_range(-1.0..1.0));
            let x = Tensor::<N_IN, 1, 1>::from_fn(|_, _, _| rng.random_range(-1.0..1.0));
            let mut alone = [Tensor::<N_OUT, 1, 1>::zeroed()];
            d.forward(&[x], &mut alone, &mut [Tensor::zeroed()], &mut Mode::Infer);
            let mut many = [Tensor::<N_OUT, 1, 1>::zeroed(); 7];
            d.forward(&[x; 7], &mut many, &mut [Tensor::zeroed(); 7], &mut Mode::Infer);
            for (b, y) in many.iter().enumerate() {
                let bits =
                    |t: &Tensor<N_OUT, 1, 1>| t.as_flat().iter().map(|v| v.to_bits()).collect::<std::vec::Vec<_>>();
                assert_eq!(bits(y), bits(&alone[0]), "{N_IN} -> {N_OUT}: sample {b} of 7");
            }
        }
        check::<784, 1>();
        check::<37, 3>();
    }

    #[test]
    fn fast_path_matches_reference_loops() {
        fast_matches_reference::<784, 1, 1>(1); // seed 1
        fast_matches_reference::<37, 3, 1>(8); // one sample: the weight gradient's rows scaled, a masked tail
        fast_matches_reference::<784, 10, 32>(2); // fashion10
        fast_matches_reference::<784, 10, 1>(9); // fashion10 inference: 6 + 4 outputs
        fast_matches_reference::<333, 17, 11>(3); // every tile and remainder: 6 + 6 + 4 + 1 outputs
        fast_matches_reference::<70, 25, 37>(5); // packed: 12 + 12 + 1 outputs, 2 + 1 (masked) sample vectors
        fast_matches_reference::<9, 3, 16>(6); // packed: one full sample vector
        fast_matches_reference::<90, 9, 5>(7); // a 6-vector gradient tile whose last vector is masked; 6 + 2 + 1 outputs
        fast_matches_reference::<5, 3, 2>(4); // less than one vector
        fast_matches_reference::<63, 1, 1>(10); // one output, one sample: four tail vectors, the last masked
        fast_matches_reference::<128, 1, 5>(11); // 4 samples, then one: two whole groups of four vectors
    }
}
