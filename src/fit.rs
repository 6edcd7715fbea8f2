//! The training loop (std feature): epochs over a data set, running
//! averages, validation after every epoch, a progress bar and one
//! Keras-like line per epoch, callbacks ([`Callback`], [`EarlyStopping`]),
//! checkpoints a run resumes from bit for bit ([`Checkpoint`]), and the
//! history returned for plotting.
//!
//! ```text
//! Epoch 1/5 - 11000/11000 - 15ms - 752703 steps/s - loss: 0.2344 - accuracy: 0.9333 - val_loss: 0.1900 - val_accuracy: 0.9420
//! ```
//!
//! Each step is [`train_step`]: the loop allocates its buffers once, before
//! the first epoch, and nothing per step. Results are bit-identical for the
//! same seed.
//!
//! Training never goes on silently on NaN or infinity: the sets' images are
//! checked once before the first epoch ([`FitConfig::check_inputs`]), and
//! a step whose loss or gradient is not finite
//! ([`Divergence`]) stops the loop with [`FitError::Diverged`], or is
//! skipped and counted, as [`FitConfig::on_divergence`] says.

use crate::optim::Optimizer;
use crate::resume::Resumable;
use crate::train::{Divergence, Loss, StepResult, TrainState, evaluate, train_step};
use crate::{Flat, Network};
use rand::{RngExt, SeedableRng};
use std::time::Instant;
use std::vec::Vec;
use std::{eprintln, format, println};

mod callback;
mod checkpoint;
mod metrics;

pub use callback::{Callback, Control, EarlyStopping, Monitor};
pub use checkpoint::{Checkpoint, CheckpointError, CheckpointErrorKind};

/// The generator of the training loop: ChaCha12, the stream of rand's
/// `StdRng` for the same seed, whose state a [`Checkpoint`] can save.
pub type FitRng = chacha20::ChaCha12Rng;
pub use metrics::{Metrics, evaluate_metrics};

/// How each epoch draws its batches of `B` samples from `N` training samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampling {
    /// `N / B` batches of samples drawn uniformly at random with replacement
    /// (tutorial 000's "take a random sample from the train set").
    Random,
    /// A fresh random permutation every epoch, cut into `N / B` batches; the
    /// last partial batch is dropped (PyTorch's `drop_last=True`).
    Shuffled,
    /// The samples in order; with `B = N`, full-batch gradient descent
    /// (tutorial 002).
    InOrder,
}

/// Settings of [`fit`].
#[derive(Clone, Debug)]
pub struct FitConfig {
    /// Number of passes over the training set.
    pub epochs: usize,
    /// How batches are drawn.
    pub sampling: Sampling,
    /// Seed of the generator for sampling and dropout.
    pub seed: u64,
    /// Show a progress bar while an epoch runs (hidden when stderr is not a terminal).
    pub progress: bool,
    /// Print one line per epoch.
    pub verbose: bool,
    /// What a step that diverges does ([`OnDivergence::Stop`] by default).
    pub on_divergence: OnDivergence,
    /// Check every training and validation image for NaN and infinity
    /// before the first epoch ([`FitError::NonFiniteInput`]); one pass over
    /// the sets (true by default). Without it a bad input is still caught
    /// at its step if it makes the loss or a gradient non-finite.
    pub check_inputs: bool,
    /// Save checkpoints, and resume from one ([`Checkpoint`]); none by default.
    pub checkpoint: Option<Checkpoint>,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: 5,
            sampling: Sampling::Shuffled,
            seed: 0,
            progress: true,
            verbose: true,
            on_divergence: OnDivergence::Stop,
            check_inputs: true,
            checkpoint: None,
        }
    }
}

/// What [`fit`] does with a step that reports a [`Divergence`] before its
/// update (a NaN or infinite input, loss or gradient, or a gradient beyond
/// the optimizer's limit). A parameter that is not finite after an update
/// stops training whatever the policy: the update cannot be undone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnDivergence {
    /// Return [`FitError::Diverged`], the network as it was before the step
    /// ([`FitError::NonFiniteInput`] for a NaN or infinite image, naming
    /// the image).
    #[default]
    Stop,
    /// Skip the batch (no update) and go on; the epoch's
    /// [`EpochStats::skipped`] counts it, and its line shows the count.
    SkipBatch,
    /// As [`SkipBatch`](Self::SkipBatch), and print one line to stderr per
    /// skipped batch, naming the epoch, the step and the fault (even when
    /// [`FitConfig::verbose`] is off).
    Warn,
}

