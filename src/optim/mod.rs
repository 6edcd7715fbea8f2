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
pub trait Optimizer<P: Network> {
    /// One update step: `params -= f(grads)` for every layer not frozen.
    fn step(&mut self, params: &mut P, grads: &P);
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
