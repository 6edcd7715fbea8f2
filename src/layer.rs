//! The [`Layer`] trait every layer implements, the [`Parameters`] trait for
//! layers with weights, the forward [`Mode`], and weight initialisation.

use crate::{Flat, Shape, Tensor};
use rand::Rng;

/// Training or inference: [`Dropout`](crate::Dropout) behaves
/// differently, and draws its mask from the generator given here.
pub enum Mode<'a> {
    /// Inference: dropout is the identity. A backward pass may follow (a
    /// gradient check, saliency).
    Infer,
    /// Inference with no backward pass after it, what
    /// [`Network::infer`](crate::Network::infer) runs: as `Infer`, and a
    /// layer may leave out of its cache what only its backward pass reads
    /// ([`ConvReluPool`](crate::ConvReluPool): its pooling's routes, which
    /// cost its kernels a sixth of an inference). Its backward pass then
    /// panics rather than give wrong gradients.
    Predict,
    /// Training: dropout draws a fresh mask from this generator.
    Train(&'a mut dyn Rng),
}

/// What a layer's backward pass does with the parameter gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grad {
    /// Adds them into `grads` (`+=`), so a mini-batch split over calls is
    /// a sum.
    Add,
    /// Overwrites `grads` (`=`): what a training step wants, as it starts
    /// from zero gradients anyway. A layer whose kernel can store the sum
    /// directly saves a pass over memory ([`Dense`](crate::Dense): the
    /// benchmark network's 12.8 MB weight gradient is then written once
    /// instead of zeroed, read and written again).
    Overwrite,
    /// As `Overwrite`, but leaving the gradient of the first
    /// [`SHARED`](Parameters::SHARED) parameters unwritten: the
    /// data-parallel trainer's pass, which shares that gradient out between
    /// its threads ([`Parameters::shared_grad`]). For a layer with
    /// `SHARED == 0` it is `Overwrite`.
    OverwriteExceptShared,
}

impl Grad {
    /// Zeroes `grads` unless adding: what a layer whose backward pass only
    /// adds calls first (every layer but [`Dense`](crate::Dense)).
    ///
    /// ```
    /// use constnet::{Dense, Flat, Grad, Layer, Tensor};
    /// let mut d = Dense::<2, 1>::zeroed();
    /// d.as_flat_mut().copy_from_slice(&[1.0, 2.0, 3.0]); // w = [1, 2], b = 3
    /// let x = [Tensor::<2, 1, 1>::from_array([[[1.0]], [[-1.0]]])];
    /// let (y, dy) = ([Tensor::<1, 1, 1>::zeroed()], [Tensor::<1, 1, 1>::from_array([[[0.5]]])]);
    /// let mut g = Dense::<2, 1>::zeroed();
    /// g.as_flat_mut().fill(f32::NAN); // stale: never read
    /// d.backward(&x, &y, &mut [Tensor::zeroed()], &dy, None, &mut g, Grad::Overwrite);
    /// assert_eq!(g.as_flat(), &[0.5, -0.5, 0.5]);
    /// d.backward(&x, &y, &mut [Tensor::zeroed()], &dy, None, &mut g, Grad::Add);
    /// assert_eq!(g.as_flat(), &[1.0, -1.0, 1.0]);
    /// ```
    #[inline]
    pub fn start<T: Flat>(self, grads: &mut T) {
        if self != Grad::Add {
            grads.zero();
        }
    }
}