/// Why [`fit`] stopped or could not start.
#[derive(Clone, Debug, PartialEq)]
pub enum FitError {
    /// A set has another number of labels than images.
    Lengths {
        /// `"training"` or `"validation"`.
        set: &'static str,
        /// Its number of images.
        images: usize,
        /// Its number of labels.
        labels: usize,
    },
    /// The training set holds fewer samples than one batch.
    TooFewSamples {
        /// The training set's size.
        samples: usize,
        /// The batch size `B`.
        batch: usize,
    },
    /// An image holds NaN or infinity: found before training
    /// ([`FitConfig::check_inputs`]) or at a step.
    NonFiniteInput {
        /// `"training"` or `"validation"`.
        set: &'static str,
        /// The image's index in the set.
        sample: usize,
        /// The element's position in the image's flat view.
        index: usize,
        /// NaN or ±infinity.
        value: f32,
    },
    /// A step diverged ([`OnDivergence::Stop`], or a parameter not finite
    /// after the update under any policy).
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// What the step found.
        fault: Divergence,
        /// The epochs completed before it.
        history: History,
    },
    /// A checkpoint could not be saved, or the one to resume from is not
    /// this run's or not valid ([`FitConfig::checkpoint`]).
    Checkpoint {
        /// What went wrong, with which file.
        error: CheckpointError,
        /// The epochs completed before it (none when resuming failed).
        history: History,
    },
}

impl core::fmt::Display for FitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FitError::Lengths { set, images, labels } => {
                write!(f, "the {set} set has {images} images but {labels} labels")
            }
            FitError::TooFewSamples { samples, batch } => {
                write!(f, "the training set has {samples} samples, fewer than one batch of {batch}")
            }
            FitError::NonFiniteInput { set, sample, index, value } => {
                write!(f, "{set} image {sample} holds {value} at position {index}")
            }
            FitError::Diverged { epoch, step, fault, .. } => {
                write!(f, "training diverged at epoch {epoch}, step {step}: {fault}")
            }
            FitError::Checkpoint { error, .. } => error.fmt(f),
        }
    }
}

impl std::error::Error for FitError {}

/// The first image of `set` holding NaN or infinity, as the error.
fn check_finite<X: Flat>(set: &'static str, images: &[X]) -> Result<(), FitError> {
    match crate::train::input_fault(images) {
        Some(Divergence::Input { sample, index, value }) => Err(FitError::NonFiniteInput { set, sample, index, value }),
        _ => Ok(()),
    }
}

/// `set`'s lengths agree.
fn check_lengths<X>(set: &'static str, s: &Samples<'_, X>) -> Result<(), FitError> {
    let (images, labels) = (s.images.len(), s.labels.len());
    if images == labels { Ok(()) } else { Err(FitError::Lengths { set, images, labels }) }
}

/// A labelled set of samples: `images[i]` has label `labels[i]`.
#[derive(Debug)]
pub struct Samples<'a, X> {
    /// The inputs.
    pub images: &'a [X],
    /// One label per input.
    pub labels: &'a [u8],
}

impl<X> Clone for Samples<'_, X> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<X> Copy for Samples<'_, X> {}

impl<'a, const C: usize, const H: usize, const W: usize> From<&'a crate::data::Dataset<C, H, W>>
    for Samples<'a, crate::Tensor<C, H, W>>
{
    fn from(ds: &'a crate::data::Dataset<C, H, W>) -> Self {
        Samples { images: ds.images(), labels: ds.labels() }
    }
}

/// The figures of one epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps (weights as they were at each step).
    pub loss: f32,
    /// Training accuracy over the epoch's steps.
    pub accuracy: f32,
    /// Validation loss after the epoch, if a validation set was given.
    pub val_loss: Option<f32>,
    /// Validation accuracy after the epoch.
    pub val_accuracy: Option<f32>,
    /// Wall time of the epoch's training steps, in seconds.
    pub seconds: f64,
    /// Batches skipped after a [`Divergence`] ([`OnDivergence::SkipBatch`]
    /// and [`OnDivergence::Warn`]); `loss` and `accuracy` are over the
    /// others (NaN if every batch was skipped).
    pub skipped: usize,
}

