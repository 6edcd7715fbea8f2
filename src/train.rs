//! One allocation-free training step: forward, loss, backward, update.

use crate::flat::{same_layout, same_layout_mut};
use crate::loss;
use crate::network::class_of;
use crate::optim::Optimizer;
use crate::{BackFrom, Flat, Grad, Mode, Network, Tensor};
use rand::Rng;

/// A loss a network can be trained with, and where it attaches: on the
/// network's output, or fused with the last layer on its logits.
///
/// Each loss fits some last layers only, and requires a trait of the
/// network's last layer (or of its output, for [`Mse`]):
///
/// | loss | the network's last layer | which implements |
/// |---|---|---|
/// | [`SoftmaxCrossEntropy`] | `Softmax`, output `Tensor<N, 1, 1>` | [`SoftmaxLast<Output>`] |
/// | [`BceWithLogits`] | `Sigmoid`, output `Tensor<1, 1, 1>` | [`SigmoidLast<Output>`] |
/// | [`Bce`] | `Sigmoid`, output `Tensor<1, 1, 1>` | [`ProbabilityLast<Output>`] |
/// | [`Mse`] | any, output `Tensor<1, 1, 1>` | (the output, [`OneOutput`]) |
///
/// The losses reach the last layer through [`LastLayerFits`], which
/// [`network!`](crate::network!) implements.
///
/// A network that does not fit is a build error. It names the loss, the
/// last layer the loss needs and the fix, wherever the loss is passed:
/// [`train_step`], [`fit`](crate::fit::fit),
/// [`evaluate_set`](crate::fit::evaluate_set), a
/// [`ParallelTrainer`](crate::parallel::ParallelTrainer). A classifier
/// without its final `Softmax` gives:
///
/// ```text
/// error[E0277]: `SoftmaxCrossEntropy` needs a network whose last layer is `Softmax` (output `Tensor<N, 1, 1>`,
///               one value per class); this network's last layer is `constnet::Dense<84, 10>`, output `constnet::Tensor<10, 1, 1>`
///   = note: add `out: Softmax` after the last `Dense` of the `network!` declaration
/// ```
///
/// ```compile_fail,E0277
/// use constnet::{network, optim::Sgd, train::{train_step, SoftmaxCrossEntropy, TrainState},
///                Dense, Flat, Relu, Tensor};
/// use rand::SeedableRng;
/// network! { mod head { input: Tensor<120, 1, 1>, fc2: Dense<120, 84>, relu: Relu, fc3: Dense<84, 10> } }
/// # fn main() {
/// let mut net = head::Params::zeroed();
/// let mut st = TrainState::<head::Params, 1>::zeroed();
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
/// let _ = train_step(&mut net, &[Tensor::zeroed()], &[3], SoftmaxCrossEntropy, &mut Sgd::new(0.1), &mut st, &mut rng);
/// # }
/// ```
///
/// A layer of your own can end such a network: it implements the trait
/// the table names, for the output it gives, and keeps the promise stated
/// in that trait's docs. Code generic over networks names the loss in its
/// bounds (`SoftmaxCrossEntropy: Loss<P, Target = usize>`): bounds on the
/// output's shape alone do not prove it.
pub trait Loss<P: Network> {
    /// One sample's target (a 0/1 label, a class index, a value).
    type Target: Copy;
    /// Whether the loss's gradient is with respect to the logits (the last
    /// layer's input), so backward starts below the last layer.
    const FROM_LOGITS: bool;

    /// Mean loss over the batch; writes its gradient where backward reads it.
    fn loss<const B: usize>(ws: &P::Workspace<B>, target: &[Self::Target; B], delta: &mut P::Activations<B>) -> f32;

    /// How many of the batch's predictions match their targets.
    fn correct<const B: usize>(ws: &P::Workspace<B>, target: &[Self::Target; B]) -> usize;
}

