//! Adam.

use super::{AdamConsts, Frozen, Optimizer, SplitStep, UnknownLayer};
use crate::Network;
use crate::math::libm_sqrt;
use crate::resume::{Floats, StateMut};
use core::borrow::BorrowMut;

/// Adam (Kingma & Ba), PyTorch's formulation (`torch.optim.Adam`):
///
/// ```text
/// m ← β1 m + (1 - β1) g
/// v ← β2 v + (1 - β2) g²
/// θ ← θ - lr · (m / (1 - β1^t)) / (sqrt(v / (1 - β2^t)) + ε)
/// ```
///
/// The moments live in caller-provided storage of the parameters' type.
///
/// ```
/// use constnet::{network, optim::{Adam, Optimizer}, Dense, Flat, Network, Sigmoid, Tensor};
/// network! { mod tiny { input: Tensor<2, 1, 1>, dense: Dense<2, 1>, out: Sigmoid } }
/// # fn main() {
/// let (mut m, mut v) = (tiny::Params::zeroed(), tiny::Params::zeroed());
/// let mut p = tiny::Params::zeroed();
/// let mut g = tiny::Params::zeroed();
/// g.dense.weight = [[1.0, -2.0]];
/// let mut adam = Adam::new(0.1, &mut m, &mut v);
/// adam.step(&mut p, &g);
/// // The first Adam step moves each weight by lr against the gradient's sign.
/// assert!((p.dense.weight[0][0] + 0.1).abs() < 1e-6 && (p.dense.weight[0][1] - 0.1).abs() < 1e-6);
/// # }
/// ```
pub struct Adam<S> {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first moment (0.9).
    pub beta1: f32,
    /// Decay of the second moment (0.999).
    pub beta2: f32,
    /// Added to the denominator (1e-8).
    pub eps: f32,
    beta1_t: f32,
    beta2_t: f32,
    m: S,
    v: S,
    /// Layers this optimizer leaves unchanged.
    pub frozen: Frozen,
}

impl<S> Adam<S> {
    /// Adam with PyTorch's defaults (β1 = 0.9, β2 = 0.999, ε = 1e-8), the
    /// moments kept in `m` and `v` (zeroed `&mut P` or `Box<P>`).
    pub fn new(lr: f32, m: S, v: S) -> Self {
        Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, beta1_t: 1.0, beta2_t: 1.0, m, v, frozen: Frozen::default() }
    }

    /// Freezes layer `name` of network `P`.
    ///
    /// # Errors
    /// [`UnknownLayer`] if `P` has no such layer.
    pub fn freeze<'a, P: Network>(&mut self, name: &'a str) -> Result<(), UnknownLayer<'a>> {
        self.frozen.freeze::<P>(name)
    }
}

impl<P: Network, S: BorrowMut<P>> Optimizer<P> for Adam<S> {
    fn step(&mut self, params: &mut P, grads: &P) {
        let _ftz = crate::math::FlushSubnormals::new();
        if let Some(s) = self.split_step() {
            s.apply_all(params, grads);
        }
    }

    fn split_step<'a>(&'a mut self) -> Option<SplitStep<'a, P>>
    where
        P: 'a,
    {
        let (t1, t2) = (self.beta1_t * self.beta1, self.beta2_t * self.beta2);
        let k = AdamConsts { lr: self.lr, b1: self.beta1, b2: self.beta2, eps: self.eps, c1: 1.0 - t1, c2: 1.0 - t2 };
        let (m, v) = (self.m.borrow_mut(), self.v.borrow_mut());
        Some(SplitStep::adam(k, m, v, [(&mut self.beta1_t, t1), (&mut self.beta2_t, t2)], self.frozen))
    }

    /// 2^63: the second moment holds `g²` (up to 2^126) and its
    /// bias-corrected mean `v / (1 - β2^t)` stays below `max g²`, so
    /// neither overflows `f32` (2^128); a larger gradient once made `v`
    /// infinite and froze its parameter for good.
    fn grad_limit(&self) -> f32 {
        ADAM_GRAD_LIMIT
    }
}

