//! Networks: an input shape and an ordered list of named layers, declared
//! once with [`network!`](crate::network!); the compiler infers every intermediate shape.

use crate::Flat;
use crate::layer::{Grad, Init, Mode, ParamTensor};
use rand::Rng;

/// One layer of a network: its name, where its parameters sit in the flat
/// view of the parameter struct (in `f32`s, for optimizers and freezing),
/// what was declared and its output shape ([`Summary`](crate::Summary)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's field name, e.g. `"conv"`.
    pub name: &'static str,
    /// Offset of its first parameter in [`Flat::as_flat`] of the network.
    pub offset: usize,
    /// Number of parameters (0 for activations and pooling): the floats of
    /// its parameter struct, a `BIAS = false` layer's zero bias slot
    /// included.
    pub len: usize,
    /// What was declared, e.g. `"Conv2d<1, 32, 5, 2, 1>"`; a convolution
    /// folded with the ReLU (and max-pool) after it names them too.
    pub kind: &'static str,
    /// Output shape of one sample, `[C, H, W]`.
    pub out: [usize; 3],
}

/// What [`Network::visit_mut`] calls: `f(layer, name, PyTorch shape, values)`.
pub type NetworkVisitorMut<'a> = dyn FnMut(&'static str, &'static str, &[usize], &mut [f32]) + 'a;

/// Part `k`'s inputs, workspace and `delta` for
/// [`DataParallel::shared_grads`].
pub type Parts<'a, P, const B: usize> = dyn Fn(usize) -> (&'a [<P as Network>::Input; B], &'a <P as Network>::Workspace<B>, &'a <P as Network>::Activations<B>)
    + 'a;

/// Where a network's backward pass starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackFrom {
    /// From dL/dOutput, in `delta`'s last entry ([`Network::output_grad`]).
    Output,
    /// From dL/dLogits, in `delta`'s second-to-last entry
    /// ([`Network::logits_grad`]): the gradient of a fused loss such as
    /// [`bce_with_logits`](crate::loss::bce_with_logits). The last layer is
    /// skipped; its parameter gradients (if it has any) are zeroed unless
    /// [`Grad::Add`].
    Logits,
}

/// A network written by [`network!`](crate::network!): the parameter struct implements it.
///
/// The gradients of a network have exactly the shape of its parameters, so
/// the gradient struct *is* the parameter struct (`Grads = Params`), and so
/// is an optimizer's per-parameter state.
pub trait Network: Flat {
    /// One input sample, e.g. `Tensor<1, 28, 28>`.
    type Input: Flat;
    /// One output sample (the last layer's output).
    type Output: Flat;
    /// The input of the last layer (logits, when it is a sigmoid or softmax).
    type Logits: Flat;
    /// Every layer's output for a batch of `B` (also used for their gradients).
    type Activations<const B: usize>: Flat;
    /// What the forward pass writes: activations and layer caches.
    type Workspace<const B: usize>: Flat;
    /// The layers in order, with where their parameters sit.
    const LAYERS: &'static [LayerInfo];

    /// Forward pass of a batch: fills `ws` with every layer's output and
    /// cache, what [`backward`](Network::backward) reads.
    fn forward<const B: usize>(&self, x: &[Self::Input; B], ws: &mut Self::Workspace<B>, mode: &mut Mode<'_>);

    /// The forward pass for inference with no backward pass after it
    /// ([`Mode::Predict`]): what [`predict`](Network::predict) and
    /// [`evaluate`](crate::train::evaluate) run. The outputs have the bits
    /// of `forward` in [`Mode::Infer`].
    fn infer<const B: usize>(&self, x: &[Self::Input; B], ws: &mut Self::Workspace<B>) {
        self.forward(x, ws, &mut Mode::Predict);
    }

    /// Backward pass of a batch after [`forward`](Network::forward) into
    /// `ws`, from the gradient `from` says (set by the caller in `delta`):
    /// fills the other entries of `delta` with the gradients of the layers'
    /// outputs, and adds or overwrites every parameter gradient in `grads`,
    /// as `grad` says ([`Grad::Overwrite`]: `grads` need not be zeroed
    /// first). The layers may use their caches in `ws` as scratch.
    ///
    /// ```
    /// use constnet::{zoo::fashion10, BackFrom, Flat, Grad, Init, Mode, Network, Tensor};
    /// use rand::SeedableRng;
    /// let mut net = fashion10::Params::boxed_zeroed();
    /// net.init(Init::He, &mut rand::rngs::SmallRng::seed_from_u64(1));
    /// let x = [Tensor::<1, 28, 28>::from_fn(|_, i, j| (i as f32 - j as f32) / 28.0); 2];
    /// let mut ws = fashion10::Workspace::<2>::boxed_zeroed();
    /// let mut delta = fashion10::Activations::<2>::boxed_zeroed();
    /// net.forward(&x, &mut ws, &mut Mode::Infer);
    /// fashion10::Params::logits_grad(&mut delta)[0].as_flat_mut()[3] = 1.0; // dL/dlogit 3 of sample 0
    /// let (mut set, mut added) = (fashion10::Params::boxed_zeroed(), fashion10::Params::boxed_zeroed());
    /// set.as_flat_mut().fill(f32::NAN); // overwritten, never read
    /// net.backward(&x, &mut ws, &mut delta, &mut set, BackFrom::Logits, Grad::Overwrite);
    /// net.backward(&x, &mut ws, &mut delta, &mut added, BackFrom::Logits, Grad::Add);
    /// assert!(set.as_flat() == added.as_flat() && set.as_flat().iter().any(|&v| v != 0.0));
    /// ```
    fn backward<const B: usize>(
        &self,
        x: &[Self::Input; B],
        ws: &mut Self::Workspace<B>,
        delta: &mut Self::Activations<B>,
        grads: &mut Self,
        from: BackFrom,
        grad: Grad,
    );

    /// The network's outputs in a workspace after `forward`.
    fn output<const B: usize>(ws: &Self::Workspace<B>) -> &[Self::Output; B];
    /// The last layer's inputs (logits) in a workspace after `forward`.
    fn logits<const B: usize>(ws: &Self::Workspace<B>) -> &[Self::Logits; B];
    /// Where `backward` from [`BackFrom::Output`] reads dL/dOutput.
    fn output_grad<const B: usize>(delta: &mut Self::Activations<B>) -> &mut [Self::Output; B];
    /// Where `backward` from [`BackFrom::Logits`] reads dL/dLogits.
    fn logits_grad<const B: usize>(delta: &mut Self::Activations<B>) -> &mut [Self::Logits; B];

    /// Initialises every layer's weights with `init` (biases to zero).
    fn init(&mut self, init: Init, rng: &mut dyn Rng);

    /// Calls `f(layer, tensor)` for every parameter tensor, in order:
    /// `("conv", weight)`, `("conv", bias)`, `("dense", weight)`, …
    fn visit(&self, f: &mut dyn FnMut(&'static str, ParamTensor<'_>));

    /// Calls `f(layer, name, shape, values)` for every parameter tensor,
    /// mutably, in the order of [`Network::visit`].
    fn visit_mut<'a>(&mut self, f: &'a mut NetworkVisitorMut<'a>);

    /// The layer named `name`, if there is one.
    fn layer(name: &str) -> Option<(usize, &'static LayerInfo)> {
        Self::LAYERS.iter().enumerate().find(|(_, l)| l.name == name)
    }

    /// Inference on one sample, without allocation: runs
    /// [`infer`](Network::infer) and returns the output.
    fn predict<'w>(&self, x: &Self::Input, ws: &'w mut Self::Workspace<1>) -> &'w Self::Output {
        self.infer(core::array::from_ref(x), ws);
        &Self::output(ws)[0]
    }

    /// The predicted class of one sample: the index of the largest output,
    /// or for a single output (a sigmoid), `1` when it is at least `0.5`.
    fn classify(&self, x: &Self::Input, ws: &mut Self::Workspace<1>) -> usize {
        class_of(self.predict(x, ws).as_flat())
    }

    /// Number of learnable parameters (the tensors [`Network::visit`] names
    /// but its buffers; the unused bias storage of a `BIAS = false` layer
    /// is not counted).
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.visit(&mut |_, t| n += t.data.len());
        n - Self::BUFFERS
    }

    /// Floats of state that is saved but not learned: the layers'
    /// [`Parameters::BUFFERS`](crate::Parameters::BUFFERS), such as batch
    /// norm's running statistics.
    const BUFFERS: usize = 0;

    /// Moves every layer's state kept across steps (batch norm's running
    /// statistics) from a training forward pass into `ws`
    /// ([`Layer::update_state`](crate::Layer::update_state)): what the
    /// training steps call after a committed update. Nothing after an
    /// inference pass.
    fn update_state<const B: usize>(&mut self, ws: &Self::Workspace<B>) {
        let _ = ws;
    }
}