/// Binary log-loss fused with a final `Sigmoid` ([`loss::bce_with_logits`]);
/// target 0.0 or 1.0.
#[derive(Clone, Copy, Debug, Default)]
pub struct BceWithLogits;
/// Binary log-loss on the output probability ([`loss::bce`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Bce;
/// Softmax cross-entropy fused with a final `Softmax` ([`loss::softmax_cross_entropy`]);
/// target a class index.
#[derive(Clone, Copy, Debug, Default)]
pub struct SoftmaxCrossEntropy;
/// Squared error `(y - O)²/2` on the output ([`loss::mse`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Mse;

/// A network whose last layer fits loss `L`: the bound of the losses'
/// [`Loss`] impls. [`network!`](crate::network!) implements it for its
/// `Params` when the last layer implements [`FitsLoss<L, Output>`].
pub trait LastLayerFits<L> {}

/// A last layer, giving `Out`, that fits loss `L`. It holds when the layer
/// implements the loss's own trait ([`SoftmaxLast`], [`SigmoidLast`],
/// [`ProbabilityLast`]), whose message names the loss and the fix when it
/// does not. A loss of your own names the layers it fits with impls of
/// its own: `impl FitsLoss<MyLoss, Tensor<1, 1, 1>> for Sigmoid {}`.
pub trait FitsLoss<L, Out> {}
impl<T: SoftmaxLast<Out>, Out> FitsLoss<SoftmaxCrossEntropy, Out> for T {}
impl<T: SigmoidLast<Out>, Out> FitsLoss<BceWithLogits, Out> for T {}
impl<T: ProbabilityLast<Out>, Out> FitsLoss<Bce, Out> for T {}

/// A last layer [`SoftmaxCrossEntropy`] is fused with, giving output `Out`.
///
/// The loss takes its gradient with respect to the layer's input (the
/// logits) and backward starts below the layer. So a layer of your own
/// implements it only if its output is the softmax of its input, of the
/// same shape, one value per class. [`Softmax`](crate::Softmax)
/// implements it for every `Tensor<N, 1, 1>`.
#[diagnostic::on_unimplemented(
    message = "`SoftmaxCrossEntropy` needs a network whose last layer is `Softmax` (output `Tensor<N, 1, 1>`, one value per class); this network's last layer is `{Self}`, output `{Out}`",
    label = "`SoftmaxCrossEntropy` is fused with a final `Softmax`",
    note = "add `out: Softmax` after the last `Dense` of the `network!` declaration"
)]
pub trait SoftmaxLast<Out> {}
impl<const N: usize> SoftmaxLast<Tensor<N, 1, 1>> for crate::Softmax {}

/// A last layer [`BceWithLogits`] is fused with, giving output `Out`.
///
/// The loss takes its gradient with respect to the layer's input (the
/// logit) and backward starts below the layer. So a layer of your own
/// implements it only if its output is the sigmoid of its input, one
/// value: `Out` is `Tensor<1, 1, 1>`. [`Sigmoid`](crate::Sigmoid)
/// implements it for that output.
#[diagnostic::on_unimplemented(
    message = "`BceWithLogits` needs a network whose last layer is `Sigmoid` with one output (`Tensor<1, 1, 1>`); this network's last layer is `{Self}`, output `{Out}`",
    label = "`BceWithLogits` is fused with a final `Sigmoid` of one output",
    note = "end the `network!` declaration with `Dense<_, 1>` and `out: Sigmoid`; for a class out of several, train with `SoftmaxCrossEntropy`"
)]
pub trait SigmoidLast<Out> {}
impl SigmoidLast<Tensor<1, 1, 1>> for crate::Sigmoid {}

