//! Stochastic gradient descent with optional momentum.

use super::{Frozen, Optimizer, SplitStep, State, UnknownLayer};
use crate::Network;

/// SGD, PyTorch's formulation (`torch.optim.SGD(lr, momentum)`):
///
/// ```text
/// v ← μ v + g          (only with momentum; v starts at 0)
/// θ ← θ - lr · v       (θ ← θ - lr · g without momentum)
/// ```
///
/// ```
/// use constnet::{network, optim::{Optimizer, Sgd}, Dense, Flat, Network, Sigmoid, Tensor};
/// network! { mod tiny { input: Tensor<2, 1, 1>, dense: Dense<2, 1>, out: Sigmoid } }
/// # fn main() {
/// let mut p = tiny::Params::zeroed();
/// let mut g = tiny::Params::zeroed();
/// g.dense.weight = [[1.0, -2.0]];
/// let mut sgd = Sgd::new(0.5);
/// sgd.step(&mut p, &g);
/// assert_eq!(p.dense.weight, [[-0.5, 1.0]]);
/// # }
/// ```
pub struct Sgd<S = ()> {
    /// Learning rate.
    pub lr: f32,
    /// Momentum factor μ (0 without momentum state).
    pub momentum: f32,
    velocity: S,
    /// Layers this optimizer leaves unchanged.
    pub frozen: Frozen,
}

impl Sgd<()> {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f32) -> Self {
        Sgd { lr, momentum: 0.0, velocity: (), frozen: Frozen::default() }
    }
}

impl<S> Sgd<S> {
    /// SGD with momentum `momentum`, keeping the velocity in `velocity`
    /// (a zeroed `&mut P` or `Box<P>`).
    pub fn with_momentum(lr: f32, momentum: f32, velocity: S) -> Self {
        Sgd { lr, momentum, velocity, frozen: Frozen::default() }
    }

    /// Freezes layer `name` of network `P`: its parameters are not updated.
    ///
    /// # Errors
    /// [`UnknownLayer`] if `P` has no such layer.
    pub fn freeze<'a, P: Network>(&mut self, name: &'a str) -> Result<(), UnknownLayer<'a>> {
        self.frozen.freeze::<P>(name)
    }
}

impl<P: Network, S: State<P>> Optimizer<P> for Sgd<S> {
    fn step(&mut self, params: &mut P, grads: &P) {
        if let Some(s) = self.split_step() {
            s.apply_all(params, grads);
        }
    }

    fn split_step<'a>(&'a mut self) -> Option<SplitStep<'a, P>>
    where
        P: 'a,
    {
        let (lr, mu, frozen) = (self.lr, self.momentum, self.frozen);
        Some(match self.velocity.state() {
            Some(v) if mu != 0.0 => SplitStep::momentum(lr, mu, v, frozen),
            _ => SplitStep::sgd(lr, frozen),
        })
    }
}

/// The momentum update of one range: `v = μ v + g`, `θ -= lr · v`.
pub(super) fn momentum_update(p: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, mu: f32) {
    for ((p, v), g) in p.iter_mut().zip(v).zip(g) {
        *v = mu * *v + g;
        *p -= lr * *v;
    }
}
