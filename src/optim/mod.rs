//! Optimizers: [`Sgd`] (with momentum) and [`Adam`], with per-layer freezing.
//!
//! An optimizer updates a network's parameters from its gradients, layer
//! by layer over the flat view of the parameter struct, skipping frozen
//! layers. Its per-parameter state (momentum, Adam's moments) has the type
//! of the parameters and is storage the caller chooses: `&mut P` (a
//! `static` or a stack value, `no_std`) or `Box<P>` (std). Nothing is
//! allocated by a step.

mod adam;
mod sgd;

pub use adam::Adam;
pub use sgd::Sgd;

use crate::Network;

/// Updates parameters from gradients.
///
/// [`fit`](crate::fit::fit) also needs the optimizer to be
/// [`Resumable`](crate::resume::Resumable), so that checkpoints hold its
/// state: [`Sgd`] and [`Adam`] are (with their state in `&mut P` or
/// `Box<P>`); an optimizer of one's own implements `visit`, with nothing in
/// it if it keeps no state.
pub trait Optimizer<P: Network> {
    /// One update step: `params -= f(grads)` for every layer not frozen.
    fn step(&mut self, params: &mut P, grads: &P);

    /// Prepares one step whose update is element-wise (each parameter's new
    /// value depends only on its own gradient and state) as a [`SplitStep`]
    /// for network `P`, which [`ParallelTrainer`](crate::parallel::ParallelTrainer)
    /// applies to disjoint ranges of the parameters on every thread, once
    /// the threads' summed gradients have passed the step's checks. Nothing changes until the
    /// split step is applied and committed (Adam's step count advances at
    /// the commit), so a step that fails part-way leaves the optimizer as it
    /// was. `None`, the default, means the step cannot be split: the
    /// trainer then calls [`step`](Self::step) on the calling thread.
    /// [`Sgd`] and [`Adam`] split.
    ///
    /// ```
    /// use constnet::{network, optim::{Optimizer, Sgd}, Dense, Flat, Network, Sigmoid, Tensor};
    /// network! { mod tiny { input: Tensor<2, 1, 1>, dense: Dense<2, 1>, out: Sigmoid } }
    /// /// Sign descent. It keeps the default `split_step`, so a parallel
    /// /// trainer runs its whole step on the calling thread.
    /// struct SignSgd;
    /// impl Optimizer<tiny::Params> for SignSgd {
    ///     fn step(&mut self, p: &mut tiny::Params, g: &tiny::Params) {
    ///         for (p, g) in p.as_flat_mut().iter_mut().zip(g.as_flat()) {
    ///             *p -= 0.01 * g.signum();
    ///         }
    ///     }
    /// }
    /// # fn main() {
    /// assert!(Optimizer::<tiny::Params>::split_step(&mut Sgd::new(0.1)).is_some());
    /// assert!(Optimizer::<tiny::Params>::split_step(&mut SignSgd).is_none());
    /// # }
    /// ```
    fn split_step<'a>(&'a mut self) -> Option<SplitStep<'a, P>>
    where
        P: 'a,
    {
        None
    }

    /// The largest gradient magnitude a step takes without overflowing the
    /// optimizer's state. A training step whose gradient holds a larger
    /// one (or NaN, or infinity) stops before the update
    /// ([`Divergence::Gradient`](crate::train::Divergence::Gradient)).
    /// `f32::MAX`, the default, means any finite gradient; [`Adam`] squares
    /// gradients into its second moment and takes at most 2^63. An
    /// optimizer that wraps another must return the inner one's limit, or
    /// the default drops its protection. A NaN or negative limit holds no
    /// gradient: every step with a parameter stops.
    ///
    /// ```
    /// use constnet::{network, optim::{Adam, Optimizer, Sgd}, Dense, Flat, Sigmoid, Tensor};
    /// network! { mod tiny { input: Tensor<2, 1, 1>, dense: Dense<2, 1>, out: Sigmoid } }
    /// # fn main() {
    /// let (mut m, mut v) = (tiny::Params::zeroed(), tiny::Params::zeroed());
    /// assert_eq!(Optimizer::<tiny::Params>::grad_limit(&Adam::new(0.1, &mut m, &mut v)), 2f32.powi(63));
    /// assert_eq!(Optimizer::<tiny::Params>::grad_limit(&Sgd::new(0.1)), f32::MAX);
    /// # }
    /// ```
    fn grad_limit(&self) -> f32 {
        f32::MAX
    }
}