/// How a network's parameter gradients split between the threads of a
/// data-parallel trainer (the [`ParallelTrainer`](crate::parallel::ParallelTrainer)):
/// [`network!`](crate::network!) implements it beside [`Network`], from
/// its layers' [`Parameters::SHARED`](crate::Parameters::SHARED).
pub trait DataParallel: Network {
    /// Whether a layer shares out the gradient of some parameters between
    /// the threads of a data-parallel trainer ([`Parameters::SHARED`](crate::Parameters::SHARED)):
    /// the [`ParallelTrainer`](crate::parallel::ParallelTrainer) then runs
    /// [`backward`](Network::backward) with [`Grad::OverwriteExceptShared`]
    /// on each thread's samples and [`shared_grads`](DataParallel::shared_grads)
    /// over all of them. `false` by default.
    const SHARES: bool = false;

    /// Share `part` of `parts` of every layer's shared gradient
    /// ([`Parameters::shared_grad`](crate::Parameters::shared_grad)), **overwritten**,
    /// over the samples of all parts: `input(k)` is part `k`'s inputs, and
    /// its workspace and `delta` after [`forward`](Network::forward) and
    /// [`backward`](Network::backward) with [`Grad::OverwriteExceptShared`].
    /// The shares `0..parts` together write every shared entry once. With
    /// the other entries from those backward passes, summed over the
    /// parts, that is the gradient the whole batch's backward pass sums
    /// (up to the order of float additions). The default does nothing.
    ///
    /// # Safety
    /// `grads` points to a whole gradient (`Self`'s floats, as
    /// [`Flat::as_flat`] lays them out); the call writes only its share of
    /// the shared entries, so calls with other shares may run at the same
    /// time, and nothing else may access those entries meanwhile.
    ///
    /// ```
    /// use constnet::{network, BackFrom, DataParallel, Dense, Flat, Grad, Init, Mode, Network, Relu, Softmax, Tensor};
    /// use rand::SeedableRng;
    /// network! { mod wide { input: Tensor<1024, 1, 1>, big: Dense<1024, 256>, relu: Relu, small: Dense<256, 4>, out: Softmax } }
    /// # fn main() {
    /// let mut net = wide::Params::boxed_zeroed();
    /// net.init(Init::He, &mut rand::rngs::SmallRng::seed_from_u64(1));
    /// let mut ranges = Vec::new();
    /// wide::Params::shared_params(&mut |r| ranges.push(r));
    /// assert!(<wide::Params as DataParallel>::SHARES && ranges == [0..1024 * 256]); // the big layer's weights
    /// // Two parts of two samples: each part's passes without the shared
    /// // gradient, then both shares over both parts into part 0's gradient.
    /// let x = [[Tensor::splat(0.1), Tensor::splat(-0.2)], [Tensor::splat(0.3), Tensor::splat(0.05)]];
    /// let (mut ws, mut delta) = ([(); 2].map(|_| wide::Workspace::<2>::boxed_zeroed()), [(); 2].map(|_| wide::Activations::<2>::boxed_zeroed()));
    /// let (mut g, mut whole) = ([(); 2].map(|_| wide::Params::boxed_zeroed()), [(); 2].map(|_| wide::Params::boxed_zeroed()));
    /// for k in 0..2 {
    ///     net.forward(&x[k], &mut ws[k], &mut Mode::Infer);
    ///     wide::Params::logits_grad(&mut delta[k])[0].as_flat_mut()[1] = 1.0;
    ///     net.backward(&x[k], &mut ws[k], &mut delta[k], &mut g[k], BackFrom::Logits, Grad::OverwriteExceptShared);
    ///     net.backward(&x[k], &mut ws[k], &mut delta[k], &mut whole[k], BackFrom::Logits, Grad::Overwrite);
    /// }
    /// let input = |k: usize| (&x[k], &*ws[k], &*delta[k]);
    /// for part in 0..2 {
    ///     // SAFETY: g[0] is a whole gradient; one share at a time.
    ///     unsafe { net.shared_grads(&input, part, 2, g[0].as_flat_mut().as_mut_ptr()) };
    /// }
    /// // The shared weights' gradient is the two parts' sum.
    /// let sum = whole[0].big.weight.as_flat().iter().zip(whole[1].big.weight.as_flat()).map(|(a, b)| a + b);
    /// assert!(g[0].big.weight.as_flat().iter().zip(sum).all(|(s, w)| (s - w).abs() < 1e-6));
    /// assert!(g[0].big.weight.as_flat().iter().any(|&v| v != 0.0));
    /// # }
    /// ```
    unsafe fn shared_grads<'a, const B: usize>(
        &self,
        input: &Parts<'a, Self, B>,
        part: usize,
        parts: usize,
        grads: *mut f32,
    ) {
        let _ = (input, part, parts, grads);
    }

    /// Calls `f` with the range of every layer's shared parameters in
    /// [`Flat::as_flat`], in increasing order. The default calls it with none.
    fn shared_params(f: &mut dyn FnMut(core::ops::Range<usize>)) {
        let _ = f;
    }
}

