//! Callbacks of the training loop ([`fit_with_callbacks`](super::fit_with_callbacks)),
//! and early stopping.

use super::{EpochStats, History};
use crate::Network;
use crate::train::StepResult;

/// What a [`Callback`] tells [`fit_with_callbacks`](super::fit_with_callbacks) to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on training.
    Continue,
    /// End training after this step or epoch.
    Stop,
}

/// Code [`fit_with_callbacks`](super::fit_with_callbacks) runs as training goes: after each step,
/// after each epoch, and at the end. Every method has a default that does
/// nothing, so a callback implements what it needs (a learning-rate
/// schedule belongs in the step, where the optimizer is at hand).
///
/// ```
/// use constnet::fit::{Callback, Control, EpochStats};
/// /// Stops once the training accuracy reaches a target.
/// struct Enough(f32);
/// impl<P> Callback<P> for Enough {
///     fn on_epoch_end(&mut self, _net: &P, stats: &EpochStats) -> Control {
///         if stats.accuracy >= self.0 { Control::Stop } else { Control::Continue }
///     }
/// }
/// ```
pub trait Callback<P> {
    /// After a step that was not refused; `step` counts from 1 in each epoch.
    fn on_step_end(&mut self, _net: &P, _epoch: usize, _step: usize, _result: &StepResult) -> Control {
        Control::Continue
    }

    /// After an epoch's validation and line, with its figures (already in
    /// the history).
    fn on_epoch_end(&mut self, _net: &P, _stats: &EpochStats) -> Control {
        Control::Continue
    }

    /// When training ends by its epochs or a [`Control::Stop`] (not by an
    /// error), with every epoch's figures; it may change the network.
    fn on_train_end(&mut self, _net: &mut P, _history: &History) {}
}

/// The figure an [`EarlyStopping`] watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// The validation loss (lower is better).
    ValLoss,
    /// The validation accuracy (higher is better).
    ValAccuracy,
    /// The training loss over the epoch (lower is better).
    Loss,
    /// The training accuracy over the epoch (higher is better).
    Accuracy,
}

impl Monitor {
    /// The figure, as a number where lower is better; `None` when the
    /// epoch has none (no validation set) or it is NaN.
    fn score(self, s: &EpochStats) -> Option<f32> {
        let v = match self {
            Monitor::ValLoss => s.val_loss?,
            Monitor::ValAccuracy => -s.val_accuracy?,
            Monitor::Loss => s.loss,
            Monitor::Accuracy => -s.accuracy,
        };
        (!v.is_nan()).then_some(v)
    }
}

/// Early stopping (Keras's `EarlyStopping`): ends training once the
/// monitored figure has not improved by more than `min_delta` for
/// `patience` epochs, and, with `restore_best` (the default), puts back the
/// weights of the best epoch when training ends. It keeps one copy of the
/// parameters, allocated once by [`new`](Self::new). An epoch without the
/// figure (no validation set for [`Monitor::ValLoss`], or NaN) counts as no
/// improvement. See [`fit_with_callbacks`](super::fit_with_callbacks) for an example.
pub struct EarlyStopping<P> {
    /// What is watched.
    pub monitor: Monitor,
    /// Epochs without improvement before training stops.
    pub patience: usize,
    /// The smallest change that counts as an improvement (0 by default).
    pub min_delta: f32,
    /// Restore the best epoch's weights at the end (true by default).
    pub restore_best: bool,
    best: std::boxed::Box<P>,
    best_score: f32,
    best_epoch: Option<usize>,
    waited: usize,
}

impl<P: Network> EarlyStopping<P> {
    /// Watches `monitor` with `patience` epochs; `min_delta` 0, best
    /// weights restored.
    pub fn new(monitor: Monitor, patience: usize) -> Self {
        EarlyStopping {
            monitor,
            patience,
            min_delta: 0.0,
            restore_best: true,
            best: P::boxed_zeroed(),
            best_score: f32::INFINITY,
            best_epoch: None,
            waited: 0,
        }
    }

    /// The epoch (1-based) whose figure was best so far, if any.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }
}

impl<P: Network> Callback<P> for EarlyStopping<P> {
    fn on_epoch_end(&mut self, net: &P, stats: &EpochStats) -> Control {
        match self.monitor.score(stats) {
            Some(v) if self.best_epoch.is_none() || v < self.best_score - self.min_delta => {
                (self.best_score, self.best_epoch, self.waited) = (v, Some(stats.epoch), 0);
                self.best.as_flat_mut().copy_from_slice(net.as_flat());
                Control::Continue
            }
            // Only an epoch without improvement stops (with patience 0, the first one).
            _ => {
                self.waited += 1;
                if self.waited >= self.patience { Control::Stop } else { Control::Continue }
            }
        }
    }

    fn on_train_end(&mut self, net: &mut P, _history: &History) {
        if self.restore_best && self.best_epoch.is_some() {
            net.as_flat_mut().copy_from_slice(self.best.as_flat());
        }
    }
}