/// Every epoch's figures, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// One entry per epoch.
    pub epochs: Vec<EpochStats>,
}

impl EpochStats {
    /// The Keras-like line for this epoch, of `steps` steps: its time (in
    /// milliseconds under a second), steps per second, and figures.
    ///
    /// ```
    /// use constnet::fit::EpochStats;
    /// let e = EpochStats { epoch: 1, loss: 0.25, accuracy: 0.9, val_loss: None, val_accuracy: None, seconds: 0.0482, skipped: 0 };
    /// assert_eq!(e.line(5, 11000), "Epoch 1/5 - 11000/11000 - 48ms - 228216 steps/s - loss: 0.2500 - accuracy: 0.9000");
    /// let e = EpochStats { seconds: 12.34, ..e };
    /// assert!(e.line(5, 370).starts_with("Epoch 1/5 - 370/370 - 12.3s - 30 steps/s - loss"));
    /// ```
    pub fn line(&self, epochs: usize, steps: usize) -> std::string::String {
        let time =
            if self.seconds < 1.0 { format!("{:.0}ms", self.seconds * 1e3) } else { format!("{:.1}s", self.seconds) };
        let rate = steps as f64 / self.seconds.max(1e-9);
        let mut s = format!(
            "Epoch {}/{epochs} - {steps}/{steps} - {time} - {rate:.0} steps/s - loss: {:.4} - accuracy: {:.4}",
            self.epoch, self.loss, self.accuracy
        );
        if let (Some(l), Some(a)) = (self.val_loss, self.val_accuracy) {
            s += &format!(" - val_loss: {l:.4} - val_accuracy: {a:.4}");
        }
        if self.skipped > 0 {
            s += &format!(" - skipped: {}", self.skipped);
        }
        s
    }
}

/// Copies sample `i` of `set` into `x` and its target into `y`.
fn load<X: Flat, T>(set: &Samples<'_, X>, i: usize, target: &impl Fn(u8) -> T, x: &mut X, y: &mut T) {
    x.as_flat_mut().copy_from_slice(set.images[i].as_flat());
    *y = target(set.labels[i]);
}

/// Mean loss and accuracy of `net` on `set`, in inference mode, in batches
/// of `B` (the remainder one sample at a time); NaN for both on an empty
/// set, which has no mean.
///
/// # Panics
/// If `set.images` and `set.labels` differ in length.
pub fn evaluate_set<P: Network, L: Loss<P> + Copy, const B: usize>(
    net: &P,
    set: Samples<'_, P::Input>,
    loss: L,
    target: impl Fn(u8) -> L::Target,
) -> (f32, f32) {
    assert_eq!(
        set.images.len(),
        set.labels.len(),
        "evaluate_set: {} images but {} labels",
        set.images.len(),
        set.labels.len()
    );
    let n = set.images.len();
    let mut st = TrainState::<P, B>::boxed_zeroed();
    let mut st1 = TrainState::<P, 1>::boxed_zeroed();
    let mut xb = <[P::Input; B]>::boxed_zeroed();
    let mut x1 = <[P::Input; 1]>::boxed_zeroed();
    let t0 = target(0);
    let (mut yb, mut y1) = ([t0; B], [t0; 1]);
    let (mut total, mut correct) = (0.0f64, 0usize);
    let full = n / B * B;
    for start in (0..full).step_by(B.max(1)) {
        for j in 0..B {
            load(&set, start + j, &target, &mut xb[j], &mut yb[j]);
        }
        let r = evaluate(net, &xb, &yb, loss, &mut st);
        total += r.loss as f64 * B as f64;
        correct += r.correct;
    }
    for i in full..n {
        load(&set, i, &target, &mut x1[0], &mut y1[0]);
        let r = evaluate(net, &x1, &y1, loss, &mut st1);
        total += r.loss as f64;
        correct += r.correct;
    }
    if n == 0 {
        return (f32::NAN, f32::NAN);
    }
    ((total / n as f64) as f32, correct as f32 / n as f32)
}

