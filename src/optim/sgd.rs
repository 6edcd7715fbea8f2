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

/// The velocity, if any (PyTorch's `momentum_buffer`).
impl<S: crate::resume::Floats> crate::resume::Resumable for Sgd<S> {
    fn visit(&mut self, f: &mut dyn FnMut(&str, crate::resume::StateMut<'_>)) {
        if let Some(v) = self.velocity.floats() {
            f("momentum_buffer", crate::resume::StateMut::F32(v));
        }
    }
}

/// The SGD update of one range of parameters `p` with gradients `g`:
/// `θ -= lr · g`, or with a velocity `v` (momentum `mu`) `v = μ v + g`,
/// `θ -= lr · v`. The kernels' update where the backend has one, else the reference
/// loop (the same bits either way).
pub(super) fn sgd_update(p: &mut [f32], g: &[f32], v: Option<&mut [f32]>, lr: f32, mu: f32) {
    let n = p.len();
    let nv = v.as_ref().map_or(n, |v| v.len());
    assert!(g.len() == n && nv == n, "sgd_update: {n} parameters, {} gradients, {nv} velocities", g.len());
    let mut v = v;
    if !crate::kernels::active().sgd_update(p, g, v.as_deref_mut(), lr, mu) {
        sgd_reference(p, g, v, lr, mu);
    }
}

/// The reference SGD update of one range.
fn sgd_reference(p: &mut [f32], g: &[f32], v: Option<&mut [f32]>, lr: f32, mu: f32) {
    match v {
        None => crate::math::axpy(p, -lr, g),
        Some(v) => {
            for ((p, v), g) in p.iter_mut().zip(v).zip(g) {
                *v = mu * *v + g;
                *p -= lr * *v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The active backend's update gives the reference loop's bits, with and without
    /// momentum, tail lanes included, from every start modulo 64 bytes (the
    /// stores are aligned: a masked head, whole vectors, a masked tail),
    /// over ranges shorter than the head too, and writes nothing outside
    /// the range.
    #[test]
    fn fast_update_matches_the_reference_loop_bit_for_bit() {
        for (off, n) in (0..17).flat_map(|off| [(off, 16 * 3 + 9), (off, 16), (off, 5), (off, 1)]) {
            let pad = 16;
            let Some(mut fill) = super::super::fast_path_filler(4, off + n + pad) else { return };
            let (p, g, v) = (fill(1.0), fill(1.0), fill(1.0));
            let r = off..off + n;
            for momentum in [false, true] {
                let (mut p1, mut v1) = (p.clone(), v.clone());
                let v1r = momentum.then_some(&mut v1[r.clone()]);
                sgd_reference(&mut p1[r.clone()], &g[r.clone()], v1r, 0.37, 0.9);
                let (mut p2, mut v2) = (p.clone(), v.clone());
                let v2r = momentum.then_some(&mut v2[r.clone()]);
                assert!(crate::kernels::active().sgd_update(&mut p2[r.clone()], &g[r.clone()], v2r, 0.37, 0.9));
                let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<std::vec::Vec<_>>();
                assert_eq!(
                    (bits(&p1), bits(&v1)),
                    (bits(&p2), bits(&v2)),
                    "momentum {momentum}, start {off}, {n} floats"
                );
                assert_eq!((&p2[..off], &p2[off + n..]), (&p[..off], &p[off + n..]), "writes stay inside the range");
                assert_eq!((&v2[..off], &v2[off + n..]), (&v[..off], &v[off + n..]));
                assert_ne!(p1, p, "the update moved the parameters");
                assert_eq!(v1 != v, momentum, "the velocity moves with momentum only");
            }
        }
    }
}