/// A last layer whose output `Out` is one probability, which [`Bce`] reads.
///
/// A layer of your own implements it if its output is one value in
/// `[0, 1]`: `Out` is `Tensor<1, 1, 1>`. [`Sigmoid`](crate::Sigmoid)
/// implements it for that output.
#[diagnostic::on_unimplemented(
    message = "`Bce` needs a network whose last layer is `Sigmoid` with one output (`Tensor<1, 1, 1>`), a probability; this network's last layer is `{Self}`, output `{Out}`",
    label = "`Bce` reads one probability from the last layer",
    note = "end the `network!` declaration with `Dense<_, 1>` and `out: Sigmoid`; for a class out of several, train with `SoftmaxCrossEntropy`"
)]
pub trait ProbabilityLast<Out> {}
impl ProbabilityLast<Tensor<1, 1, 1>> for crate::Sigmoid {}

/// A network output of one value, which [`Mse`] reads: the bound of its
/// [`Loss`] impl, on [`Network::Output`]. Only `Tensor<1, 1, 1>`
/// implements it; any last layer with that output fits.
#[diagnostic::on_unimplemented(
    message = "`Mse` needs a network with one output (`Tensor<1, 1, 1>`); this network's output is `{Self}`",
    label = "`Mse` reads one output value",
    note = "end the `network!` declaration with a layer of one output, such as `Dense<_, 1>`"
)]
pub trait OneOutput {}
impl OneOutput for Tensor<1, 1, 1> {}

/// A batch of one-value samples seen as `Tensor<1, 1, 1>`s: the last
/// layer's impl of the loss's trait promises one value, checked here at
/// build time.
fn one_each<X: Flat, const B: usize>(x: &[X; B]) -> &[Tensor<1, 1, 1>; B] {
    const {
        assert!(
            size_of::<X>() == 4,
            "a one-output loss reads one value (a Tensor<1, 1, 1>) per sample, and this network has more: see its last layer's impl of the loss's trait"
        )
    };
    same_layout(x)
}

/// Mutable form of [`one_each`].
fn one_each_mut<X: Flat, const B: usize>(x: &mut [X; B]) -> &mut [Tensor<1, 1, 1>; B] {
    const {
        assert!(
            size_of::<X>() == 4,
            "a one-output loss reads one value (a Tensor<1, 1, 1>) per sample, and this network has more: see its last layer's impl of the loss's trait"
        )
    };
    same_layout_mut(x)
}

fn correct_binary<X: Flat, const B: usize>(out: &[X; B], target: &[f32; B]) -> usize {
    out.iter().zip(target).filter(|(o, t)| class_of(o.as_flat()) == (**t >= 0.5) as usize).count()
}

impl<P: Network + LastLayerFits<BceWithLogits>> Loss<P> for BceWithLogits {
    type Target = f32;
    const FROM_LOGITS: bool = true;
    fn loss<const B: usize>(ws: &P::Workspace<B>, target: &[f32; B], delta: &mut P::Activations<B>) -> f32 {
        loss::bce_with_logits_batch(one_each(P::logits(ws)), target, one_each_mut(P::logits_grad(delta)))
    }
    fn correct<const B: usize>(ws: &P::Workspace<B>, target: &[f32; B]) -> usize {
        correct_binary(P::output(ws), target)
    }
}

impl<P: Network + LastLayerFits<Bce>> Loss<P> for Bce {
    type Target = f32;
    const FROM_LOGITS: bool = false;
    fn loss<const B: usize>(ws: &P::Workspace<B>, target: &[f32; B], delta: &mut P::Activations<B>) -> f32 {
        loss::bce_batch(one_each(P::output(ws)), target, one_each_mut(P::output_grad(delta)))
    }
    fn correct<const B: usize>(ws: &P::Workspace<B>, target: &[f32; B]) -> usize {
        correct_binary(P::output(ws), target)
    }
}

impl<P: Network<Output: OneOutput>> Loss<P> for Mse {
    type Target = f32;
    const FROM_LOGITS: bool = false;
    fn loss<const B: usize>(ws: &P::Workspace<B>, target: &[f32; B], delta: &mut P::Activations<B>) -> f32 {
        loss::mse_batch(one_each(P::output(ws)), target, one_each_mut(P::output_grad(delta)))
    }
    fn correct<const B: usize>(ws: &P::Workspace<B>, target: &[f32; B]) -> usize {
        correct_binary(P::output(ws), target)
    }
}