/// Trains `net` on `train` for `cfg.epochs` epochs in batches of `B`, with
/// validation on `valid` after every epoch (an empty validation set is
/// none: no validation figures, rather than a loss of 0), and returns the
/// history.
/// `target` turns a label into the loss's target (e.g. `|l| (l == 3) as u8 as f32`).
/// Each step is [`train_step`] with `opt`, on one thread.
///
/// ```
/// use constnet::fit::{fit, FitConfig, FitError, Samples};
/// use constnet::{network, optim::Sgd, train::BceWithLogits, Dense, Flat, Sigmoid, Tensor};
/// network! { mod tiny { input: Tensor<2, 1, 1>, dense: Dense<2, 1>, out: Sigmoid } }
/// # fn main() {
/// let images = [Tensor::from_array([[[1.0]], [[0.0]]]), Tensor::from_array([[[0.0]], [[1.0]]])];
/// let set = Samples { images: &images, labels: &[1, 0] };
/// let cfg = FitConfig { epochs: 20, progress: false, verbose: false, ..FitConfig::default() };
/// let mut net = tiny::Params::zeroed();
/// let h = fit::<_, _, _, 2>(&mut net, set, None, BceWithLogits, |l| l as f32, &mut Sgd::new(1.0), &cfg).unwrap();
/// assert!(h.epochs[19].accuracy == 1.0 && h.epochs[19].loss < h.epochs[0].loss);
///
/// // An image holding NaN is refused before training, by its index.
/// let bad = [images[0], Tensor::from_array([[[0.0]], [[f32::NAN]]])];
/// let set = Samples { images: &bad, labels: &[1, 0] };
/// let err = fit::<_, _, _, 2>(&mut net, set, None, BceWithLogits, |l| l as f32, &mut Sgd::new(1.0), &cfg);
/// assert!(matches!(err, Err(FitError::NonFiniteInput { sample: 1, index: 1, .. })), "{err:?}");
/// # }
/// ```
///
/// # Errors
/// [`FitError::Lengths`] if a set's images and labels differ in length,
/// [`FitError::TooFewSamples`] if the training set has fewer than `B`
/// samples, [`FitError::NonFiniteInput`] for an image holding NaN or
/// infinity, [`FitError::Diverged`] for a step that diverged (see
/// [`OnDivergence`]).
#[allow(clippy::too_many_arguments)]
pub fn fit<P: Network, L: Loss<P> + Copy, O: Optimizer<P> + Resumable, const B: usize>(
    net: &mut P,
    train: Samples<'_, P::Input>,
    valid: Option<Samples<'_, P::Input>>,
    loss: L,
    target: impl Fn(u8) -> L::Target,
    opt: &mut O,
    cfg: &FitConfig,
) -> Result<History, FitError> {
    fit_callbacks::<P, L, O, B>(net, train, valid, loss, target, opt, cfg, &mut [])
}

/// [`fit`] with [`Callback`]s, called as [`fit_with_callbacks`] says
/// (e.g. [`EarlyStopping`]). The optimizer's state goes into checkpoints.
///
/// # Errors
/// As [`fit`].
#[allow(clippy::too_many_arguments)]
pub fn fit_callbacks<P: Network, L: Loss<P> + Copy, O: Optimizer<P> + Resumable, const B: usize>(
    net: &mut P,
    train: Samples<'_, P::Input>,
    valid: Option<Samples<'_, P::Input>>,
    loss: L,
    target: impl Fn(u8) -> L::Target,
    opt: &mut O,
    cfg: &FitConfig,
    callbacks: &mut [&mut dyn Callback<P>],
) -> Result<History, FitError> {
    let mut st = TrainState::<P, B>::boxed_zeroed();
    fit_with_callbacks::<P, L, O, B>(net, train, valid, loss, target, cfg, callbacks, opt, |net, opt, x, y, rng| {
        train_step(net, x, y, loss, opt, &mut st, rng)
    })
}

