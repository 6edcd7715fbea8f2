//! `BatchNorm2d` and `BatchNorm1d`: each channel normalised by its mean and
//! variance, then scaled and shifted.
//!
//! Forward, for channel `c` over the `n = B·H·W` values of a batch:
//!
//! ```text
//! training:   μ = (1/n) Σ x,   σ² = (1/n) Σ (x − μ)²          (biased)
//! inference:  μ = running_mean, σ² = running_var
//! x̂ = (x − μ) / √(σ² + ε),    y = γ·x̂ + β
//! ```
//!
//! Backward, with `dy = dL/dy` and `s = γ / √(σ² + ε)`:
//!
//! ```text
//! dL/dγ = Σ dy·x̂,   dL/dβ = Σ dy
//! training:   dL/dx = s · (dy − dL/dβ / n − x̂ · dL/dγ / n)
//! inference:  dL/dx = s · dy
//! ```
//!
//! After a training step the running statistics move towards the batch's
//! ([`Layer::update_state`]): `running_mean ← (1 − m)·running_mean + m·μ`,
//! `running_var ← (1 − m)·running_var + m·σ²·n/(n − 1)` (the unbiased
//! variance), `num_batches_tracked += 1`, with `m` = [`MOMENTUM`].

use crate::layer::{Grad, Init, Layer, Mode, ParamTensor, ParamVisitorMut, Parameters, assert_out_shape};
use crate::{Flat, Shape, Tensor, math};
use rand::Rng;

/// PyTorch's default `momentum` of batch norm: the weight of a batch's
/// statistics in the running ones.
pub const MOMENTUM: f32 = 0.1;

/// PyTorch's default `eps` of batch norm, added to the variance.
pub const EPS: f32 = 1e-5;

/// Batch normalisation over the channels of a `C x H x W` input: the
/// layer behind [`BatchNorm2d`] and [`BatchNorm1d`] (`DIMS` is 2 or 1).
///
/// Its running statistics are state, not parameters: they are saved and
/// loaded with the weights under PyTorch's names (`running_mean`,
/// `running_var`, `num_batches_tracked`, [`Parameters::visit_buffers`]),
/// their gradient is zero (so an optimizer leaves them), and the training
/// step moves them after each update ([`Layer::update_state`]).
/// `num_batches_tracked` is held as an `f32`, exact up to 2^24 steps.
#[repr(C)]
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm<const C: usize, const DIMS: usize> {
    /// Scale `γ` per channel (PyTorch's `weight`, 1 at initialisation).
    pub weight: [f32; C],
    /// Shift `β` per channel (PyTorch's `bias`, 0 at initialisation).
    pub bias: [f32; C],
    /// The running mean (0 at initialisation).
    pub running_mean: [f32; C],
    /// The running (unbiased) variance (1 at initialisation).
    pub running_var: [f32; C],
    /// Training steps that moved the running statistics.
    pub num_batches_tracked: f32,
}

/// Batch norm over the channels of images, `C x H x W`.
///
/// PyTorch: `nn.BatchNorm2d(C)` (`eps = 1e-5`, `momentum = 0.1`, affine,
/// tracking running statistics).
///
/// # Shapes
/// Input and output `C x H x W`.
///
/// ```
/// use constnet::{BatchNorm2d, Flat, Layer, Mode, Tensor};
/// let mut bn = BatchNorm2d::<1>::new();
/// let x = [Tensor::<1, 1, 2>::from_array([[[1.0, 3.0]]]), Tensor::from_array([[[5.0, 7.0]]])];
/// let mut y = [Tensor::<1, 1, 2>::zeroed(); 2];
/// let mut stats = Flat::zeroed();
/// let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(0);
/// bn.forward(&x, &mut y, &mut stats, &mut Mode::Train(&mut rng));
/// // Mean 4, variance 5: the outputs are (x − 4)/√5.
/// assert!((y[0].0[0][0][0] + 3.0 / 5f32.sqrt()).abs() < 1e-5);
/// Layer::<1, 1, 2>::update_state::<2>(&mut bn, &stats);
/// assert_eq!(bn.running_mean, [0.4]); // 0.9·0 + 0.1·4
/// assert!((bn.running_var[0] - (0.9 + 0.1 * 20.0 / 3.0)).abs() < 1e-6); // unbiased: 20/3
/// ```
pub type BatchNorm2d<const C: usize> = BatchNorm<C, 2>;