impl<P: Network + LastLayerFits<SoftmaxCrossEntropy>> Loss<P> for SoftmaxCrossEntropy {
    type Target = usize;
    const FROM_LOGITS: bool = true;
    fn loss<const B: usize>(ws: &P::Workspace<B>, target: &[usize; B], delta: &mut P::Activations<B>) -> f32 {
        loss::softmax_cross_entropy_batch(P::logits(ws), target, P::logits_grad(delta))
    }
    fn correct<const B: usize>(ws: &P::Workspace<B>, target: &[usize; B]) -> usize {
        P::output(ws).iter().zip(target).filter(|(o, t)| crate::math::argmax(o.as_flat()) == **t).count()
    }
}

/// The buffers a training step writes: the forward workspace, the
/// gradients with respect to every activation, and the parameter gradients.
/// Create it zeroed (`TrainState::boxed_zeroed()` for big networks).
#[repr(C)]
pub struct TrainState<P: Network, const B: usize> {
    /// Activations and caches of the forward pass.
    pub ws: P::Workspace<B>,
    /// dL/d(each activation).
    pub delta: P::Activations<B>,
    /// dL/d(each parameter), accumulated by backward.
    pub grads: P,
}

// SAFETY: repr(C) struct of three Flat values (all f32 data, align 4).
unsafe impl<P: Network, const B: usize> Flat for TrainState<P, B> {}

/// Why a training step stopped: a NaN, an infinity, or a gradient too
/// large for the optimizer, found by the checks every step runs. Which one
/// it names:
///
/// - [`Input`](Self::Input): a batch input is NaN or infinite, found when the
///   loss or a gradient was not finite (ReLU and max-pooling map NaN to 0,
///   so a NaN pixel may show only in the first layer's weight gradient).
/// - [`Loss`](Self::Loss): the mean loss is NaN or infinite (inputs finite).
/// - [`Gradient`](Self::Gradient): the first gradient entry, in layer
///   order, that is NaN, infinite or larger in magnitude than the
///   optimizer's [`grad_limit`](crate::optim::Optimizer::grad_limit).
/// - [`Parameter`](Self::Parameter): a parameter is NaN or infinite after
///   the update (a learning rate too large, or weights that were not
///   finite before).
///
/// For the first three the step has changed neither the network nor the
/// optimizer's state, so the caller may skip the batch and go on; for
/// [`Parameter`](Self::Parameter) the update has been applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Divergence {
    /// Input `index` (in [`Flat`] order) of sample `sample` of the batch is `value`.
    Input {
        /// The sample's position in the batch.
        sample: usize,
        /// The element's position in the sample's flat view.
        index: usize,
        /// NaN or ±infinity.
        value: f32,
    },
    /// The batch's mean loss is `value`.
    Loss {
        /// NaN or ±infinity.
        value: f32,
    },
    /// Element `index` of the gradient of tensor `layer.tensor` is `value`.
    Gradient {
        /// The layer's field name.
        layer: &'static str,
        /// `"weight"` or `"bias"`.
        tensor: &'static str,
        /// The element's position in the tensor (PyTorch's row-major order).
        index: usize,
        /// NaN, ±infinity, or a number beyond `limit`.
        value: f32,
        /// The optimizer's [`grad_limit`](crate::optim::Optimizer::grad_limit).
        limit: f32,
    },
    /// Element `index` of parameter tensor `layer.tensor` is `value` after the update.
    Parameter {
        /// The layer's field name.
        layer: &'static str,
        /// `"weight"` or `"bias"`.
        tensor: &'static str,
        /// The element's position in the tensor.
        index: usize,
        /// NaN or ±infinity.
        value: f32,
    },
}