/// [`fit`] with the training step supplied by the caller: `step` gets the
/// network, a batch, its targets and the loop's seeded generator. It
/// keeps no checkpoints: [`FitConfig::checkpoint`] is refused
/// ([`FitError::Checkpoint`]), as the step's state (the optimizer it
/// captured) would be missing from them; [`fit_with_callbacks`] takes that
/// state.
///
/// # Errors
/// As [`fit`].
pub fn fit_with<P: Network, L: Loss<P> + Copy, const B: usize>(
    net: &mut P,
    train: Samples<'_, P::Input>,
    valid: Option<Samples<'_, P::Input>>,
    loss: L,
    target: impl Fn(u8) -> L::Target,
    cfg: &FitConfig,
    mut step: impl FnMut(&mut P, &[P::Input; B], &[L::Target; B], &mut FitRng) -> Result<StepResult, Divergence>,
) -> Result<History, FitError> {
    if let Some(ck) = &cfg.checkpoint {
        // The step's state (an optimizer it captured) would be missing
        // from the checkpoint, and a resumed run silently inexact.
        let message = "fit_with saves no state of its step: pass the step's state (its optimizer, trainer) to fit_with_callbacks, or () if it has none".into();
        let error = CheckpointError { path: ck.path.clone(), kind: CheckpointErrorKind::Invalid(message) };
        return Err(FitError::Checkpoint { error, history: History::default() });
    }
    fit_with_callbacks::<P, L, (), B>(net, train, valid, loss, target, cfg, &mut [], &mut (), |net, _, x, y, rng| {
        step(net, x, y, rng)
    })
}