/// Share `part` of `parts` of layer `L`'s shared gradient in the whole
/// gradient `grads`, where `L`'s parameters start `offset` floats in: the
/// entries [`Parameters::share`](crate::Parameters::share) names, checked
/// to follow the shares before it without a gap or an overlap and to end
/// at [`SHARED`](crate::Parameters::SHARED). [`DataParallel::shared_grads`]
/// gives each layer its share through it.
///
/// # Safety
/// `grads` points to a whole gradient in which `L`'s parameters start at
/// `offset`, and nothing else accesses this share's entries meanwhile
/// (calls for the other parts of the same `parts` may run: their shares
/// are disjoint, as checked here).
#[doc(hidden)]
pub unsafe fn share_of<'g, L: crate::Parameters>(
    grads: *mut f32,
    offset: usize,
    part: usize,
    parts: usize,
) -> &'g mut [f32] {
    assert!(part < parts, "share {part} of {parts}");
    let mut end = 0;
    for p in 0..parts {
        let r = L::share(p, parts);
        assert!(
            r.start == end && r.start <= r.end,
            "Parameters::share: share {p} of {parts} does not follow the one before it"
        );
        end = r.end;
    }
    assert!(end == L::SHARED, "Parameters::share: the shares end at {end}, not at SHARED = {}", L::SHARED);
    let r = L::share(part, parts);
    // SAFETY: the caller's contract; the range lies within the layer's
    // shared parameters, disjoint from the other parts' shares.
    unsafe { core::slice::from_raw_parts_mut(grads.add(offset + r.start), r.len()) }
}

/// The layers [`network!`](crate::network!) fuses when they are written by
/// these names: a declaration's `Conv2d`, `Relu` and `MaxPool2d<2>` must be
/// constnet's (the macro checks it with [`folded_by_name`]).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`network!` runs a `Conv2d`, `Relu` (and `MaxPool2d<2>`) written by those names as one fused layer, and this `{Self}` is not constnet's",
    label = "not constnet's layer of this name",
    note = "write your own type with a path (`self::{Self}`, `my::{Self}`) to keep the layers apart"
)]
pub trait FoldedByName {}
impl FoldedByName for crate::Relu {}
impl FoldedByName for crate::MaxPool2d<2> {}
impl<const IN_C: usize, const OUT_C: usize, const K: usize, const PAD: usize, const STRIDE: usize, const BIAS: bool>
    FoldedByName for crate::Conv2d<IN_C, OUT_C, K, PAD, STRIDE, BIAS>
{
}

/// A build error, naming `T`, unless `T` is one of the layers that
/// [`network!`](crate::network!) folds by name ([`FoldedByName`]).
#[doc(hidden)]
pub const fn folded_by_name<T: FoldedByName>() {}

/// The class an output vector stands for: argmax (first on ties), or for a
/// single probability, `p >= 0.5`.
pub fn class_of(out: &[f32]) -> usize {
    if out.len() == 1 {
        return (out[0] >= 0.5) as usize;
    }
    crate::math::argmax(out)
}