/// Batch norm over the channels of sequences, `C x 1 x L`, or of a
/// dense layer's outputs, `C x 1 x 1`.
///
/// PyTorch: `nn.BatchNorm1d(C)` on `(N, C, L)` or `(N, C)`.
///
/// # Shapes
/// Input and output `C x 1 x L`; an input with `H > 1` does not build.
pub type BatchNorm1d<const C: usize> = BatchNorm<C, 1>;

impl<const C: usize, const DIMS: usize> BatchNorm<C, DIMS> {
    /// PyTorch's initial state: `γ = 1`, `β = 0`, running mean 0,
    /// running variance 1, no batches tracked.
    pub fn new() -> Self {
        BatchNorm {
            weight: [1.0; C],
            bias: [0.0; C],
            running_mean: [0.0; C],
            running_var: [1.0; C],
            num_batches_tracked: 0.0,
        }
    }

    /// The per-channel scale and shift that inference applies,
    /// `y = a·x + b` with `a = γ/√(running_var + ε)` and
    /// `b = β − running_mean·a`: what folding the layer into the
    /// convolution before it multiplies and adds
    /// ([`fold_into`](BatchNorm::fold_into)).
    pub fn inference_affine(&self) -> ([f32; C], [f32; C]) {
        let a: [f32; C] = core::array::from_fn(|c| self.weight[c] / math::libm_sqrt(self.running_var[c] + EPS));
        (a, core::array::from_fn(|c| self.bias[c] - self.running_mean[c] * a[c]))
    }
}

impl<const C: usize> BatchNorm<C, 2> {
    /// The convolution `conv` followed by this batch norm in inference, as
    /// one convolution with a bias: `w'[o] = a[o]·w[o]` and
    /// `b'[o] = a[o]·(b[o] − running_mean[o]) + β[o]`, with
    /// `a = γ/√(running_var + ε)` ([`inference_affine`](Self::inference_affine)).
    /// A network for inference declares the convolution with `BIAS = true`
    /// and no batch norm, and saves a pass over its outputs.
    ///
    /// ```
    /// use constnet::{BatchNorm2d, Conv2d, Flat, Layer, Mode, Tensor};
    /// let mut conv = Conv2d::<1, 2, 3, 1, 1, false>::zeroed();
    /// conv.weight[0][0][1][1] = 1.0;
    /// conv.weight[1][0][0][0] = -2.0;
    /// let mut bn = BatchNorm2d::<2>::new();
    /// (bn.running_mean, bn.running_var, bn.weight, bn.bias) = ([0.5, -1.0], [4.0, 0.25], [2.0, 1.0], [0.1, 0.2]);
    /// let folded: Conv2d<1, 2, 3, 1, 1, true> = bn.fold_into(&conv);
    /// let x = [Tensor::<1, 4, 4>::from_fn(|_, i, j| (i * 4 + j) as f32 / 7.0)];
    /// let [mut t, mut y, mut z] = [[Tensor::<2, 4, 4>::zeroed()]; 3];
    /// conv.forward(&x, &mut t, &mut Flat::zeroed(), &mut Mode::Infer);
    /// bn.forward(&t, &mut y, &mut Flat::zeroed(), &mut Mode::Infer);
    /// folded.forward(&x, &mut z, &mut Flat::zeroed(), &mut Mode::Infer);
    /// assert!(y[0].as_flat().iter().zip(z[0].as_flat()).all(|(a, b)| (a - b).abs() < 1e-5));
    /// ```
    pub fn fold_into<const IN_C: usize, const K: usize, const PAD: usize, const STRIDE: usize, const BIAS: bool>(
        &self,
        conv: &crate::Conv2d<IN_C, C, K, PAD, STRIDE, BIAS>,
    ) -> crate::Conv2d<IN_C, C, K, PAD, STRIDE, true> {
        let (a, _) = self.inference_affine();
        let mut out = crate::Conv2d { weight: conv.weight, bias: [0.0; C] };
        for o in 0..C {
            for w in out.weight[o].as_flat_mut() {
                *w *= a[o];
            }
            let b = if BIAS { conv.bias[o] } else { 0.0 };
            out.bias[o] = a[o] * (b - self.running_mean[o]) + self.bias[o];
        }
        out
    }
}