/// [`fit_with`] with [`Callback`]s, and the step's state `state` (an
/// optimizer, a [`ParallelTrainer`](crate::parallel::ParallelTrainer) and
/// its optimizer as a pair, or `()`), which `step` gets with each batch and
/// a [`Checkpoint`] saves and restores.
///
/// Each callback is called after every step, after
/// every epoch (once its line is printed) and when training ends, in the
/// order given; the first to answer [`Control::Stop`] ends training after
/// that step or epoch (an epoch stopped part-way is recorded over the
/// steps it ran). Early stopping is [`EarlyStopping`].
///
/// ```
/// use constnet::fit::{fit_with_callbacks, EarlyStopping, FitConfig, Monitor, Samples};
/// use constnet::train::{train_step, BceWithLogits, TrainState};
/// use constnet::{network, optim::Sgd, Dense, Flat, Sigmoid, Tensor};
/// network! { mod tiny { input: Tensor<2, 1, 1>, dense: Dense<2, 1>, out: Sigmoid } }
/// # fn main() {
/// let images = [Tensor::from_array([[[1.0]], [[0.0]]]), Tensor::from_array([[[0.0]], [[1.0]]])];
/// let set = Samples { images: &images, labels: &[1, 0] };
/// let cfg = FitConfig { epochs: 1000, progress: false, verbose: false, ..FitConfig::default() };
/// let (mut net, mut st, mut opt) = (tiny::Params::zeroed(), TrainState::<tiny::Params, 2>::zeroed(), Sgd::new(1.0));
/// // Stop once the training loss has not fallen by 1e-3 for 3 epochs.
/// let mut early = EarlyStopping::<tiny::Params>::new(Monitor::Loss, 3);
/// early.min_delta = 1e-3;
/// let h = fit_with_callbacks::<_, _, _, 2>(&mut net, set, None, BceWithLogits, |l| l as f32, &cfg, &mut [&mut early],
///     &mut opt, |net, opt, x, y, rng| train_step(net, x, y, BceWithLogits, opt, &mut st, rng)).unwrap();
/// assert!(h.epochs.len() < 1000 && h.epochs.last().unwrap().accuracy == 1.0);
/// assert_eq!(early.best_epoch(), Some(h.epochs.len() - 3));
/// # }
/// ```
///
/// # Errors
/// As [`fit`].
#[allow(clippy::too_many_arguments)]
pub fn fit_with_callbacks<P: Network, L: Loss<P> + Copy, S: Resumable, const B: usize>(
    net: &mut P,
    train: Samples<'_, P::Input>,
    valid: Option<Samples<'_, P::Input>>,
    loss: L,
    target: impl Fn(u8) -> L::Target,
    cfg: &FitConfig,
    callbacks: &mut [&mut dyn Callback<P>],
    state: &mut S,
    mut step: impl FnMut(&mut P, &mut S, &[P::Input; B], &[L::Target; B], &mut FitRng) -> Result<StepResult, Divergence>,
) -> Result<History, FitError> {
    let n = train.images.len();
    check_lengths("training", &train)?;
    if let Some(v) = &valid {
        check_lengths("validation", v)?;
    }
    if n < B || B == 0 {
        return Err(FitError::TooFewSamples { samples: n, batch: B });
    }
    if cfg.check_inputs {
        check_finite("training", train.images)?;
        if let Some(v) = &valid {
            check_finite("validation", v.images)?;
        }
    }
    let steps = n / B;
    let mut rng = FitRng::seed_from_u64(cfg.seed);
    let mut xb = <[P::Input; B]>::boxed_zeroed();
    let mut yb = [target(0); B];
    let mut order: Vec<usize> = (0..n).collect();
    let mut history = History::default();
    let run = checkpoint::Run {
        epochs: cfg.epochs,
        batch: B,
        samples: n,
        labels: checkpoint::Run::fingerprint(train.labels),
        seed: cfg.seed,
        sampling: cfg.sampling,
    };
    let mut start = checkpoint::Position { epoch: 1, ..Default::default() };
    // Saves a checkpoint (if the run keeps them) at a position.
    let save = |net: &P, state: &mut S, rng: &mut FitRng, order: &mut [usize], history: &mut History, pos| {
        let Some(ck) = &cfg.checkpoint else { return Ok(()) };
        let lp = checkpoint::Loop { state, rng, order, history: &mut *history };
        checkpoint::save(ck, net, lp, &pos, &run)
            .map_err(|error| FitError::Checkpoint { error, history: std::mem::take(history) })
    };
    if let Some(ck) = &cfg.checkpoint {
        let lp = checkpoint::Loop { state: &mut *state, rng: &mut rng, order: &mut order, history: &mut history };
        let resumed = match ck.resume {
            true => checkpoint::load(ck, net, lp, &run)
                .map_err(|error| FitError::Checkpoint { error, history: History::default() })?,
            false => None,
        };
        match resumed {
            Some(pos) => {
                if cfg.verbose {
                    println!("resumed from {} at epoch {}, step {}", ck.path.display(), pos.epoch, pos.step);
                }
                start = pos;
            }
            // A first save before any training: a path that cannot be
            // written fails now, not after the first epoch.
            None => save(net, state, &mut rng, &mut order, &mut history, start)?,
        }
    }
    let mut stop = false;
    // The set's index of each sample of the batch (on the heap, as `xb`).
    let mut batch = std::vec![0usize; B];
    for epoch in start.epoch..=cfg.epochs {
        // A checkpoint taken part-way resumes its epoch: same order, same sums.
        let resumed = if epoch == start.epoch { start } else { checkpoint::Position { epoch, ..Default::default() } };
        if cfg.sampling == Sampling::Shuffled && resumed.step == 0 {
            crate::data::shuffle_indices(&mut order, &mut rng);
        }
        let bar = progress_bar(cfg.progress, steps, epoch, cfg.epochs);
        let checkpoint::Position { mut loss_sum, mut correct, mut seen, mut skipped, .. } = resumed;
        // Steps run this epoch: all of them unless a callback stopped it.
        let mut ran = steps;
        let t0 = Instant::now();
        for k in resumed.step..steps {
            for j in 0..B {
                batch[j] = match cfg.sampling {
                    Sampling::Random => rng.random_range(0..n),
                    Sampling::Shuffled | Sampling::InOrder => order[k * B + j],
                };
                load(&train, batch[j], &target, &mut xb[j], &mut yb[j]);
            }
            match step(net, state, &xb, &yb, &mut rng) {
                Ok(r) => {
                    loss_sum += r.loss as f64 * B as f64;
                    correct += r.correct;
                    seen += B;
                    for c in callbacks.iter_mut() {
                        stop |= c.on_step_end(net, epoch, k + 1, &r) == Control::Stop;
                    }
                }
                Err(fault) => {
                    if matches!(fault, Divergence::Parameter { .. }) || cfg.on_divergence == OnDivergence::Stop {
                        if let Some(bar) = &bar {
                            bar.finish_and_clear();
                        }
                        return Err(match fault {
                            // The batch's sample `j` is the set's image `batch[j]`.
                            Divergence::Input { sample, index, value } => {
                                // A step of the caller's may name a sample past the batch.
                                let sample = batch.get(sample).copied().unwrap_or(sample);
                                FitError::NonFiniteInput { set: "training", sample, index, value }
                            }
                            fault => FitError::Diverged { epoch, step: k + 1, fault, history },
                        });
                    }
                    if cfg.on_divergence == OnDivergence::Warn {
                        let image = match fault {
                            Divergence::Input { sample, .. } => match batch.get(sample) {
                                Some(image) => format!(" (training image {image})"),
                                None => std::string::String::new(),
                            },
                            _ => std::string::String::new(),
                        };
                        let warn =
                            || eprintln!("warning: epoch {epoch}, step {}: {fault}{image}; batch skipped", k + 1);
                        match &bar {
                            Some(bar) => bar.suspend(warn),
                            None => warn(),
                        }
                    }
                    skipped += 1;
                }
            }
            if let Some(bar) = &bar
                && (k % 256 == 255 || k + 1 == steps)
            {
                bar.set_position(k as u64 + 1);
                bar.set_message(format!(
                    "loss: {:.4} - accuracy: {:.4}",
                    loss_sum / seen as f64,
                    correct as f64 / seen as f64
                ));
            }
            // Part-way through the epoch: where a resumed run goes on.
            let every = cfg.checkpoint.as_ref().map_or(0, |c| c.every_steps);
            if k + 1 < steps && (stop || (every > 0 && (k + 1) % every == 0)) {
                let pos = checkpoint::Position { epoch, step: k + 1, loss_sum, correct, seen, skipped };
                save(net, state, &mut rng, &mut order, &mut history, pos)?;
            }
            if stop {
                ran = k + 1;
                break;
            }
        }
        let seconds = t0.elapsed().as_secs_f64();
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let (val_loss, val_accuracy) = match valid {
            Some(v) if !v.images.is_empty() => {
                let (l, a) = evaluate_set::<P, L, B>(net, v, loss, &target);
                (Some(l), Some(a))
            }
            _ => (None, None),
        };
        let stats = EpochStats {
            epoch,
            loss: (loss_sum / seen as f64) as f32,
            accuracy: correct as f32 / seen as f32,
            val_loss,
            val_accuracy,
            seconds,
            skipped,
        };
        if cfg.verbose {
            println!("{}", stats.line(cfg.epochs, ran - resumed.step));
        }
        history.epochs.push(stats);
        // A whole epoch: the checkpoint's next start is the next epoch.
        let whole = ran == steps;
        for c in callbacks.iter_mut() {
            stop |= c.on_epoch_end(net, &stats) == Control::Stop;
        }
        if whole {
            let pos = checkpoint::Position { epoch: epoch + 1, ..Default::default() };
            save(net, state, &mut rng, &mut order, &mut history, pos)?;
        }
        if stop {
            break;
        }
    }
    for c in callbacks.iter_mut() {
        c.on_train_end(net, &history);
    }
    Ok(history)
}