/// A layer that maps a batch of `C x H x W` inputs to a batch of outputs of
/// the shape [`Shape`] gives.
///
/// `forward` writes into an output buffer the caller owns, and keeps in
/// `cache` what `backward` needs beyond the input and output. `backward`
/// overwrites `dx` with the gradient with respect to the input (when asked
/// for) and adds or overwrites the parameter gradients in `grads`, as
/// [`Grad`] says.
///
/// The output shape is a separate set of const parameters checked against
/// [`Shape`] in a `const` block: a wrong buffer is a build error that names
/// the shape the formula gives and the one received (`Conv2d on a 1 x 5 x 5
/// input: the output buffer must be 1 x 3 x 3 (the layer's Shape formula),
/// not 1 x 4 x 4`):
///
/// ```compile_fail
/// use constnet::{Conv2d, Flat, Layer, Mode, Tensor};
/// let conv = Conv2d::<1, 1, 3, 0, 1>::zeroed(); // 'valid': 5 x 5 gives 3 x 3
/// let mut y = [Tensor::<1, 4, 4>::zeroed()];
/// conv.forward(&[Tensor::<1, 5, 5>::zeroed()], &mut y, &mut Flat::zeroed(), &mut Mode::Infer);
/// ```
///
/// A type in [`network!`](crate::network) must be `Clone + Debug +
/// PartialEq` and implement [`Flat`], [`Parameters`], [`Shape`] and this
/// trait for the shape it receives; a type that does not implement `Layer`
/// gets one error, which says so.
///
/// # Writing a layer
/// A layer defined in another crate is used in `network!` like the
/// crate's own; `tests/custom_layer.rs` writes three (a leaky ReLU, a
/// per-channel scale and a hard sigmoid that ends a network), trains
/// networks with them and checks their gradients with
/// [`gradcheck::check_layer`](crate::gradcheck::check_layer).
/// The contract:
/// - the type is `#[repr(C)]`, holds only `f32` data (its parameters) and
///   implements [`Flat`] (an `unsafe` trait, for that reason), and
///   `Clone + Debug + PartialEq`;
/// - [`Parameters`] draws initial values and names each tensor with its
///   PyTorch `state_dict` name and shape (the defaults: no parameters);
/// - [`Shape`] gives the output shape; `assert!`s in its constants reject
///   inputs the layer does not take, as a build error;
/// - `forward` checks its output buffer's shape in a `const` block and
///   writes every output; `backward` overwrites `dx` when given and treats
///   `grads` as its [`Grad`] says ([`Grad::start`] then `+=` is right for
///   any layer);
/// - `Cache<B>` holds what `forward` keeps for `backward` over a batch of
///   `B` (`()` if nothing);
/// - a layer that behaves differently in inference tests
///   `matches!(mode, Mode::Train(_))`: [`Mode`] has two inference variants;
/// - a layer that ends a network implements the trait its loss requires of
///   the last layer ([`Loss`](crate::train::Loss) lists them), e.g.
///   [`ProbabilityLast`](crate::train::ProbabilityLast) for one
///   probability that [`Bce`](crate::train::Bce) reads.
///
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a layer for a {C} x {H} x {W} input: it does not implement `Layer<{C}, {H}, {W}>`",
    label = "not a layer for a {C} x {H} x {W} input",
    note = "a layer implements `Flat`, `Parameters`, `Shape<C, H, W>` and `Layer<C, H, W>`, and in `network!` is `Clone + Debug + PartialEq` (the `Layer` docs)"
)]
pub trait Layer<const C: usize, const H: usize, const W: usize>: Shape<C, H, W> + Parameters {
    /// What `forward` keeps for `backward` over a batch of `B` samples,
    /// beyond the input and output: dropout's masks, a convolution's
    /// zero-padded inputs (its backward reads the input from there, not
    /// from `x`), a fused layer's intermediate results; `()` for the
    /// others. A caller of a single layer's `backward` passes the output
    /// `y` and the cache that the `forward` of the same input filled;
    /// `Conv2d` given another cache gives the gradients of the input it
    /// holds, on every backend alike, and a `ConvReluPool` given a fresh
    /// one panics. `backward` may use the cache as scratch, but leaves
    /// what `forward` kept: backward can run again from it.
    type Cache<const B: usize>: Flat;

    /// Forward pass over a batch of `B` samples.
    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        cache: &mut Self::Cache<B>,
        mode: &mut Mode<'_>,
    );

    /// Backward pass from the output gradient `dy`: `dx` (if given) is
    /// overwritten with dL/dx, and the parameter gradients are added into
    /// `grads` or overwritten, as `grad` says.
    #[allow(clippy::too_many_arguments)]
    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &[Tensor<OC, OH, OW>; B],
        cache: &mut Self::Cache<B>,
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        grads: &mut Self,
        grad: Grad,
    );

    /// Moves the state a layer keeps across steps from what a training
    /// forward pass of a batch of `B` left in `cache`: batch norm's running
    /// statistics ([`BatchNorm`](crate::layers::batchnorm::BatchNorm)).
    /// The training steps call it once a step, after the update has been
    /// committed (a refused step moves nothing); after an inference
    /// forward pass it changes nothing. The default does nothing.
    fn update_state<const B: usize>(&mut self, cache: &Self::Cache<B>) {
        let _ = cache;
    }
}