impl<const C: usize, const DIMS: usize> Default for BatchNorm<C, DIMS> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: repr(C) struct of f32 arrays and one f32.
unsafe impl<const C: usize, const DIMS: usize> Flat for BatchNorm<C, DIMS> {}

impl<const C: usize, const DIMS: usize> Parameters for BatchNorm<C, DIMS> {
    /// `γ = 1`, `β = 0` and fresh running statistics, as PyTorch's
    /// `reset_parameters` (the init scheme is for weights of products).
    fn init(&mut self, _init: Init, _rng: &mut dyn Rng) {
        *self = Self::new();
    }

    fn visit(&self, f: &mut dyn FnMut(ParamTensor<'_>)) {
        f(ParamTensor { name: "weight", shape: &[C], data: &self.weight });
        f(ParamTensor { name: "bias", shape: &[C], data: &self.bias });
    }

    fn visit_mut<'a>(&mut self, f: &'a mut ParamVisitorMut<'a>) {
        f("weight", &[C], &mut self.weight);
        f("bias", &[C], &mut self.bias);
    }

    const BUFFERS: usize = 2 * C + 1;

    fn visit_buffers(&self, f: &mut dyn FnMut(ParamTensor<'_>)) {
        f(ParamTensor { name: "running_mean", shape: &[C], data: &self.running_mean });
        f(ParamTensor { name: "running_var", shape: &[C], data: &self.running_var });
        f(ParamTensor {
            name: "num_batches_tracked",
            shape: &[],
            data: core::slice::from_ref(&self.num_batches_tracked),
        });
    }

    fn visit_buffers_mut<'a>(&mut self, f: &'a mut ParamVisitorMut<'a>) {
        f("running_mean", &[C], &mut self.running_mean);
        f("running_var", &[C], &mut self.running_var);
        f("num_batches_tracked", &[], core::slice::from_mut(&mut self.num_batches_tracked));
    }
}

impl<const C: usize, const DIMS: usize, const IN_C: usize, const H: usize, const W: usize> Shape<IN_C, H, W>
    for BatchNorm<C, DIMS>
{
    const OUT_C: usize = {
        assert!(IN_C == C, "BatchNorm: the input must have C channels");
        assert!(DIMS == 1 || DIMS == 2, "BatchNorm: DIMS is 1 (BatchNorm1d) or 2 (BatchNorm2d)");
        assert!(
            DIMS == 2 || H == 1,
            "BatchNorm1d: the input must be C x 1 x L (a sequence or a dense layer's outputs); use BatchNorm2d for images"
        );
        C
    };
    const OUT_H: usize = H;
    const OUT_W: usize = W;
}

/// What a batch-norm forward pass keeps: the statistics it normalised
/// with, per channel.
#[repr(C)]
#[derive(Clone, Debug, PartialEq)]
pub struct BatchStats<const C: usize> {
    /// The mean subtracted: the batch's (training) or the running one.
    pub mean: [f32; C],
    /// The batch's biased variance (training only; the running update
    /// reads it).
    pub var: [f32; C],
    /// `1/√(σ² + ε)` of the variance used.
    pub inv_std: [f32; C],
    /// 1 after a training forward pass (batch statistics), 0 after an
    /// inference one.
    pub train: f32,
}

// SAFETY: repr(C) struct of f32 arrays and one f32.
unsafe impl<const C: usize> Flat for BatchStats<C> {}

/// `Σ (v − m)²` over `plane`, with eight accumulators the compiler keeps
/// in vector lanes.
fn squared_deviations(plane: &[f32], m: f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut chunks = plane.chunks_exact(8);
    for ch in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(ch) {
            *a += (v - m) * (v - m);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&v| (v - m) * (v - m)).sum();
    acc.iter().sum::<f32>() + tail
}