fn progress_bar(show: bool, steps: usize, epoch: usize, epochs: usize) -> Option<indicatif::ProgressBar> {
    if !show {
        return None;
    }
    let bar = indicatif::ProgressBar::new(steps as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("Epoch {prefix} {bar:30} {pos}/{len} [{elapsed}<{eta}] {msg}")
    {
        bar.set_style(style);
    }
    bar.set_prefix(format!("{epoch}/{epochs}"));
    Some(bar)
}

/// Errors of [`plot_history`].
#[cfg(feature = "plot")]
#[derive(Debug)]
pub struct PlotError {
    /// The image that could not be written.
    pub path: std::path::PathBuf,
    /// What went wrong.
    pub message: std::string::String,
}

#[cfg(feature = "plot")]
impl core::fmt::Display for PlotError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "cannot draw {}: {}", self.path.display(), self.message)
    }
}

#[cfg(feature = "plot")]
impl std::error::Error for PlotError {}

/// The y range of a plot's panel: its finite figures padded by a tenth of
/// their spread (at least 1e-3), kept within ±1e30 so that the axis's tick
/// arithmetic stays finite (a range that overflowed `f32` sent the plotting
/// library into an endless loop); `0..1` without a finite figure. Figures
/// past it are drawn at its edge, and non-finite ones not at all.
#[cfg(feature = "plot")]
fn axis_range(values: impl Iterator<Item = f32>) -> (f32, f32) {
    const LIMIT: f64 = 1e30;
    let finite = values.filter(|v| v.is_finite()).map(f64::from);
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.1).max(1e-3);
    let (mut lo, mut hi) = ((lo - pad).clamp(-LIMIT, LIMIT), (hi + pad).clamp(-LIMIT, LIMIT));
    // Both clamped to one end (the padding keeps them 2e-3 apart
    // otherwise): an axis of the limit's last thousandth.
    if hi - lo < 1e-3 {
        if hi > 0.0 {
            lo = hi - LIMIT * 1e-3;
        } else {
            hi = lo + LIMIT * 1e-3;
        }
    }
    (lo as f32, hi as f32)
}