impl core::fmt::Display for Divergence {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const KEPT: &str = "the parameters were not updated";
        match *self {
            Divergence::Input { sample, index, value } => {
                write!(f, "input {index} of batch sample {sample} is {value}; {KEPT}")
            }
            Divergence::Loss { value } => write!(f, "the loss is {value}; {KEPT}"),
            Divergence::Gradient { layer, tensor, index, value, limit } if value.is_finite() => write!(
                f,
                "gradient {index} of {layer}.{tensor} is {value:e}, beyond the optimizer's limit of {limit:e}; {KEPT}"
            ),
            Divergence::Gradient { layer, tensor, index, value, .. } => {
                write!(f, "gradient {index} of {layer}.{tensor} is {value}; {KEPT}")
            }
            Divergence::Parameter { layer, tensor, index, value } => write!(
                f,
                "parameter {index} of {layer}.{tensor} is {value} after the update (is the learning rate too large?)"
            ),
        }
    }
}

impl core::error::Error for Divergence {}

/// The first NaN or infinite input of `x` (a batch, or a whole set), if any.
pub(crate) fn input_fault<X: Flat>(x: &[X]) -> Option<Divergence> {
    x.iter().enumerate().find_map(|(sample, s)| {
        let s = s.as_flat();
        if crate::math::all_within(s, f32::MAX) {
            return None;
        }
        let (index, &value) = s.iter().enumerate().find(|(_, v)| !v.is_finite())?;
        Some(Divergence::Input { sample, index, value })
    })
}

/// The first tensor entry of `net` (parameters or gradients) that is not
/// a number of magnitude at most `limit`: its layer, tensor, index and value.
fn first_beyond<P: Network>(net: &P, limit: f32) -> (&'static str, &'static str, usize, f32) {
    let mut found = None;
    net.visit(&mut |layer, t| {
        if found.is_none()
            && let Some((i, &v)) = t.data.iter().enumerate().find(|(_, v)| !crate::math::within(**v, limit))
        {
            found = Some((layer, t.name, i, v));
        }
    });
    // The flat check saw such an entry, so a tensor holds it.
    found.unwrap_or(("?", "?", 0, f32::NAN))
}

/// The step's check before the update: a finite loss and every gradient a
/// number within `limit`; else the fault, an input's if the batch holds one.
pub(crate) fn check_before_update<P: Network>(
    x: &[P::Input],
    loss: f32,
    grads: &P,
    limit: f32,
) -> Result<(), Divergence> {
    let grads_ok = crate::math::all_within(grads.as_flat(), limit);
    if loss.is_finite() && grads_ok {
        return Ok(());
    }
    Err(input_fault(x).unwrap_or_else(|| {
        if !loss.is_finite() {
            return Divergence::Loss { value: loss };
        }
        let (layer, tensor, index, value) = first_beyond(grads, limit);
        Divergence::Gradient { layer, tensor, index, value, limit }
    }))
}

/// The end of a step on the calling thread: the checks before the update
/// (of batch `x`'s `loss` and the `grads`), `opt`'s update, the check after.
fn checked_update<P: Network, O: Optimizer<P>>(
    opt: &mut O,
    net: &mut P,
    x: &[P::Input],
    loss: f32,
    grads: &P,
) -> Result<(), Divergence> {
    check_before_update(x, loss, grads, opt.grad_limit())?;
    let finite = crate::optim::update(opt, net, grads);
    check_after_update(net, finite)
}

/// The step's check after the update: the non-finite parameter, if
/// `finite` (the update's own check) is false.
pub(crate) fn check_after_update<P: Network>(net: &P, finite: bool) -> Result<(), Divergence> {
    if finite {
        return Ok(());
    }
    let (layer, tensor, index, value) = first_beyond(net, f32::MAX);
    Err(Divergence::Parameter { layer, tensor, index, value })
}