/// `(Σ dy, Σ dy·(x − m))` over one plane, eight accumulators each.
fn grad_sums(x: &[f32], dy: &[f32], m: f32) -> (f32, f32) {
    let (mut s, mut sx) = ([0.0f32; 8], [0.0f32; 8]);
    let (mut xc, mut dc) = (x.chunks_exact(8), dy.chunks_exact(8));
    for (xs, ds) in (&mut xc).zip(&mut dc) {
        for k in 0..8 {
            s[k] += ds[k];
            sx[k] += ds[k] * (xs[k] - m);
        }
    }
    let (mut ts, mut tsx) = (0.0, 0.0);
    for (&x, &d) in xc.remainder().iter().zip(dc.remainder()) {
        ts += d;
        tsx += d * (x - m);
    }
    (s.iter().sum::<f32>() + ts, sx.iter().sum::<f32>() + tsx)
}

impl<const C: usize, const DIMS: usize, const IN_C: usize, const H: usize, const W: usize> Layer<IN_C, H, W>
    for BatchNorm<C, DIMS>
{
    type Cache<const B: usize> = BatchStats<C>;

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<IN_C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        cache: &mut BatchStats<C>,
        mode: &mut Mode<'_>,
    ) {
        assert_out_shape!("BatchNorm", OC, OH, OW);
        let plane = H * W;
        let (x, y) = (x.as_flat(), y.as_flat_mut());
        if matches!(mode, Mode::Train(_)) {
            let n = (B * plane) as f32;
            // Σ x per (sample, channel) plane, then per channel.
            let mut sums = [0.0f32; C];
            for sample in x.chunks_exact(C * plane) {
                let mut planes = [0.0f32; C];
                math::plane_sums(sample, plane, &mut planes);
                for (s, p) in sums.iter_mut().zip(planes) {
                    *s += p;
                }
            }
            for c in 0..C {
                let m = sums[c] / n;
                let sq: f32 = x.chunks_exact(plane).skip(c).step_by(C).map(|p| squared_deviations(p, m)).sum();
                cache.mean[c] = m;
                cache.var[c] = sq / n;
                cache.inv_std[c] = 1.0 / math::libm_sqrt(cache.var[c] + EPS);
            }
            cache.train = 1.0;
        } else {
            cache.mean = self.running_mean;
            cache.var = self.running_var;
            cache.inv_std = core::array::from_fn(|c| 1.0 / math::libm_sqrt(self.running_var[c] + EPS));
            cache.train = 0.0;
        }
        for (k, (xp, yp)) in x.chunks_exact(plane).zip(y.chunks_exact_mut(plane)).enumerate() {
            let c = k % C;
            let a = self.weight[c] * cache.inv_std[c];
            let b = self.bias[c] - cache.mean[c] * a;
            for (o, &v) in yp.iter_mut().zip(xp) {
                *o = v * a + b;
            }
        }
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<IN_C, H, W>; B],
        _y: &[Tensor<OC, OH, OW>; B],
        cache: &mut BatchStats<C>,
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<IN_C, H, W>; B]>,
        grads: &mut Self,
        grad: Grad,
    ) {
        assert_out_shape!("BatchNorm", OC, OH, OW);
        let plane = H * W;
        let (x, dy) = (x.as_flat(), dy.as_flat());
        // Σ dy and Σ dy·x̂ per channel.
        let (mut sum_dy, mut sum_dy_xhat) = ([0.0f32; C], [0.0f32; C]);
        for (k, (xp, dp)) in x.chunks_exact(plane).zip(dy.chunks_exact(plane)).enumerate() {
            let c = k % C;
            let (s, sx) = grad_sums(xp, dp, cache.mean[c]);
            sum_dy[c] += s;
            sum_dy_xhat[c] += sx * cache.inv_std[c];
        }
        grad.start(grads);
        for c in 0..C {
            grads.weight[c] += sum_dy_xhat[c];
            grads.bias[c] += sum_dy[c];
        }
        let Some(dx) = dx else { return };
        let n = (B * plane) as f32;
        let train = cache.train != 0.0;
        for (k, (dxp, (xp, dp))) in
            dx.as_flat_mut().chunks_exact_mut(plane).zip(x.chunks_exact(plane).zip(dy.chunks_exact(plane))).enumerate()
        {
            let c = k % C;
            let (s, inv) = (self.weight[c] * cache.inv_std[c], cache.inv_std[c]);
            if train {
                // dx = s·(dy − Σdy/n − x̂·Σdy·x̂/n), x̂ = (x − μ)·inv.
                let (mean_dy, k_x) = (sum_dy[c] / n, sum_dy_xhat[c] / n * inv);
                let m = cache.mean[c];
                for ((o, &d), &v) in dxp.iter_mut().zip(dp).zip(xp) {
                    *o = s * (d - mean_dy - (v - m) * k_x);
                }
            } else {
                for (o, &d) in dxp.iter_mut().zip(dp) {
                    *o = s * d;
                }
            }
        }
    }

    fn update_state<const B: usize>(&mut self, cache: &BatchStats<C>) {
        if cache.train == 0.0 {
            return;
        }
        let n = (B * H * W) as f32;
        // PyTorch divides by n − 1 for the running variance (n = 1 gives
        // infinity there too).
        let unbiased = n / (n - 1.0);
        for c in 0..C {
            self.running_mean[c] = (1.0 - MOMENTUM) * self.running_mean[c] + MOMENTUM * cache.mean[c];
            self.running_var[c] = (1.0 - MOMENTUM) * self.running_var[c] + MOMENTUM * cache.var[c] * unbiased;
        }
        self.num_batches_tracked += 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients_in_training() {
        check_layer::<BatchNorm2d<3>, 3, 3, 4, 5, 3, 4, 5>(81).unwrap();
        check_layer::<BatchNorm2d<2>, 4, 2, 7, 7, 2, 7, 7>(82).unwrap();
        check_layer::<BatchNorm1d<5>, 6, 5, 1, 9, 5, 1, 9>(83).unwrap();
        check_layer::<BatchNorm1d<4>, 8, 4, 1, 1, 4, 1, 1>(84).unwrap();
    }

    /// A batch's outputs have mean β and variance γ² per channel.
    #[test]
    fn training_outputs_are_normalised() {
        let mut bn = BatchNorm2d::<2>::new();
        bn.weight = [2.0, 0.5];
        bn.bias = [1.0, -3.0];
        let x: [Tensor<2, 3, 5>; 4] = core::array::from_fn(|b| {
            Tensor::from_fn(|c, i, j| ((b * 13 + c * 7 + i * 5 + j * 3) % 17) as f32 * (c + 1) as f32)
        });
        let mut y = [Tensor::<2, 3, 5>::zeroed(); 4];
        let mut stats = BatchStats::zeroed();
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(0);
        bn.forward(&x, &mut y, &mut stats, &mut Mode::Train(&mut rng));
        for c in 0..2 {
            let v: std::vec::Vec<f64> = y.iter().flat_map(|t| t.0[c].iter().flatten().map(|&v| v as f64)).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / v.len() as f64;
            let (want_m, want_v) = (bn.bias[c] as f64, (bn.weight[c] as f64).powi(2));
            assert!((mean - want_m).abs() < 1e-5, "channel {c}: mean {mean}, want {want_m}");
            assert!((var - want_v).abs() < 1e-3 * want_v, "channel {c}: variance {var}, want {want_v}");
        }
    }

    /// Inference reads the running statistics, not the batch's.
    #[test]
    fn inference_uses_the_running_statistics() {
        let mut bn = BatchNorm2d::<1>::new();
        bn.running_mean = [2.0];
        bn.running_var = [4.0 - EPS];
        bn.weight = [3.0];
        bn.bias = [1.0];
        let x = [Tensor::<1, 1, 2>::from_array([[[2.0, 6.0]]])];
        let mut y = [Tensor::<1, 1, 2>::zeroed()];
        let mut stats = BatchStats::zeroed();
        bn.forward(&x, &mut y, &mut stats, &mut Mode::Infer);
        assert_eq!(y[0].0, [[[1.0, 7.0]]]); // 3·(x − 2)/2 + 1
        Layer::<1, 1, 2>::update_state::<1>(&mut bn, &stats);
        assert_eq!((bn.running_mean, bn.num_batches_tracked), ([2.0], 0.0), "inference moved nothing");
    }
}