/// `opt`'s update of `params` from `grads` (on the calling thread), and
/// whether every parameter is finite afterwards: checked block by block as
/// a split step applies them ([`SplitStep::apply`]), or in one pass after
/// another optimizer's [`step`](Optimizer::step).
pub(crate) fn update<P: Network, O: Optimizer<P>>(opt: &mut O, params: &mut P, grads: &P) -> bool {
    match opt.split_step() {
        Some(s) => s.apply_all(params, grads),
        None => {
            opt.step(params, grads);
            crate::math::all_within(params.as_flat(), f32::MAX)
        }
    }
}

/// Floats per block of [`SplitStep::apply`]: updated, then checked while
/// they are still in the L1 cache (4 KiB per array).
const APPLY_BLOCK: usize = 1024;

/// One optimizer step for network `P` in element-wise form (see
/// [`Optimizer::split_step`]): it borrows the optimizer, whose
/// per-parameter state (sized for `P`) it updates range by range. Made
/// only by this crate's optimizers.
#[must_use = "a split step does nothing until it is applied"]
pub struct SplitStep<'a, P> {
    rule: Rule,
    frozen: Frozen,
    /// Written at the commit: where a step counter lives and its new value
    /// (Adam's `beta1^t` and `beta2^t`).
    counters: [Option<(*mut f32, f32)>; 2],
    _state: Borrows<'a, P>,
}

/// A [`SplitStep`]'s marker: it holds a mutable borrow of the optimizer for
/// `'a` and belongs to network `P` (without requiring `P: 'a`).
type Borrows<'a, P> = core::marker::PhantomData<(&'a mut (), fn() -> P)>;

/// The update rule of a [`SplitStep`]; the state pointers address whole
/// flattened parameter-shaped arrays.
#[derive(Clone, Copy)]
enum Rule {
    /// `θ -= lr · g`.
    Sgd { lr: f32 },
    /// `v = μ v + g; θ -= lr · v`.
    Momentum { lr: f32, mu: f32, v: *mut f32 },
    /// Adam with the step's constants.
    Adam { k: AdamConsts, m: *mut f32, v: *mut f32 },
}

pub(crate) use crate::kernels::AdamConsts;

// SAFETY: the state and counter pointers come from a `&mut` borrow of the
// optimizer held for `'a`; `apply`'s contract gives concurrent callers
// disjoint ranges, so no element is touched by two threads, and `commit`
// takes the step by value (one thread).
unsafe impl<P> Send for SplitStep<'_, P> {}
// SAFETY: as above.
unsafe impl<P> Sync for SplitStep<'_, P> {}

impl<'a, P: Network> SplitStep<'a, P> {
    fn new(rule: Rule, frozen: Frozen) -> Self {
        SplitStep { rule, frozen, counters: [None, None], _state: core::marker::PhantomData }
    }

    /// Plain SGD (no state).
    pub(crate) fn sgd(lr: f32, frozen: Frozen) -> Self {
        Self::new(Rule::Sgd { lr }, frozen)
    }

    /// SGD with momentum over the velocity `v` of network `P`.
    pub(crate) fn momentum(lr: f32, mu: f32, v: &'a mut P, frozen: Frozen) -> Self {
        Self::new(Rule::Momentum { lr, mu, v: v.as_flat_mut().as_mut_ptr() }, frozen)
    }