/// Loss and number of correct predictions of one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepResult {
    /// Mean loss over the batch (before the update).
    pub loss: f32,
    /// Correct predictions in the batch (before the update).
    pub correct: usize,
}

/// One training step on a batch of `B` samples, without allocation:
/// forward in training mode, loss, backward (from the logits for fused
/// losses) writing this batch's gradients into `st.grads` (whatever they
/// held before is overwritten, [`Grad::Overwrite`]), optimizer
/// update. Subnormal numbers are
/// flushed to zero during the step ([`FlushSubnormals`](crate::math::FlushSubnormals)).
///
/// # Errors
/// [`Divergence`] if the loss or a gradient is not finite, or a gradient
/// is beyond the optimizer's [`grad_limit`](Optimizer::grad_limit): then
/// neither `net` nor `opt` has changed. Also if a parameter is not finite
/// after the update (which has then been applied). The checks read the
/// gradients once more and the updated parameters from the L1 cache: no
/// cost measurable beyond the noise on fashion10's step, about 3 % of
/// tfconv's (docs/performance.md, "Divergence checks").
///
/// ```
/// use constnet::{network, optim::Sgd, train::{train_step, BceWithLogits, TrainState},
///                Dense, Flat, Network, Sigmoid, Tensor};
/// use rand::SeedableRng;
/// network! { mod tiny { input: Tensor<2, 1, 1>, dense: Dense<2, 1>, out: Sigmoid } }
/// # fn main() -> Result<(), constnet::train::Divergence> {
/// let mut net = tiny::Params::zeroed();
/// let mut st = TrainState::<tiny::Params, 2>::zeroed();
/// let mut opt = Sgd::new(1.0);
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
/// let x = [Tensor::from_array([[[1.0]], [[0.0]]]), Tensor::from_array([[[0.0]], [[1.0]]])];
/// let first = train_step(&mut net, &x, &[1.0, 0.0], BceWithLogits, &mut opt, &mut st, &mut rng)?;
/// for _ in 0..50 { train_step(&mut net, &x, &[1.0, 0.0], BceWithLogits, &mut opt, &mut st, &mut rng)?; }
/// let last = train_step(&mut net, &x, &[1.0, 0.0], BceWithLogits, &mut opt, &mut st, &mut rng)?;
/// assert!(last.loss < first.loss / 10.0 && last.correct == 2);
///
/// // A NaN input stops the step before the update, naming the sample.
/// let before = net.as_flat().to_vec();
/// let bad = [Tensor::from_array([[[f32::NAN]], [[0.0]]]), x[1]];
/// let err = train_step(&mut net, &bad, &[1.0, 0.0], BceWithLogits, &mut opt, &mut st, &mut rng).unwrap_err();
/// assert!(matches!(err, constnet::train::Divergence::Input { sample: 0, index: 0, .. }), "{err}");
/// assert_eq!(net.as_flat(), &before[..]);
/// # Ok(())
/// # }
/// ```
pub fn train_step<P: Network, L: Loss<P>, O: Optimizer<P>, const B: usize>(
    net: &mut P,
    x: &[P::Input; B],
    target: &[L::Target; B],
    _loss: L,
    opt: &mut O,
    st: &mut TrainState<P, B>,
    rng: &mut dyn Rng,
) -> Result<StepResult, Divergence> {
    // Subnormal values (below 1.2e-38) are flushed to zero during the step:
    // they carry nothing for learning and cost a slow path on x86.
    let _ftz = crate::math::FlushSubnormals::new();
    net.forward(x, &mut st.ws, &mut Mode::Train(rng));
    let loss = L::loss(&st.ws, target, &mut st.delta);
    let correct = L::correct(&st.ws, target);
    // The gradients are overwritten, not zeroed and added: tfconv's 13 MB
    // are then written once per step instead of three times.
    net.backward(x, &mut st.ws, &mut st.delta, &mut st.grads, back_from::<P, L>(), Grad::Overwrite);
    checked_update(opt, net, x, loss, &st.grads)?;
    // Batch norm's running statistics move once the update is committed.
    net.update_state(&st.ws);
    Ok(StepResult { loss, correct })
}