/// Draws the loss and accuracy curves of `history` (training and, when
/// present, validation) side by side into a PNG at `path` (plot feature).
///
/// # Errors
/// [`PlotError`] naming the file, if the image cannot be drawn or written.
#[cfg(feature = "plot")]
pub fn plot_history(history: &History, title: &str, path: &std::path::Path) -> Result<(), PlotError> {
    use plotters::prelude::*;
    use std::string::ToString;
    static FONT: std::sync::Once = std::sync::Once::new();
    FONT.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            include_bytes!("../assets/fonts/DejaVuSans.ttf"),
        );
    });
    let err = |e: &dyn core::fmt::Display| PlotError { path: path.to_path_buf(), message: e.to_string() };
    const SIZE: (u32, u32) = (1000, 420);
    let mut rgb = std::vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let root = root.titled(title, ("sans-serif", 22)).map_err(|e| err(&e))?;
        let (left, right) = root.split_horizontally(500);
        let n = history.epochs.len().max(1) as f32;
        type Panel<'a, A> = (&'a str, &'a A, fn(&EpochStats) -> f32, fn(&EpochStats) -> Option<f32>);
        let panels: [Panel<'_, DrawingArea<_, _>>; 2] =
            [("loss", &left, |e| e.loss, |e| e.val_loss), ("accuracy", &right, |e| e.accuracy, |e| e.val_accuracy)];
        for (name, area, train, valid) in panels {
            let (lo, hi) = axis_range(history.epochs.iter().flat_map(|e| [Some(train(e)), valid(e)]).flatten());
            let at = |(x, y): (f32, f32)| y.is_finite().then_some((x, y.clamp(lo, hi)));
            let mut chart = ChartBuilder::on(area)
                .margin(15)
                .caption(name, ("sans-serif", 18))
                .x_label_area_size(35)
                .y_label_area_size(55)
                .build_cartesian_2d(0.8f32..n + 0.2, lo..hi)
                .map_err(|e| err(&e))?;
            chart.configure_mesh().x_desc("epoch").y_desc(name).draw().map_err(|e| err(&e))?;
            let train_pts: Vec<(f32, f32)> =
                history.epochs.iter().filter_map(|e| at((e.epoch as f32, train(e)))).collect();
            chart
                .draw_series(LineSeries::new(train_pts, BLUE.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label("train")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
            let valid_pts: Vec<(f32, f32)> =
                history.epochs.iter().filter_map(|e| valid(e).and_then(|v| at((e.epoch as f32, v)))).collect();
            if !valid_pts.is_empty() {
                chart
                    .draw_series(LineSeries::new(valid_pts, RED.stroke_width(2)))
                    .map_err(|e| err(&e))?
                    .label("validation")
                    .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    crate::image::write_rgb(path, SIZE.0, SIZE.1, &rgb).map_err(|e| err(&e))
}

#[cfg(all(test, feature = "plot"))]
mod tests {
    use super::axis_range;

    #[test]
    fn the_axis_range_pads_finite_figures_and_stays_finite() {
        let close = |(a, b): (f32, f32), (c, d): (f32, f32)| (a - c).abs() < 1e-6 && (b - d).abs() < 1e-6;
        assert!(close(axis_range([0.3, 0.7, 0.5].into_iter()), (0.26, 0.74)));
        assert!(close(axis_range([0.5].into_iter()), (0.499, 0.501)), "one figure: the least padding");
        assert!(
            close(axis_range([f32::NAN, 0.3, f32::INFINITY, 0.7].into_iter()), (0.26, 0.74)),
            "finite figures only"
        );
        assert_eq!(axis_range([f32::NAN, f32::NEG_INFINITY].into_iter()), (0.0, 1.0));
        assert_eq!(axis_range(core::iter::empty()), (0.0, 1.0));
        for figures in [[3e38, -3e38], [f32::MAX, 2e30], [-f32::MAX, -f32::MAX]] {
            let (lo, hi) = axis_range(figures.into_iter());
            assert!(
                lo.is_finite() && hi.is_finite() && lo < hi && lo >= -1e30 && hi <= 1e30,
                "{figures:?}: {lo}..{hi}"
            );
        }
    }
}