/// Declares a network: an input shape and an ordered list of named layers.
///
/// `network! { pub mod NAME { input: Tensor<C, H, W>, layer: Type, … } }`
/// writes a module `NAME` holding:
///
/// - `Params`: a `#[repr(C)]` struct with one public field per layer, which
///   implements [`Network`], [`DataParallel`] and
///   [`LastLayerFits`](crate::train::LastLayerFits) (what the losses check
///   of the last layer); `Grads` is the same type;
/// - `Activations<B>`: one `[Tensor; B]` field per layer output (also the
///   gradients with respect to them in the backward pass);
/// - `Caches<B>` and `Workspace<B>` (`act` + `cache`), what `forward` fills;
/// - a module per layer with its `In` and `Out` tensor types and its type
///   `Ty`, computed by the compiler from [`Shape`](crate::Shape): no size
///   is written twice.
///
/// **Fused layers.** A `Conv2d<…>` followed by `Relu` and `MaxPool2d<2>`,
/// written with those names and with a layer after them, is one layer: a
/// [`ConvReluPool`](crate::ConvReluPool) under the convolution's name, so
/// `conv1: Conv2d<1, 8, 3, 1, 1>, relu1: Relu, pool1: MaxPool2d<2>` has the
/// parameters `conv1.weight` and `conv1.bias`, and the fields `conv1` of
/// `Params`, `Activations` (the pooled outputs) and `Caches`; `relu1` and
/// `pool1` name no field. A `Conv2d<…>` followed by `Relu` alone is a
/// [`ConvRelu`](crate::ConvRelu) alike. They give the bits of the layers
/// run one after the other, with less memory traffic. Written any other way
/// (`constnet::Relu`, a type alias) the layers stay apart; a `Relu` (or
/// `Conv2d`, `MaxPool2d`) of another crate written by that name is a build
/// error that says to write its path. The fold and the build each recurse
/// once a layer: with the default recursion limit a network builds with up
/// to 59 layers (measured with ReLUs; 120 did before the fold), and a
/// deeper one needs `#![recursion_limit = "256"]` in its crate (120 layers
/// then build).
///
/// **Residual blocks.** `name = "torch.name": residual { layer: Type, … }`
/// is one layer whose output is the body's output plus the block's input;
/// with `downsample [Conv2d<…>, BatchNorm2d<…>]` (one or two layers) the
/// input goes through that projection first. The module `name` holds the
/// block's type `Block` (the body's fields, then `downsample_0` and
/// `downsample_1`) and its inner layers' shapes; the tensors are named as
/// PyTorch's nested modules (`layer2.0.conv1.weight`,
/// `layer2.0.downsample.0.weight`), and `name =` may be left out (the
/// field's name is then the block's). The body's and the shortcut's output
/// shapes must be equal, or the build fails naming the block and both
/// shapes ([`layers::residual`](crate::layers::residual)). Inside a block
/// nothing is fused.
///
/// ```
/// use constnet::{network, BatchNorm2d, Conv2d, Dense, Flat, GlobalAvgPool2d, Network, Relu, Softmax, Tensor};
/// network! {
///     mod tiny {
///         input: Tensor<8, 8, 8>,
///         layer1_0 = "layer1.0": residual {
///             conv1: Conv2d<8, 16, 3, 1, 2, false>,
///             bn1: BatchNorm2d<16>,
///             relu: Relu,
///             conv2: Conv2d<16, 16, 3, 1, 1, false>,
///             bn2: BatchNorm2d<16>,
///         } downsample [Conv2d<8, 16, 1, 0, 2, false>, BatchNorm2d<16>],
///         relu1: Relu,
///         pool: GlobalAvgPool2d,
///         fc: Dense<16, 10>,
///         out: Softmax,
///     }
/// }
/// # fn main() {
/// let net = tiny::Params::boxed_zeroed();
/// let mut names = Vec::new();
/// net.visit(&mut |layer, t| names.push(format!("{layer}.{}", t.name)));
/// assert_eq!(names[0], "layer1.0.conv1.weight");
/// assert!(names.contains(&"layer1.0.downsample.1.running_var".to_string()));
/// assert_eq!(<tiny::layer1_0::Out>::LEN, 16 * 4 * 4);
/// # }
/// ```
///
/// The layer list needs at least two layers: the last layer's input (the
/// logits) is an entry of the workspace, which holds layer outputs, not the
/// network's input; a shorter list is a build error that says so. Each
/// type must be a layer for the shape it receives
/// ([`Layer`](crate::Layer)'s docs give the contract); another type is one
/// error that names it. Invoke the macro at module
/// level (not inside a function body): the written module reaches the layer
/// types through `use super::*`, so they are resolved in the module that
/// invokes the macro.
///
/// ```
/// use constnet::{network, Conv2d, ConvRelu, Dense, Flat, Network, Relu, Sigmoid, Tensor};
///
/// network! {
///     /// The seed-1 network: one 3x3 filter ('same'), ReLU, dense to one output, sigmoid.
///     pub mod seed1 {
///         input: Tensor<1, 28, 28>,
///         conv: Conv2d<1, 1, 3, 1, 1, false>,
///         relu: Relu,
///         dense: Dense<784, 1, false>,
///         sigmoid: Sigmoid,
///     }
/// }
///
/// # fn main() {
/// let net = seed1::Params::zeroed();
/// let mut ws = seed1::Workspace::<1>::zeroed();
/// let p = net.predict(&Tensor::zeroed(), &mut ws);
/// assert_eq!(p.0[0][0][0], 0.5);
/// assert_eq!(net.num_params(), 9 + 784);
/// // The convolution and its ReLU are one layer, under the convolution's name.
/// let _: &ConvRelu<Conv2d<1, 1, 3, 1, 1, false>, 28, 28> = &net.conv;
/// let names: Vec<_> = seed1::Params::LAYERS.iter().map(|l| l.name).collect();
/// assert_eq!(names, ["conv", "dense", "sigmoid"]);
/// # }
/// ```
///
/// A list whose shapes don't fit does not build, and the message names the
/// rule and the sizes (`evaluation of <Dense<676, 1, false> as Shape<1, 28, 28>>::OUT_C failed:
/// Dense: N_IN must equal C*H*W, the size of its flattened input`):
///
/// ```compile_fail
/// use constnet::{network, Conv2d, Dense, Relu, Sigmoid, Tensor};
/// network! {
///     pub mod seed1 {
///         input: Tensor<1, 28, 28>,
///         conv: Conv2d<1, 1, 3, 1, 1, false>,
///         relu: Relu,
///         dense: Dense<676, 1, false>, // a 'valid' conv would give 26*26 = 676; this one is 'same'
///         sigmoid: Sigmoid,
///     }
/// }
/// ```
#[macro_export]
macro_rules! network {
    // The layer list, folded: each layer is `name (what)`, with `what` one
    // of `layer: Type`, `relu relu_name: Conv2d<..>` (a `ConvRelu`) and
    // `pool relu_name pool_name: Conv2d<..>` (a `ConvReluPool`).
    (@fold $head:tt [$($done:tt)*]; $a:ident = $pname:literal : residual { $($body:tt)* } $(downsample [$($ds:tt)*])? $(, $($rest:tt)*)?) => {
        $crate::network!(@fold $head [$($done)* $a (block ($pname) [$($body)*] [$($($ds)*)?])]; $($($rest)*)?);
    };
    (@fold $head:tt [$($done:tt)*]; $a:ident : residual { $($body:tt)* } $(downsample [$($ds:tt)*])? $(, $($rest:tt)*)?) => {
        $crate::network!(@fold $head [$($done)* $a (block (stringify!($a)) [$($body)*] [$($($ds)*)?])]; $($($rest)*)?);
    };
    (@fold $head:tt [$($done:tt)*]; $a:ident : Conv2d<$($g:tt),+>, $r:ident : Relu, $p:ident : MaxPool2d<2>, $($rest:tt)+) => {
        $crate::network!(@fold $head [$($done)* $a (pool $r $p: Conv2d<$($g),+>)]; $($rest)+);
    };
    (@fold $head:tt [$($done:tt)*]; $a:ident : Conv2d<$($g:tt),+>, $r:ident : Relu, $($rest:tt)+) => {
        $crate::network!(@fold $head [$($done)* $a (relu $r: Conv2d<$($g),+>)]; $($rest)+);
    };
    (@fold $head:tt [$($done:tt)*]; $a:ident : $t:ty $(, $($rest:tt)*)?) => {
        $crate::network!(@fold $head [$($done)* $a (layer: $t)]; $($($rest)*)?);
    };
    (@fold $head:tt [$($done:tt)*];) => {
        $crate::network!(@build $head $($done)*);
    };

    (@build ($(#[$meta:meta])* $vis:vis mod $name:ident { input: $input:ty })
        $first:ident $first_what:tt $($layer:ident $what:tt)+
    ) => {
        $(#[$meta])*
        #[allow(unused_imports, dead_code, non_camel_case_types)]
        $vis mod $name {
            use super::*;
            use $crate::{Flat as _, Layer as _, Parameters as _};

            /// One input sample.
            pub type Input = $input;
            /// The input of the network, seen as the output of "layer 0".
            pub mod input {
                /// The input tensor type.
                pub type Out = super::Input;
            }
            $crate::network!(@shapes input; $first $first_what $($layer $what)+);

            /// The parameters: one field per layer, in order. Gradients and
            /// optimizer state have this same type.
            #[repr(C)]
            #[derive(Clone, Debug, PartialEq)]
            pub struct Params {
                #[doc = $crate::network!(@doc $first_what)]
                pub $first: $first::Ty,
                $(#[doc = $crate::network!(@doc $what)] pub $layer: $layer::Ty,)+
            }
            /// The gradients of the parameters: the same struct.
            pub type Grads = Params;
            // SAFETY: repr(C) struct whose fields are all Flat (f32 arrays or ZSTs).
            unsafe impl $crate::Flat for Params {}

            /// Every layer's output for a batch of `B` samples.
            #[repr(C)]
            pub struct Activations<const B: usize> {
                #[doc = concat!("Output of `", stringify!($first), "`.")]
                pub $first: [$first::Out; B],
                $(#[doc = concat!("Output of `", stringify!($layer), "`.")] pub $layer: [$layer::Out; B],)+
            }
            // SAFETY: repr(C) struct of arrays of tensors.
            unsafe impl<const B: usize> $crate::Flat for Activations<B> {}

            /// What each layer keeps from forward for backward.
            #[repr(C)]
            pub struct Caches<const B: usize> {
                #[doc = concat!("Cache of `", stringify!($first), "`.")]
                pub $first: $first::Cache<B>,
                $(#[doc = concat!("Cache of `", stringify!($layer), "`.")] pub $layer: $layer::Cache<B>,)+
            }
            // SAFETY: repr(C) struct of Flat caches.
            unsafe impl<const B: usize> $crate::Flat for Caches<B> {}

            /// What the forward pass writes: activations and caches.
            #[repr(C)]
            pub struct Workspace<const B: usize> {
                /// Every layer's output.
                pub act: Activations<B>,
                /// Every layer's cache.
                pub cache: Caches<B>,
            }
            // SAFETY: repr(C) struct of two Flat structs.
            unsafe impl<const B: usize> $crate::Flat for Workspace<B> {}

            /// The network's output for one sample.
            pub type Output = $crate::network!(@last_out $first $(, $layer)+);
            /// The last layer's input for one sample.
            pub type Logits = $crate::network!(@logits_out $first $(, $layer)+);

            impl $crate::Network for Params {
                type Input = Input;
                type Output = Output;
                type Logits = Logits;
                type Activations<const B: usize> = Activations<B>;
                type Workspace<const B: usize> = Workspace<B>;
                const LAYERS: &'static [$crate::LayerInfo] = &[
                    $crate::LayerInfo {
                        name: $crate::network!(@name $first $first_what),
                        offset: ::core::mem::offset_of!(Params, $first) / 4,
                        len: ::core::mem::size_of::<$first::Ty>() / 4,
                        kind: $crate::network!(@kind $first_what),
                        out: [$first::Out::C, $first::Out::H, $first::Out::W],
                    },
                    $($crate::LayerInfo {
                        name: $crate::network!(@name $layer $what),
                        offset: ::core::mem::offset_of!(Params, $layer) / 4,
                        len: ::core::mem::size_of::<$layer::Ty>() / 4,
                        kind: $crate::network!(@kind $what),
                        out: [$layer::Out::C, $layer::Out::H, $layer::Out::W],
                    },)+
                ];

                fn forward<const B: usize>(&self, x: &[Input; B], ws: &mut Workspace<B>, mode: &mut $crate::Mode<'_>) {
                    let Workspace { act, cache } = ws;
                    self.$first.forward(x, &mut act.$first, &mut cache.$first, mode);
                    $crate::network!(@forward self, act, cache, mode; $first $(, $layer)+);
                }

                fn backward<const B: usize>(
                    &self,
                    x: &[Input; B],
                    ws: &mut Workspace<B>,
                    delta: &mut Activations<B>,
                    grads: &mut Params,
                    from: $crate::BackFrom,
                    grad: $crate::Grad,
                ) {
                    let Workspace { act, cache } = ws;
                    $crate::network!(@backward (self, act, cache, delta, grads, grad), from; $first $(, $layer)+);
                    self.$first.backward(x, &act.$first, &mut cache.$first, &delta.$first, None, &mut grads.$first, grad);
                }

                fn output<const B: usize>(ws: &Workspace<B>) -> &[Output; B] {
                    $crate::network!(@last (&ws.act); $first $(, $layer)+)
                }
                fn logits<const B: usize>(ws: &Workspace<B>) -> &[Logits; B] {
                    $crate::network!(@second_last (&ws.act); $first $(, $layer)+)
                }
                fn output_grad<const B: usize>(delta: &mut Activations<B>) -> &mut [Output; B] {
                    $crate::network!(@last (&mut delta); $first $(, $layer)+)
                }
                fn logits_grad<const B: usize>(delta: &mut Activations<B>) -> &mut [Logits; B] {
                    $crate::network!(@second_last (&mut delta); $first $(, $layer)+)
                }

                fn init(&mut self, init: $crate::Init, rng: &mut dyn $crate::rand::Rng) {
                    self.$first.init(init, rng);
                    $(self.$layer.init(init, rng);)+
                }

                fn visit(&self, f: &mut dyn FnMut(&'static str, $crate::ParamTensor<'_>)) {
                    $crate::network!(@visit self, f, $first $first_what);
                    $($crate::network!(@visit self, f, $layer $what);)+
                }

                fn visit_mut<'a>(&mut self, f: &'a mut $crate::NetworkVisitorMut<'a>) {
                    $crate::network!(@visit_mut self, f, $first $first_what);
                    $($crate::network!(@visit_mut self, f, $layer $what);)+
                }

                const BUFFERS: usize =
                    <$first::Ty as $crate::Parameters>::BUFFERS $(+ <$layer::Ty as $crate::Parameters>::BUFFERS)+;

                fn update_state<const B: usize>(&mut self, ws: &Workspace<B>) {
                    <$first::Ty as $crate::Layer<{ $first::In::C }, { $first::In::H }, { $first::In::W }>>::update_state::<B>(
                        &mut self.$first,
                        &ws.cache.$first,
                    );
                    $(
                        <$layer::Ty as $crate::Layer<{ $layer::In::C }, { $layer::In::H }, { $layer::In::W }>>::update_state::<B>(
                            &mut self.$layer,
                            &ws.cache.$layer,
                        );
                    )+
                }
            }

            // Whether the last layer fits a loss is its own trait's
            // question (`train::FitsLoss`), so that a misfit is reported
            // with the loss's message.
            impl<AnyLoss> $crate::train::LastLayerFits<AnyLoss> for Params
            where
                $crate::network!(@last_ty $first $(, $layer)+): $crate::train::FitsLoss<AnyLoss, Output>,
            {
            }

            impl $crate::DataParallel for Params {
                const SHARES: bool =
                    $crate::network!(@shared_len $first) > 0 $(|| $crate::network!(@shared_len $layer) > 0)+;

                unsafe fn shared_grads<'a, const B: usize>(
                    &self,
                    input: &$crate::Parts<'a, Params, B>,
                    part: usize,
                    parts: usize,
                    grads: *mut f32,
                ) {
                    $crate::network!(@share self, input, parts, part, grads, $first; |x, _ws| x);
                    $crate::network!(@shared self, input, parts, part, grads; $first $(, $layer)+);
                }

                fn shared_params(f: &mut dyn FnMut(::core::ops::Range<usize>)) {
                    let shared = [$crate::network!(@shared_len $first) $(, $crate::network!(@shared_len $layer))+];
                    for (layer, len) in <Self as $crate::Network>::LAYERS.iter().zip(shared) {
                        if len > 0 {
                            f(layer.offset..layer.offset + len);
                        }
                    }
                }
            }
        }
    };

    // Fewer than two layers: the logits (`Network::Logits`, the last
    // layer's input) are read from and written to an entry of the
    // workspace and of `delta`, which hold layer outputs only.
    (@build ($(#[$meta:meta])* $vis:vis mod $name:ident { input: $input:ty }) $first:ident $what:tt) => {
        ::core::compile_error!(::core::concat!(
            "network!: `", ::core::stringify!($name), "` has one layer (`", ::core::stringify!($first),
            "`) and a network needs at least two: the last layer's input (the logits, which `logits`, `logits_grad` ",
            "and `BackFrom::Logits` use) must be a layer's output, not the network's input. ",
            "Add the output layer after it, e.g. `out: Sigmoid` or `out: Softmax`."
        ));
    };
    (@build ($(#[$meta:meta])* $vis:vis mod $name:ident { input: $input:ty })) => {
        ::core::compile_error!(::core::concat!(
            "network!: `", ::core::stringify!($name), "` has no layers and a network needs at least two: ",
            "list them after `input`, e.g. `dense: Dense<784, 10>, out: Softmax`."
        ));
    };

    // One module per layer: its input, output, cache and layer types. A
    // fused layer's type names its convolution's output size, computed here.
    // The names a fused layer was written with must be the crate's layers
    // (another `Relu` is a build error that says to write its path).
    (@shapes $prev:ident; $layer:ident (relu $r:ident: $($conv:tt)*) $($rest:tt)*) => {
        const _: () = ($crate::folded_by_name::<$($conv)*>(), $crate::folded_by_name::<Relu>()).0;
        $crate::network!(@shapes $prev; $layer (layer: $crate::ConvRelu<$($conv)*, { $crate::network!(@conv_out OUT_H, $($conv)*) }, { $crate::network!(@conv_out OUT_W, $($conv)*) }>) $($rest)*);
    };
    (@shapes $prev:ident; $layer:ident (pool $r:ident $p:ident: $($conv:tt)*) $($rest:tt)*) => {
        const _: () = ($crate::folded_by_name::<$($conv)*>(), $crate::folded_by_name::<Relu>(), $crate::folded_by_name::<MaxPool2d<2>>()).0;
        $crate::network!(@shapes $prev; $layer (layer: $crate::ConvReluPool<$($conv)*, { $crate::network!(@conv_out OUT_H, $($conv)*) }, { $crate::network!(@conv_out OUT_W, $($conv)*) }>) $($rest)*);
    };
    (@shapes $prev:ident; $layer:ident (block $pname:tt [$($n:ident : $t:ty),+ $(,)?] [$(,)?]) $($rest:tt)*) => {
        $crate::__residual_block!($prev; $layer $pname [$($n: $t),+] []);
        $crate::network!(@shapes $layer; $($rest)*);
    };
    (@shapes $prev:ident; $layer:ident (block $pname:tt [$($n:ident : $t:ty),+ $(,)?] [$d0:ty $(,)?]) $($rest:tt)*) => {
        $crate::__residual_block!($prev; $layer $pname [$($n: $t),+] [downsample_0: $d0]);
        $crate::network!(@shapes $layer; $($rest)*);
    };
    (@shapes $prev:ident; $layer:ident (block $pname:tt [$($n:ident : $t:ty),+ $(,)?] [$d0:ty, $d1:ty $(,)?]) $($rest:tt)*) => {
        $crate::__residual_block!($prev; $layer $pname [$($n: $t),+] [downsample_0: $d0, downsample_1: $d1]);
        $crate::network!(@shapes $layer; $($rest)*);
    };
    (@shapes $prev:ident; $layer:ident (layer: $ty:ty) $($rest:tt)*) => {
        #[doc = concat!("Shapes of layer `", stringify!($layer), "`: `", stringify!($ty), "`.")]
        pub mod $layer {
            use super::*;
            /// Input of this layer (output of the previous one).
            pub type In = super::$prev::Out;
            /// Output of this layer, computed from `In` by its `Shape` formula.
            pub type Out = $crate::Tensor<
                { <Ty as $crate::Shape<{ In::C }, { In::H }, { In::W }>>::OUT_C },
                { <Ty as $crate::Shape<{ In::C }, { In::H }, { In::W }>>::OUT_H },
                { <Ty as $crate::Shape<{ In::C }, { In::H }, { In::W }>>::OUT_W },
            >;
            /// What this layer keeps from forward for backward, for a batch of `B`.
            pub type Cache<const B: usize> = <Ty as $crate::Layer<{ In::C }, { In::H }, { In::W }>>::Cache<B>;
            /// The layer's type (`[T; 1]`'s item is `T`), checked to be a
            /// layer for `In`.
            // The array's length names `<T as Layer<In>>::Cache`, so for a
            // type that is not a layer for this input it is the one error
            // the declaration reports (`Layer`'s `on_unimplemented`
            // message); every use of `Ty` (fields, derives, calls, later
            // layers' shapes) is then an error type, which rustc does not
            // report again (through `$ty` itself each use was an error:
            // 29 for a non-layer among three layers).
            pub type Ty = <[$ty; {
                let _ = ::core::mem::size_of::<<$ty as $crate::Layer<{ In::C }, { In::H }, { In::W }>>::Cache<1>>();
                1
            }] as ::core::iter::IntoIterator>::Item;
        }
        $crate::network!(@shapes $layer; $($rest)*);
    };
    (@shapes $prev:ident;) => {};

    // The output size (`OUT_H` or `OUT_W`) of a convolution on the
    // current layer module's input `In`.
    (@conv_out $axis:ident, $($conv:tt)*) => {
        <$($conv)* as $crate::Shape<{ In::C }, { In::H }, { In::W }>>::$axis
    };

    // A layer's `LayerInfo::name`: its field's, or a block's PyTorch name.
    (@name $layer:ident (block ($($pname:tt)*) $($x:tt)*)) => { concat!($($pname)*) };
    (@name $layer:ident $what:tt) => { stringify!($layer) };

    // Every parameter and buffer tensor of a layer, named by its path.
    (@visit $s:ident, $f:ident, $layer:ident (block $($x:tt)*)) => {
        $s.$layer.visit_named(&mut *$f);
    };
    (@visit $s:ident, $f:ident, $layer:ident $what:tt) => {
        $s.$layer.visit(&mut |t| $f(stringify!($layer), t));
        $s.$layer.visit_buffers(&mut |t| $f(stringify!($layer), t));
    };
    (@visit_mut $s:ident, $f:ident, $layer:ident (block $($x:tt)*)) => {
        $s.$layer.visit_named_mut(&mut |l, n, sh, d| $f(l, n, sh, d));
    };
    (@visit_mut $s:ident, $f:ident, $layer:ident $what:tt) => {
        $s.$layer.visit_mut(&mut |n, sh, d| $f(stringify!($layer), n, sh, d));
        $s.$layer.visit_buffers_mut(&mut |n, sh, d| $f(stringify!($layer), n, sh, d));
    };

    // A layer's `LayerInfo::kind`: the declaration it came from, compact.
    (@kind (block ($($pname:tt)*) [$($body:tt)*] [])) => { "residual" };
    (@kind (block ($($pname:tt)*) [$($body:tt)*] [$($ds:tt)+])) => { "residual + downsample" };
    (@kind (layer: $ty:ty)) => { stringify!($ty) };
    (@kind (relu $r:ident: $($conv:tt)*)) => { concat!(stringify!($($conv)*), " + ", stringify!($r), ": Relu") };
    (@kind (pool $r:ident $p:ident: $($conv:tt)*)) => {
        concat!(stringify!($($conv)*), " + ", stringify!($r), ": Relu + ", stringify!($p), ": MaxPool2d<2>")
    };

    // A `Params` field's doc: the declaration it came from.
    (@doc (block ($($pname:tt)*) $($x:tt)*)) => { concat!("Residual block `", $($pname)*, "`") };
    (@doc (layer: $ty:ty)) => { concat!("`", stringify!($ty), "`") };
    (@doc (relu $r:ident: $($conv:tt)*)) => {
        concat!("`", stringify!($($conv)*), "`, then `", stringify!($r), ": Relu`, as one layer (`ConvRelu`)")
    };
    (@doc (pool $r:ident $p:ident: $($conv:tt)*)) => {
        concat!("`", stringify!($($conv)*), "`, then `", stringify!($r), ": Relu` and `", stringify!($p),
            ": MaxPool2d<2>`, as one layer (`ConvReluPool`)")
    };

    // Forward through the pairs (previous, layer).
    (@forward $s:ident, $a:ident, $c:ident, $m:ident; $prev:ident, $layer:ident $(, $rest:ident)*) => {
        $s.$layer.forward(&$a.$prev, &mut $a.$layer, &mut $c.$layer, $m);
        $crate::network!(@forward $s, $a, $c, $m; $layer $(, $rest)*);
    };
    (@forward $s:ident, $a:ident, $c:ident, $m:ident; $last:ident) => {};

    // Backward through the pairs, last pair first; the last layer only
    // from the output.
    (@backward $e:tt, $from:ident; $prev:ident, $layer:ident, $next:ident $(, $rest:ident)*) => {
        $crate::network!(@backward $e, $from; $layer, $next $(, $rest)*);
        $crate::network!(@step $e; $prev, $layer);
    };
    (@backward ($s:ident, $a:ident, $c:ident, $d:ident, $g:ident, $grad:ident), $from:ident; $prev:ident, $last:ident) => {
        match $from {
            $crate::BackFrom::Output => $crate::network!(@step ($s, $a, $c, $d, $g, $grad); $prev, $last),
            $crate::BackFrom::Logits => $grad.start(&mut $g.$last),
        }
    };
    (@step ($s:ident, $a:ident, $c:ident, $d:ident, $g:ident, $grad:ident); $prev:ident, $layer:ident) => {
        $s.$layer.backward(&$a.$prev, &$a.$layer, &mut $c.$layer, &$d.$layer, Some(&mut $d.$prev), &mut $g.$layer, $grad)
    };

    // How many parameters of a layer have a shared gradient (`Parameters::SHARED`).
    (@shared_len $layer:ident) => {
        <$layer::Ty as $crate::Parameters>::SHARED
    };

    // `shared_grads` for every layer after the first: its input is the
    // previous layer's output, its output gradient its `delta` entry.
    (@shared $s:ident, $input:ident, $parts:ident, $part:ident, $g:ident; $prev:ident, $layer:ident $(, $rest:ident)*) => {
        $crate::network!(@share $s, $input, $parts, $part, $g, $layer; |_x, ws| ws.act.$prev);
        $crate::network!(@shared $s, $input, $parts, $part, $g; $layer $(, $rest)*);
    };
    // One layer's share, its input `$xin` from part `k`'s input `$x` or workspace `$ws`.
    (@share $s:ident, $input:ident, $parts:ident, $part:ident, $g:ident, $layer:ident; |$x:ident, $ws:ident| $xin:expr) => {
        if $crate::network!(@shared_len $layer) > 0 {
            let mut inputs = (0..$parts).map(|k| {
                let ($x, $ws, d) = $input(k);
                ($xin.as_flat(), d.$layer.as_flat())
            });
            // SAFETY: the caller's contract (`shared_grads`); the layer's
            // gradient starts at its field's offset in the whole gradient.
            let g = unsafe { $crate::share_of::<$layer::Ty>($g, ::core::mem::offset_of!(Params, $layer) / 4, $part, $parts) };
            $s.$layer.shared_grad(&mut inputs, $part, $parts, g);
        }
    };
    (@shared $s:ident, $input:ident, $parts:ident, $part:ident, $g:ident; $last:ident) => {};

    (@last_out $last:ident) => { $last::Out };
    (@last_out $a:ident $(, $rest:ident)+) => { $crate::network!(@last_out $($rest),+) };
    (@last_ty $last:ident) => { $last::Ty };
    (@last_ty $a:ident $(, $rest:ident)+) => { $crate::network!(@last_ty $($rest),+) };
    (@logits_out $a:ident, $b:ident) => { $a::Out };
    (@logits_out $a:ident $(, $rest:ident)+) => { $crate::network!(@logits_out $($rest),+) };
    (@last ($($e:tt)*); $last:ident) => { $($e)* .$last };
    (@last ($($e:tt)*); $a:ident $(, $rest:ident)+) => { $crate::network!(@last ($($e)*); $($rest),+) };
    (@second_last ($($e:tt)*); $a:ident, $b:ident) => { $($e)* .$a };
    (@second_last ($($e:tt)*); $a:ident $(, $rest:ident)+) => { $crate::network!(@second_last ($($e)*); $($rest),+) };

    // The declaration as written: fold the layer list, then build.
    (
        $(#[$meta:meta])*
        $vis:vis mod $name:ident {
            input: $input:ty $(, $($layers:tt)*)?
        }
    ) => {
        $crate::network!(@fold ($(#[$meta])* $vis mod $name { input: $input }) []; $($($layers)*)?);
    };
}

#[cfg(test)]
mod tests {
    use super::share_of;
    use crate::{Flat, Parameters};
    use core::ops::Range;

    /// Parameters whose shares are given by `SHARES`: `[start, end]` a part.
    struct Shares<const N: usize>;
    // SAFETY: zero-sized.
    unsafe impl<const N: usize> Flat for Shares<N> {}
    impl<const N: usize> Parameters for Shares<N> {
        const SHARED: usize = 6;
        fn share(part: usize, _parts: usize) -> Range<usize> {
            [[0, 2, 6], [0, 3, 6], [0, 2, 5]][N][part]..[[0, 2, 6], [0, 3, 6], [0, 2, 5]][N][part + 1]
        }
    }

    #[test]
    fn a_share_is_its_range_of_the_layers_gradient() {
        let mut g = [0.0f32; 10];
        let p = g.as_mut_ptr();
        // SAFETY: `g` holds the layer's 6 parameters from offset 3; one share at a time.
        let (a, b) = unsafe { (share_of::<Shares<0>>(p, 3, 0, 2).len(), share_of::<Shares<0>>(p, 3, 1, 2).len()) };
        assert_eq!((a, b), (2, 4));
        unsafe { share_of::<Shares<0>>(p, 3, 1, 2) }.fill(1.0);
        assert_eq!(g, [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    #[should_panic(expected = "share 1 of 2 does not follow the one before it")]
    fn overlapping_shares_are_refused() {
        struct Overlap;
        // SAFETY: zero-sized.
        unsafe impl Flat for Overlap {}
        impl Parameters for Overlap {
            const SHARED: usize = 6;
            fn share(part: usize, _parts: usize) -> Range<usize> {
                [0..4, 3..6][part].clone()
            }
        }
        let mut g = [0.0f32; 6];
        // SAFETY: `g` is the layer's gradient (the call panics first).
        let _ = unsafe { share_of::<Overlap>(g.as_mut_ptr(), 0, 0, 2) };
    }

    #[test]
    #[should_panic(expected = "the shares end at 5, not at SHARED = 6")]
    fn shares_short_of_shared_are_refused() {
        let mut g = [0.0f32; 6];
        // SAFETY: as above.
        let _ = unsafe { share_of::<Shares<2>>(g.as_mut_ptr(), 0, 0, 2) };
    }
}