/// Where a loss's gradient enters the backward pass.
fn back_from<P: Network, L: Loss<P>>() -> BackFrom {
    if L::FROM_LOGITS { BackFrom::Logits } else { BackFrom::Output }
}

/// The passes of one part of a larger batch, a `share` of it: forward
/// (training mode), loss, the gradient the backward pass starts from
/// scaled by `share` (so that the parts' sums are the gradient of the mean
/// loss over the whole batch), backward overwriting `st.grads` (with
/// `unshared`, all but the shared gradients: [`Grad::OverwriteExceptShared`]). Returns
/// this part's mean loss and its correct predictions. A micro-batch of
/// [`train_step_accumulated`] and a thread's shard in the parallel trainer.
pub(crate) fn share_pass<P: Network, L: Loss<P>, const B: usize>(
    net: &P,
    x: &[P::Input; B],
    target: &[L::Target; B],
    st: &mut TrainState<P, B>,
    rng: &mut dyn Rng,
    share: f32,
    unshared: bool,
) -> (f32, usize) {
    net.forward(x, &mut st.ws, &mut Mode::Train(rng));
    let loss = L::loss(&st.ws, target, &mut st.delta);
    let correct = L::correct(&st.ws, target);
    if L::FROM_LOGITS {
        P::logits_grad(&mut st.delta).scale(share);
    } else {
        P::output_grad(&mut st.delta).scale(share);
    }
    let grad = if unshared { Grad::OverwriteExceptShared } else { Grad::Overwrite };
    net.backward(x, &mut st.ws, &mut st.delta, &mut st.grads, back_from::<P, L>(), grad);
    (loss, correct)
}

