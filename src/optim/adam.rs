//! Adam.

use super::{Frozen, Optimizer, UnknownLayer};
use crate::Network;
use crate::math::libm_sqrt;
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
        self.beta1_t *= self.beta1;
        self.beta2_t *= self.beta2;
        let (b1, b2, eps, lr) = (self.beta1, self.beta2, self.eps, self.lr);
        let (c1, c2) = (1.0 - self.beta1_t, 1.0 - self.beta2_t);
        let (m, v) = (self.m.borrow_mut(), self.v.borrow_mut());
        let (p, g, m, v) = (params.as_flat_mut(), grads.as_flat(), m.as_flat_mut(), v.as_flat_mut());
        let _ftz = crate::math::FlushSubnormals::new();
        self.frozen.for_each_trainable::<P>(|r| {
            for i in r {
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                p[i] -= lr * (m[i] / c1) / (libm_sqrt(v[i] / c2) + eps);
            }
        });
    }
}