/// How to draw initial weights. Biases start at zero.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// He (Kaiming) normal: `N(0, 2 / fan_in)`, for ReLU networks
    /// (PyTorch `nn.init.kaiming_normal_`).
    He,
    /// Xavier (Glorot) normal: `N(0, 2 / (fan_in + fan_out))`
    /// (PyTorch `nn.init.xavier_normal_`).
    Xavier,
    /// `N(0, std^2)` with the given standard deviation (the seed-1 tutorial
    /// uses `1/K` for the conv filter and `1/L` for the dense layer).
    Normal(f32),
}

impl Init {
    /// The standard deviation for a weight with these fan-in and fan-out.
    pub fn std(self, fan_in: usize, fan_out: usize) -> f32 {
        match self {
            Init::He => crate::math::libm_sqrt(2.0 / fan_in as f32),
            Init::Xavier => crate::math::libm_sqrt(2.0 / (fan_in + fan_out) as f32),
            Init::Normal(s) => s,
        }
    }

    /// Fills `w` with `N(0, std^2)` draws from `rng` (deterministic for a
    /// seeded generator).
    pub fn fill(self, w: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut dyn Rng) {
        let std = self.std(fan_in, fan_out);
        for v in w {
            let z: f32 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, rng);
            *v = z * std;
        }
    }
}

/// One parameter tensor of a layer, as PyTorch's `state_dict` names and
/// shapes it (`weight` is `[OUT_C, IN_C, K, K]` for a conv and
/// `[N_OUT, N_IN]` for a dense layer).
pub struct ParamTensor<'a> {
    /// `"weight"` or `"bias"`.
    pub name: &'static str,
    /// The PyTorch shape.
    pub shape: &'a [usize],
    /// The values, in PyTorch (row-major) order.
    pub data: &'a [f32],
}

/// What [`Parameters::visit_mut`] calls: `f(name, PyTorch shape, values)`.
pub type ParamVisitorMut<'a> = dyn FnMut(&'static str, &[usize], &mut [f32]) + 'a;

/// A layer's learnable parameters (none for activations and pooling), and
/// how a data-parallel trainer computes their gradient (the defaults are
/// right for every layer but a large [`Dense`](crate::Dense)).
pub trait Parameters: Flat {
    /// Draws initial weights (biases to zero). No-op without parameters.
    fn init(&mut self, _init: Init, _rng: &mut dyn Rng) {}