/// One training step on a mini-batch of `N·MB` samples run as `N`
/// micro-batches of `MB` (gradient accumulation), without allocation: for
/// each micro-batch, the passes of [`train_step`] with the gradient the
/// backward pass starts from (the output's, or the logits' for a fused
/// loss) scaled by `1/N`, the parameter gradients summed in `sum`; then one
/// optimizer update from `sum`, the gradient of the mean loss over all
/// `N·MB` samples. So it is the step [`train_step`] takes on the whole
/// mini-batch (up to the order of float additions; with
/// [`Dropout`](crate::Dropout), the same in distribution: the masks are
/// drawn micro-batch by micro-batch), with the activations of only `MB`
/// samples at a time. A small network whose mini-batch of activations
/// would leave the L2 cache can run faster: fashion10's mini-batch of 32
/// as 4 x 8 took 0.875–0.889x the time of `train_step` at 32, side by side
/// in three runs (docs/performance.md, "Gradient accumulation"). Each micro-batch reads the
/// weights and moves the whole gradient once more, so a network with
/// large weights is slower: tfconv (13 MB) took 1.48–1.53x.
///
/// `x` and `target` are the micro-batches: a mini-batch array becomes
/// them with [`as_chunks`](slice::as_chunks) (check that its remainder is
/// empty). Afterwards `st` holds the last micro-batch's activations and
/// (scaled) gradients, `sum` the whole mini-batch's gradient. The returned
/// loss is the mean over all samples, `correct` the count over all of them.
///
/// Batch norm normalises each micro-batch by its own statistics, and its
/// running statistics move once per micro-batch, as PyTorch's do when it
/// accumulates: also when the step is then refused.
///
/// ```
/// use constnet::{network, optim::Sgd, train::{train_step_accumulated, BceWithLogits, TrainState},
///                Dense, Flat, Network, Sigmoid, Tensor};
/// use rand::SeedableRng;
/// network! { mod tiny { input: Tensor<2, 1, 1>, dense: Dense<2, 1>, out: Sigmoid } }
/// # fn main() -> Result<(), constnet::train::Divergence> {
/// let mut net = tiny::Params::zeroed();
/// let (mut st, mut sum) = (TrainState::<tiny::Params, 2>::zeroed(), tiny::Params::zeroed());
/// let mut opt = Sgd::new(1.0);
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
/// let x = [Tensor::from_array([[[1.0]], [[0.0]]]), Tensor::from_array([[[0.0]], [[1.0]]]),
///          Tensor::from_array([[[0.9]], [[0.1]]]), Tensor::from_array([[[0.2]], [[1.0]]])];
/// let y = [1.0, 0.0, 1.0, 0.0];
/// // A mini-batch of 4 as 2 micro-batches of 2.
/// let (xs, ys) = (x.as_chunks::<2>().0, y.as_chunks::<2>().0);
/// let first = train_step_accumulated(&mut net, xs, ys, BceWithLogits, &mut opt, &mut st, &mut sum, &mut rng)?;
/// for _ in 0..50 {
///     train_step_accumulated(&mut net, xs, ys, BceWithLogits, &mut opt, &mut st, &mut sum, &mut rng)?;
/// }
/// let last = train_step_accumulated(&mut net, xs, ys, BceWithLogits, &mut opt, &mut st, &mut sum, &mut rng)?;
/// assert!(last.loss < first.loss / 10.0 && last.correct == 4);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`train_step`], on the whole mini-batch's loss and gradient
/// (`sum`); an input fault names the sample's position in the
/// mini-batch (micro-batch `k`, sample `j` is `k·MB + j`).
///
/// # Panics
/// If `x` is empty or `target` has another number of micro-batches (the
/// message names both numbers).
#[allow(clippy::too_many_arguments)]
pub fn train_step_accumulated<P: Network, L: Loss<P>, O: Optimizer<P>, const MB: usize>(
    net: &mut P,
    x: &[[P::Input; MB]],
    target: &[[L::Target; MB]],
    _loss: L,
    opt: &mut O,
    st: &mut TrainState<P, MB>,
    sum: &mut P,
    rng: &mut dyn Rng,
) -> Result<StepResult, Divergence> {
    assert!(
        !x.is_empty() && x.len() == target.len(),
        "train_step_accumulated needs at least one micro-batch and a target per input: \
         {} micro-batches of inputs, {} of targets",
        x.len(),
        target.len()
    );
    let _ftz = crate::math::FlushSubnormals::new();
    let share = 1.0 / x.len() as f32;
    let (mut loss, mut correct) = (0.0, 0);
    for (k, (x, target)) in x.iter().zip(target).enumerate() {
        let (l, c) = share_pass::<P, L, MB>(net, x, target, st, rng, share, false);
        (loss, correct) = (loss + l, correct + c);
        // Batch norm's running statistics move once per micro-batch, as
        // PyTorch's do per forward pass (before the step's checks: the
        // next micro-batch overwrites this one's statistics).
        net.update_state(&st.ws);
        if k == 0 {
            sum.as_flat_mut().copy_from_slice(st.grads.as_flat());
        } else {
            crate::math::add_assign(sum.as_flat_mut(), st.grads.as_flat());
        }
    }
    let loss = loss * share;
    checked_update(opt, net, x.as_flattened(), loss, sum)?;
    Ok(StepResult { loss, correct })
}

/// Loss and correct predictions of a batch in inference mode (no update),
/// from [`Network::infer`] (so `st.ws` is afterwards no input for a
/// backward pass: a `ConvReluPool`'s panics).
pub fn evaluate<P: Network, L: Loss<P>, const B: usize>(
    net: &P,
    x: &[P::Input; B],
    target: &[L::Target; B],
    _loss: L,
    st: &mut TrainState<P, B>,
) -> StepResult {
    net.infer(x, &mut st.ws);
    StepResult { loss: L::loss(&st.ws, target, &mut st.delta), correct: L::correct(&st.ws, target) }
}