    /// Adam over the moments `m`, `v` of network `P`; `counters` are the
    /// places of `beta1^t`, `beta2^t` and their values after this step.
    pub(crate) fn adam(
        k: AdamConsts,
        m: &'a mut P,
        v: &'a mut P,
        counters: [(&'a mut f32, f32); 2],
        frozen: Frozen,
    ) -> Self {
        let rule = Rule::Adam { k, m: m.as_flat_mut().as_mut_ptr(), v: v.as_flat_mut().as_mut_ptr() };
        let [(p1, t1), (p2, t2)] = counters;
        SplitStep { counters: [Some((p1 as *mut f32, t1)), Some((p2 as *mut f32, t2))], ..Self::new(rule, frozen) }
    }

    /// Ends a step that was applied to every range: advances the
    /// optimizer's step counters.
    pub(crate) fn commit(self) {
        for (p, v) in self.counters.into_iter().flatten() {
            // SAFETY: a field of the optimizer borrowed mutably for 'a.
            unsafe { *p = v };
        }
    }

    /// The whole step on one thread, committed; whether every updated
    /// parameter is finite.
    pub(crate) fn apply_all(self, params: &mut P, grads: &P) -> bool {
        let (p, g) = (params.as_flat_mut(), grads.as_flat());
        // SAFETY: whole arrays of P::LEN floats, one caller.
        let finite = unsafe { self.apply(p.as_mut_ptr(), g.as_ptr(), 0..p.len()) };
        self.commit();
        finite
    }

    /// Updates the trainable parameters inside `range` of the flattened
    /// parameters `p` from the gradients `g`, in blocks of [`APPLY_BLOCK`]
    /// floats, and returns whether every parameter it updated is finite
    /// (each block checked right after its update, from the L1 cache).
    ///
    /// # Safety
    /// `p` and `g` address `P::LEN` floats (`p` writable) and `range` lies
    /// inside; calls that may run at the same time get disjoint ranges, and
    /// nothing else reads or writes these ranges of `p`, `g` and the
    /// optimizer's state meanwhile.
    pub(crate) unsafe fn apply(&self, p: *mut f32, g: *const f32, range: core::ops::Range<usize>) -> bool {
        let mut finite = true;
        self.frozen.for_each_trainable::<P>(|r| {
            let (mut a, end) = (r.start.max(range.start), r.end.min(range.end));
            while a < end {
                let b = (a + APPLY_BLOCK).min(end);
                // SAFETY: the caller's contract: [a, b) is inside every array
                // (the state arrays are `P`-shaped, as the types guarantee)
                // and no other thread touches it.
                unsafe {
                    let n = b - a;
                    let p = core::slice::from_raw_parts_mut(p.add(a), n);
                    let g = core::slice::from_raw_parts(g.add(a), n);
                    match self.rule {
                        Rule::Sgd { lr } => sgd::sgd_update(p, g, None, lr, 0.0),
                        Rule::Momentum { lr, mu, v } => {
                            let v = core::slice::from_raw_parts_mut(v.add(a), n);
                            sgd::sgd_update(p, g, Some(v), lr, mu)
                        }
                        Rule::Adam { k, m, v } => {
                            let m = core::slice::from_raw_parts_mut(m.add(a), n);
                            let v = core::slice::from_raw_parts_mut(v.add(a), n);
                            adam::adam_update(p, g, m, v, k)
                        }
                    }
                    finite &= crate::math::all_within(p, f32::MAX);
                }
                a = b;
            }
        });
        finite
    }
}

/// Where an optimizer keeps per-parameter state: `()` for none, `&mut P`,
/// or `Box<P>` (std).
pub trait State<P> {
    /// The state, if any.
    fn state(&mut self) -> Option<&mut P>;
}
impl<P> State<P> for () {
    fn state(&mut self) -> Option<&mut P> {
        None
    }
}
impl<P> State<P> for &mut P {
    fn state(&mut self) -> Option<&mut P> {
        Some(self)
    }
}
#[cfg(feature = "std")]
impl<P> State<P> for std::boxed::Box<P> {
    fn state(&mut self) -> Option<&mut P> {
        Some(self)
    }
}

/// A set of frozen layers (by index in [`Network::LAYERS`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frozen(u128);

/// The error of freezing a layer name the network does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownLayer<'a>(pub &'a str);

impl core::fmt::Display for UnknownLayer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "the network has no layer named {:?}", self.0)
    }
}

impl core::error::Error for UnknownLayer<'_> {}

impl Frozen {
    /// Freezes the layer called `name` of network `P`.
    ///
    /// # Errors
    /// [`UnknownLayer`] if `P` has no such layer.
    pub fn freeze<'a, P: Network>(&mut self, name: &'a str) -> Result<(), UnknownLayer<'a>> {
        let (i, _) = P::layer(name).ok_or(UnknownLayer(name))?;
        self.0 |= 1 << i;
        Ok(())
    }

    /// Whether layer index `i` is frozen.
    pub fn is_frozen(&self, i: usize) -> bool {
        self.0 >> i & 1 == 1
    }

    /// Calls `f(range)` with the flat range of every trainable layer.
    pub(crate) fn for_each_trainable<P: Network>(&self, mut f: impl FnMut(core::ops::Range<usize>)) {
        const { assert!(P::LAYERS.len() <= 128, "Frozen: at most 128 layers") };
        for (i, l) in P::LAYERS.iter().enumerate() {
            if l.len > 0 && !self.is_frozen(i) {
                f(l.offset..l.offset + l.len);
            }
        }
    }
}

/// For the tests of the update kernels: `None` (with a note) on the
/// reference backend, else a maker of `len` random floats in `±scale`.
#[cfg(test)]
fn fast_path_filler(seed: u64, len: usize) -> Option<impl FnMut(f32) -> std::vec::Vec<f32>> {
    use rand::{RngExt, SeedableRng};
    if !crate::kernels::active().is_fast() {
        std::eprintln!("no fast kernels on this backend: the fast path is not tested here");
        return None;
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    Some(move |scale: f32| (0..len).map(|_| rng.random_range(-scale..scale)).collect())
}