    /// Calls `f` with each parameter tensor, in `state_dict` order.
    fn visit(&self, _f: &mut dyn FnMut(ParamTensor<'_>)) {}

    /// Calls `f(name, shape, values)` with each parameter tensor, mutably, in
    /// the same order as [`Parameters::visit`] (for loading weights).
    fn visit_mut<'a>(&mut self, _f: &'a mut ParamVisitorMut<'a>) {}

    /// How many of the layer's floats are buffers: state saved and loaded
    /// with the weights but not learned (PyTorch's buffers, such as
    /// [`BatchNorm`](crate::layers::batchnorm::BatchNorm)'s running
    /// statistics). Their gradient is zero, so an optimizer leaves them,
    /// and [`Network::num_params`](crate::Network::num_params) does not
    /// count them. 0 by default.
    const BUFFERS: usize = 0;

    /// Calls `f` with each buffer tensor (after the parameters in the
    /// `state_dict`): the tensors of [`BUFFERS`](Parameters::BUFFERS).
    /// None by default.
    fn visit_buffers(&self, _f: &mut dyn FnMut(ParamTensor<'_>)) {}

    /// Calls `f(name, shape, values)` with each buffer tensor, mutably, in
    /// the order of [`visit_buffers`](Parameters::visit_buffers).
    fn visit_buffers_mut<'a>(&mut self, _f: &'a mut ParamVisitorMut<'a>) {}

    /// How many of the parameters, from the first, have a gradient that a
    /// data-parallel trainer shares out between its threads instead of
    /// each thread computing all of it over its own samples (the
    /// [`ParallelTrainer`](crate::parallel::ParallelTrainer),
    /// [`Grad::OverwriteExceptShared`] and
    /// [`shared_grad`](Parameters::shared_grad)). 0, the default, for every
    /// layer but a [`Dense`](crate::Dense) with at least
    /// [`SHARE_MIN`](crate::layers::dense::SHARE_MIN) weights. A layer
    /// that sets it must honour `Grad::OverwriteExceptShared` in its
    /// backward pass and override [`share`](Parameters::share) and
    /// [`shared_grad`](Parameters::shared_grad).
    ///
    /// ```
    /// use constnet::{Dense, Parameters};
    /// assert_eq!(<Dense<1024, 256> as Parameters>::SHARED, 1024 * 256); // 2^18 weights
    /// assert_eq!(<Dense<784, 10> as Parameters>::SHARED, 0);
    /// ```
    const SHARED: usize = 0;

    /// The shared parameters that share `part` of `parts` computes the
    /// gradient of: the shares `0..parts` are ranges in increasing order
    /// that together cover `0..SHARED` (a data-parallel trainer checks it,
    /// and runs them at the same time). The default (for `SHARED == 0`):
    /// none.
    fn share(part: usize, parts: usize) -> core::ops::Range<usize> {
        let _ = (part, parts);
        0..0
    }

    /// Share `part` of `parts` of the shared gradient, **overwritten**,
    /// over the samples of every part: `grads` is the gradient of the
    /// parameters [`share`](Parameters::share) names, and `inputs` yields
    /// each part's layer inputs and output gradients as floats (`x` and
    /// `dy` of its backward pass, the same number of whole samples in every
    /// part), the same parts in the same order for every share. The
    /// default (for `SHARED == 0`) does nothing.
    fn shared_grad<'a>(
        &self,
        inputs: &mut dyn Iterator<Item = (&'a [f32], &'a [f32])>,
        part: usize,
        parts: usize,
        grads: &mut [f32],
    ) {
        let _ = (inputs, part, parts, grads);
    }
}

/// Implements [`Shape`] (output = input), [`Parameters`] (none) and
/// [`Flat`] for a parameterless element-wise layer.
macro_rules! elementwise_layer {
    ($name:ident) => {
        // SAFETY: zero-sized.
        unsafe impl $crate::Flat for $name {}
        impl $crate::Parameters for $name {}
        impl<const C: usize, const H: usize, const W: usize> $crate::Shape<C, H, W> for $name {
            const OUT_C: usize = C;
            const OUT_H: usize = H;
            const OUT_W: usize = W;
        }
    };
}
pub(crate) use elementwise_layer;

/// Asserts at build time that a layer's output buffer has the shape its
/// `Shape` impl gives, naming the layer, its input, the shape expected and
/// the shape received ([`out_shape_message`]).
macro_rules! assert_out_shape {
    ($layer:literal, $OC:ident, $OH:ident, $OW:ident) => {
        const {
            let want = [
                <Self as $crate::Shape<C, H, W>>::OUT_C,
                <Self as $crate::Shape<C, H, W>>::OUT_H,
                <Self as $crate::Shape<C, H, W>>::OUT_W,
            ];
            $crate::layer::out_shape_is($layer, [C, H, W], want, [$OC, $OH, $OW])
        }
    };
}
pub(crate) use assert_out_shape;

/// A build error (in a `const` block) unless a layer's output buffer
/// has the shape `want`, in [`out_shape_message`]'s words: the check of
/// [`assert_out_shape`], and of the residual blocks `network!` writes in
/// other crates.
#[doc(hidden)]
pub const fn out_shape_is(layer: &str, input: [usize; 3], want: [usize; 3], got: [usize; 3]) {
    if want[0] != got[0] || want[1] != got[1] || want[2] != got[2] {
        let msg = out_shape_message(layer, input, want, got);
        panic!("{}", msg.as_str());
    }
}

/// A message written at compile time: `const` code cannot format numbers
/// with `{}`, but it can write their digits into a buffer and panic with
/// the `&str` they make.
pub(crate) struct ConstMessage {
    buf: [u8; 320],
    len: usize,
}

impl ConstMessage {
    pub(crate) const fn new() -> Self {
        ConstMessage { buf: [0; 320], len: 0 }
    }

    /// Appends `s` (cut at the buffer's end).
    pub(crate) const fn text(mut self, s: &str) -> Self {
        let s = s.as_bytes();
        let mut i = 0;
        while i < s.len() && self.len < self.buf.len() {
            self.buf[self.len] = s[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    /// Appends `n` in decimal.
    pub(crate) const fn number(self, mut n: usize) -> Self {
        let (mut digits, mut k) = ([0u8; 20], 20);
        loop {
            k -= 1;
            digits[k] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        match core::str::from_utf8(digits.split_at(k).1) {
            Ok(s) => self.text(s),
            Err(_) => self,
        }
    }

    /// Appends `c x h x w`.
    pub(crate) const fn shape(self, [c, h, w]: [usize; 3]) -> Self {
        self.number(c).text(" x ").number(h).text(" x ").number(w)
    }

    /// The message (ASCII, so whole characters even when cut).
    pub(crate) const fn as_str(&self) -> &str {
        match core::str::from_utf8(self.buf.split_at(self.len).0) {
            Ok(s) => s,
            Err(_) => "the message is not UTF-8",
        }
    }
}

/// [`assert_out_shape`]'s message: `Conv2d on a 1 x 5 x 5 input: the
/// output buffer must be 1 x 3 x 3 (the layer's Shape formula), not 1 x 4 x 4`.
pub(crate) const fn out_shape_message(
    layer: &str,
    input: [usize; 3],
    want: [usize; 3],
    got: [usize; 3],
) -> ConstMessage {
    ConstMessage::new()
        .text(layer)
        .text(" on a ")
        .shape(input)
        .text(" input: the output buffer must be ")
        .shape(want)
        .text(" (the layer's Shape formula), not ")
        .shape(got)
}

/// [`Parameters::visit`] of a layer with a `weight` of `shape` and, if
/// `bias` is given, a `bias` of one value per output (`shape[0]`):
/// PyTorch's names, the bias left out where the layer has none.
pub(crate) fn visit_weight_bias(
    weight: &[f32],
    shape: &[usize],
    bias: Option<&[f32]>,
    f: &mut dyn FnMut(ParamTensor<'_>),
) {
    f(ParamTensor { name: "weight", shape, data: weight });
    if let Some(bias) = bias {
        f(ParamTensor { name: "bias", shape: &shape[..1], data: bias });
    }
}

/// [`Parameters::visit_mut`]'s form of [`visit_weight_bias`].
pub(crate) fn visit_weight_bias_mut(
    weight: &mut [f32],
    shape: &[usize],
    bias: Option<&mut [f32]>,
    f: &mut ParamVisitorMut<'_>,
) {
    f("weight", shape, weight);
    if let Some(bias) = bias {
        f("bias", &shape[..1], bias);
    }
}

/// Applies `f(x, y)` element-wise over a batch: the forward pass of an
/// element-wise activation writes `y = f(x)`; its backward pass writes
/// `dx = f'(x, y) * dy` through the same walk.
#[inline]
pub(crate) fn zip_map<const N: usize, T: Flat, U: Flat>(
    out: &mut [U; N],
    a: &[T; N],
    b: &[T; N],
    f: impl Fn(f32, f32) -> f32,
) {
    for ((o, a), b) in out.as_flat_mut().iter_mut().zip(a.as_flat()).zip(b.as_flat()) {
        *o = f(*a, *b);
    }
}

#[cfg(test)]
mod tests {
    use super::out_shape_message;

    #[test]
    fn the_out_shape_message_names_the_input_the_shape_expected_and_the_one_received() {
        let msg = out_shape_message("Conv2d", [1, 28, 28], [8, 26, 26], [8, 27, 26]);
        assert_eq!(
            msg.as_str(),
            "Conv2d on a 1 x 28 x 28 input: the output buffer must be 8 x 26 x 26 (the layer's Shape formula), not 8 x 27 x 26"
        );
        // Zero and the largest numbers; a message longer than the buffer is cut.
        let msg = out_shape_message("L", [0, 10, usize::MAX], [1, 1, 1], [0, 0, 0]);
        assert!(msg.as_str().starts_with("L on a 0 x 10 x 18446744073709551615 input"), "{}", msg.as_str());
        let x = [b'x'; 400];
        let long = out_shape_message(core::str::from_utf8(&x).unwrap(), [1, 1, 1], [1, 1, 1], [1, 1, 1]);
        assert_eq!(long.as_str().as_bytes(), &x[..320]);
    }
}