/// The moments and the powers `beta1^t`, `beta2^t` that count the steps
/// (PyTorch's `exp_avg`, `exp_avg_sq` and `step`).
impl<S: Floats> crate::resume::Resumable for Adam<S> {
    fn visit(&mut self, f: &mut dyn FnMut(&str, StateMut<'_>)) {
        if let Some(m) = self.m.floats() {
            f("exp_avg", StateMut::F32(m));
        }
        if let Some(v) = self.v.floats() {
            f("exp_avg_sq", StateMut::F32(v));
        }
        let mut pow = [self.beta1_t, self.beta2_t];
        f("beta_pow", StateMut::F32(&mut pow));
        [self.beta1_t, self.beta2_t] = pow;
    }
}

/// [`Adam`]'s gradient limit, 2^63 (see its `grad_limit`).
const ADAM_GRAD_LIMIT: f32 = 9_223_372_036_854_775_808.0;

/// The Adam update of one range of parameters `p` with gradients `g` and
/// moments `m`, `v` (all the same length): the active backend's kernel
/// (AVX-512, AVX2, NEON or portable), or the reference loop with
/// `CONSTNET_ISA=reference` (the same bits either way).
pub(super) fn adam_update(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: AdamConsts) {
    let n = p.len();
    assert!(g.len() == n && m.len() == n && v.len() == n, "adam_update: slices of unequal length");
    if !crate::kernels::active().adam_update(p, g, m, v, k) {
        adam_reference(p, g, m, v, k);
    }
}

/// The reference Adam update of one range.
fn adam_reference(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: AdamConsts) {
    let AdamConsts { lr, b1, b2, eps, c1, c2 } = k;
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        *p -= lr * (*m / c1) / (libm_sqrt(*v / c2) + eps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The active backend's update gives the reference loop's bits (same operations,
    /// same order, correctly rounded sqrt and division), tail lanes
    /// included, from every start modulo 64 bytes (aligned stores: a masked
    /// head, whole vectors, a masked tail), and writes nothing past the range.
    #[test]
    fn fast_update_matches_the_reference_loop_bit_for_bit() {
        for (off, n) in (0..17).flat_map(|off| [(off, 16 * 5 + 7), (off, 3)]) {
            let pad = 16;
            let Some(mut fill) = super::super::fast_path_filler(3, off + n + pad) else { return };
            let (p, g, m) = (fill(1.0), fill(1e-3), fill(1e-3));
            let v: std::vec::Vec<f32> = fill(1e-6).iter().map(|x| x.abs()).collect();
            let k = AdamConsts {
                lr: 2e-3,
                b1: 0.9,
                b2: 0.999,
                eps: 1e-8,
                c1: 1.0 - 0.9f32.powi(3),
                c2: 1.0 - 0.999f32.powi(3),
            };
            let r = off..off + n;
            let (mut p1, mut m1, mut v1) = (p.clone(), m.clone(), v.clone());
            adam_reference(&mut p1[r.clone()], &g[r.clone()], &mut m1[r.clone()], &mut v1[r.clone()], k);
            let (mut p2, mut m2, mut v2) = (p.clone(), m.clone(), v.clone());
            let kern = crate::kernels::active();
            assert!(kern.adam_update(&mut p2[r.clone()], &g[r.clone()], &mut m2[r.clone()], &mut v2[r.clone()], k));
            // Everything outside the range is untouched by both (so equal to the input).
            assert_eq!((p1.as_slice(), m1.as_slice(), v1.as_slice()), (p2.as_slice(), m2.as_slice(), v2.as_slice()));
            assert_eq!((&p2[..off], &p2[off + n..]), (&p[..off], &p[off + n..]), "writes stay inside the range");
            assert_eq!((&m2[off + n..], &v2[off + n..]), (&m[off + n..], &v[off + n..]));
            assert_ne!(p1, p, "the update moved the parameters");
        }
    }
}
