//! Networks: an input shape and an ordered list of named layers, declared
//! once with [`network!`](crate::network!); the compiler infers every intermediate shape.

use crate::Flat;
use crate::layer::{Init, Mode, ParamTensor};
use rand::Rng;

/// Where one layer's parameters sit in the flat view of a network's
/// parameter struct (in `f32`s), for optimizers and freezing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's field name, e.g. `"conv"`.
    pub name: &'static str,
    /// Offset of its first parameter in [`Flat::as_flat`] of the network.
    pub offset: usize,
    /// Number of parameters (0 for activations and pooling).
    pub len: usize,
}

/// What [`Network::visit_mut`] calls: `f(layer, name, PyTorch shape, values)`.
pub type NetworkVisitorMut<'a> = dyn FnMut(&'static str, &'static str, &[usize], &mut [f32]) + 'a;

/// Part `k`'s inputs, workspace and `delta` for
/// [`Network::shared_grads`].
pub type Parts<'a, P, const B: usize> = dyn Fn(usize) -> (&'a [<P as Network>::Input; B], &'a <P as Network>::Workspace<B>, &'a <P as Network>::Activations<B>)
    + 'a;

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

    /// Forward pass of a batch: fills `ws` with every layer's output.
    fn forward<const B: usize>(&self, x: &[Self::Input; B], ws: &mut Self::Workspace<B>, mode: &mut Mode<'_>);

    /// Forward pass of a batch for its outputs: [`forward_lean`](Network::forward_lean)
    /// in [`Mode::Infer`], except that a layer that ran the
    /// ReLU and the pooling after it in its own kernels
    /// ([`Layer::forward_relu_pool`](crate::Layer::forward_relu_pool))
    /// stores no routes in its output's entry. The entries left unwritten keep what they held
    /// (a ReLU's output pooled in registers, a convolution's output whose
    /// ReLU, or ReLU and pooling, it ran). The outputs, logits and every
    /// other activation have the same bits as `forward`'s; `ws` is then no
    /// input for any backward pass.
    /// [`predict`](Network::predict) and [`evaluate`](crate::train::evaluate)
    /// use it.
    ///
    /// ```
    /// use constnet::{zoo::fashion10, Flat, Mode, Network, Tensor};
    /// let net = fashion10::Params::boxed_zeroed();
    /// let x = [Tensor::<1, 28, 28>::splat(0.5); 2];
    /// let mut ws = fashion10::Workspace::<2>::boxed_zeroed();
    /// net.infer(&x, &mut ws);
    /// let mut full = fashion10::Workspace::<2>::boxed_zeroed();
    /// net.forward(&x, &mut full, &mut Mode::Infer);
    /// assert_eq!(fashion10::Params::output(&ws), fashion10::Params::output(&full));
    /// ```
    fn infer<const B: usize>(&self, x: &[Self::Input; B], ws: &mut Self::Workspace<B>) {
        self.forward_lean(x, ws, &mut Mode::Infer);
    }

    /// [`forward`](Network::forward) for a training step or inference,
    /// leaving unstored (their entries in `ws` keep what they held) two
    /// kinds of activation, neither of them the logits nor the output:
    /// - the output of a `Relu` run fused with the 2x2 `MaxPool2d` after it
    ///   ([`fuse::relu_pool`](crate::fuse::relu_pool));
    /// - the output of a layer whose `Relu` it ran itself
    ///   ([`Layer::forward_relu`](crate::Layer::forward_relu): a
    ///   convolution followed by a ReLU not fused with a pooling, with a
    ///   layer after the ReLU).
    ///
    /// And a layer whose `Relu` and fused pooling it ran itself, with a
    /// layer after them ([`Layer::forward_relu_pool`](crate::Layer::forward_relu_pool):
    /// a convolution), leaves in its output's entry, instead of its
    /// outputs, the pooling's routes (which input of each window its
    /// gradient goes to), for [`backward_lean`](Network::backward_lean).
    ///
    /// Every other activation has `forward`'s bits. A backward pass
    /// from this `ws` must be [`backward_lean`](Network::backward_lean),
    /// which does not read the unstored entries (`backward`,
    /// `backward_from_logits` and `backward_overwrite` read the first kind,
    /// and the outputs the routes replace).
    /// Nothing else reads them: the layer after the pair reads the
    /// pooling's output, a ReLU's backward its output, and a convolution's
    /// backward its input. [`infer`](Network::infer) (in
    /// [`Mode::Infer`]) and [`train_step`](crate::train::train_step) (in
    /// [`Mode::Train`]) use it. The default is `forward`.
    ///
    /// ```
    /// use constnet::{zoo::fashion10, Flat, Init, Mode, Network, Tensor};
    /// use rand::SeedableRng;
    /// let mut net = fashion10::Params::boxed_zeroed();
    /// net.init(Init::He, &mut rand::rngs::SmallRng::seed_from_u64(1));
    /// let x = [Tensor::<1, 28, 28>::from_fn(|_, i, j| (i as f32 - j as f32) / 28.0); 2];
    /// let (mut lean, mut full) = (fashion10::Workspace::<2>::boxed_zeroed(), fashion10::Workspace::<2>::boxed_zeroed());
    /// net.forward_lean(&x, &mut lean, &mut Mode::Infer);
    /// net.forward(&x, &mut full, &mut Mode::Infer);
    /// assert_eq!(fashion10::Params::logits(&lean), fashion10::Params::logits(&full));
    /// ```
    fn forward_lean<const B: usize>(&self, x: &[Self::Input; B], ws: &mut Self::Workspace<B>, mode: &mut Mode<'_>) {
        self.forward(x, ws, mode);
    }

    /// Backward pass from `delta`'s last-layer entry (dL/dOutput, set by the
    /// caller): fills the other entries of `delta` and **adds** every
    /// parameter gradient into `grads`.
    fn backward<const B: usize>(
        &self,
        x: &[Self::Input; B],
        ws: &Self::Workspace<B>,
        delta: &mut Self::Activations<B>,
        grads: &mut Self,
    );

    /// Backward pass that skips the last layer: starts from dL/dLogits (the
    /// gradient of a fused loss such as
    /// [`bce_with_logits`](crate::loss::bce_with_logits)), in `delta`'s
    /// second-to-last entry.
    fn backward_from_logits<const B: usize>(
        &self,
        x: &[Self::Input; B],
        ws: &Self::Workspace<B>,
        delta: &mut Self::Activations<B>,
        grads: &mut Self,
    );

    /// The backward pass of a training step: [`backward`](Network::backward),
    /// or with `from_logits` [`backward_from_logits`](Network::backward_from_logits),
    /// with every parameter gradient **overwritten** instead of added
    /// ([`Layer::backward_overwrite`](crate::Layer::backward_overwrite); a
    /// last layer skipped by `from_logits` gets zero gradients), so `grads`
    /// need not be zeroed first. [`train_step`](crate::train::train_step) uses it.
    fn backward_overwrite<const B: usize>(
        &self,
        x: &[Self::Input; B],
        ws: &Self::Workspace<B>,
        delta: &mut Self::Activations<B>,
        grads: &mut Self,
        from_logits: bool,
    );

    /// [`backward_overwrite`](Network::backward_overwrite) after
    /// [`forward_lean`](Network::forward_lean) in training or inference
    /// mode (not after `forward` or `infer`: where a convolution ran the
    /// ReLU and the pooling after it, it reads the routes `forward_lean`
    /// left in the convolution's entry, and from outputs in their place it
    /// gives wrong gradients): a `Relu`
    /// run fused with the 2x2 `MaxPool2d` after it is differentiated from
    /// its input (or from those routes), so its output in `ws` is not read, and its `delta` entry
    /// (the gradient of its output) is not written. Every parameter
    /// gradient and every other `delta` entry has `backward_overwrite`'s
    /// bits. [`train_step`](crate::train::train_step) and the parallel
    /// trainer use it. The default is `backward_overwrite`.
    ///
    /// ```
    /// use constnet::{zoo::fashion10, Flat, Init, Mode, Network, Tensor};
    /// use rand::SeedableRng;
    /// let mut net = fashion10::Params::boxed_zeroed();
    /// net.init(Init::He, &mut rand::rngs::SmallRng::seed_from_u64(1));
    /// let x = [Tensor::<1, 28, 28>::from_fn(|_, i, j| (i as f32 - j as f32) / 28.0); 2];
    /// let mut grads = Vec::new();
    /// for lean in [true, false] {
    ///     let mut ws = fashion10::Workspace::<2>::boxed_zeroed();
    ///     let mut delta = fashion10::Activations::<2>::boxed_zeroed();
    ///     let mut g = fashion10::Params::boxed_zeroed();
    ///     if lean {
    ///         net.forward_lean(&x, &mut ws, &mut Mode::Infer);
    ///     } else {
    ///         net.forward(&x, &mut ws, &mut Mode::Infer);
    ///     }
    ///     fashion10::Params::logits_grad(&mut delta)[0].as_flat_mut()[3] = 1.0; // dL/dlogit 3 of sample 0
    ///     if lean {
    ///         net.backward_lean(&x, &ws, &mut delta, &mut g, true);
    ///     } else {
    ///         net.backward_overwrite(&x, &ws, &mut delta, &mut g, true);
    ///     }
    ///     grads.push(g);
    /// }
    /// assert!(grads[0].as_flat() == grads[1].as_flat() && grads[0].as_flat().iter().any(|&v| v != 0.0));
    /// ```
    fn backward_lean<const B: usize>(
        &self,
        x: &[Self::Input; B],
        ws: &Self::Workspace<B>,
        delta: &mut Self::Activations<B>,
        grads: &mut Self,
        from_logits: bool,
    ) {
        self.backward_overwrite(x, ws, delta, grads, from_logits);
    }

    /// Whether a layer shares out the gradient of some parameters between
    /// the threads of a data-parallel trainer ([`Layer::SHARED`](crate::Layer::SHARED)):
    /// the [`ParallelTrainer`](crate::parallel::ParallelTrainer) then runs
    /// [`backward_lean_unshared`](Network::backward_lean_unshared) on each
    /// thread's samples and [`shared_grads`](Network::shared_grads) over all
    /// of them. `false` by default.
    const SHARES: bool = false;

    /// [`backward_lean`](Network::backward_lean) leaving every layer's
    /// shared gradient ([`shared_params`](Network::shared_params))
    /// unwritten; every other gradient and `delta` entry has
    /// `backward_lean`'s bits. The default is `backward_lean`.
    fn backward_lean_unshared<const B: usize>(
        &self,
        x: &[Self::Input; B],
        ws: &Self::Workspace<B>,
        delta: &mut Self::Activations<B>,
        grads: &mut Self,
        from_logits: bool,
    ) {
        self.backward_lean(x, ws, delta, grads, from_logits);
    }

    /// Share `part` of `parts` of every layer's shared gradient
    /// ([`Layer::shared_grad`](crate::Layer::shared_grad)), **overwritten**,
    /// over the samples of all parts: `input(k)` is part `k`'s inputs, and
    /// its workspace and `delta` after [`forward_lean`](Network::forward_lean)
    /// and [`backward_lean_unshared`](Network::backward_lean_unshared).
    /// The shares `0..parts` together write every shared entry once. With
    /// the other entries from `backward_lean_unshared`, summed over the
    /// parts, that is the gradient `backward_lean` sums over them (up to
    /// the order of float additions). The default does nothing.
    ///
    /// # Safety
    /// `grads` points to a whole gradient (`Self`'s floats, as
    /// [`Flat::as_flat`] lays them out); the call writes only its share of
    /// the shared entries, so calls with other shares may run at the same
    /// time, and nothing else may access those entries meanwhile.
    ///
    /// ```
    /// use constnet::{network, Dense, Flat, Init, Mode, Network, Relu, Softmax, Tensor};
    /// use rand::SeedableRng;
    /// network! { mod wide { input: Tensor<1024, 1, 1>, big: Dense<1024, 256>, relu: Relu, small: Dense<256, 4>, out: Softmax } }
    /// # fn main() {
    /// let mut net = wide::Params::boxed_zeroed();
    /// net.init(Init::He, &mut rand::rngs::SmallRng::seed_from_u64(1));
    /// let mut ranges = Vec::new();
    /// wide::Params::shared_params(&mut |r| ranges.push(r));
    /// assert!(<wide::Params as Network>::SHARES && ranges == [0..1024 * 256]); // the big layer's weights
    /// // Two parts of two samples: each part's passes without the shared
    /// // gradient, then both shares over both parts into part 0's gradient.
    /// let x = [[Tensor::splat(0.1), Tensor::splat(-0.2)], [Tensor::splat(0.3), Tensor::splat(0.05)]];
    /// let (mut ws, mut delta) = ([(); 2].map(|_| wide::Workspace::<2>::boxed_zeroed()), [(); 2].map(|_| wide::Activations::<2>::boxed_zeroed()));
    /// let (mut g, mut whole) = ([(); 2].map(|_| wide::Params::boxed_zeroed()), [(); 2].map(|_| wide::Params::boxed_zeroed()));
    /// for k in 0..2 {
    ///     net.forward_lean(&x[k], &mut ws[k], &mut Mode::Infer);
    ///     wide::Params::logits_grad(&mut delta[k])[0].as_flat_mut()[1] = 1.0;
    ///     net.backward_lean_unshared(&x[k], &ws[k], &mut delta[k], &mut g[k], true);
    ///     net.backward_lean(&x[k], &ws[k], &mut delta[k], &mut whole[k], true);
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

    /// The network's outputs in a workspace after `forward`.
    fn output<const B: usize>(ws: &Self::Workspace<B>) -> &[Self::Output; B];
    /// The last layer's inputs (logits) in a workspace after `forward`.
    fn logits<const B: usize>(ws: &Self::Workspace<B>) -> &[Self::Logits; B];
    /// Where `backward` reads dL/dOutput.
    fn output_grad<const B: usize>(delta: &mut Self::Activations<B>) -> &mut [Self::Output; B];
    /// Where `backward_from_logits` reads dL/dLogits.
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

    /// Number of learnable parameters (the tensors [`Network::visit`] names;
    /// the unused bias storage of a `BIAS = false` layer is not counted).
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.visit(&mut |_, t| n += t.data.len());
        n
    }
}

/// The class an output vector stands for: argmax (first on ties), or for a
/// single probability, `p >= 0.5`.
pub fn class_of(out: &[f32]) -> usize {
    if out.len() == 1 {
        return (out[0] >= 0.5) as usize;
    }
    let mut best = 0;
    for (i, &v) in out.iter().enumerate() {
        if v > out[best] {
            best = i;
        }
    }
    best
}

/// Declares a network: an input shape and an ordered list of named layers.
///
/// `network! { pub mod NAME { input: Tensor<C, H, W>, layer: Type, … } }`
/// writes a module `NAME` holding:
///
/// - `Params`: a `#[repr(C)]` struct with one public field per layer, which
///   implements [`Network`]; `Grads` is the same type;
/// - `Activations<B>`: one `[Tensor; B]` field per layer output (also the
///   gradients with respect to them in the backward pass);
/// - `Caches<B>` and `Workspace<B>` (`act` + `cache`), what `forward` fills;
/// - a module per layer with its `In` and `Out` tensor types, computed by the
///   compiler from [`Shape`](crate::Shape): no size is written twice.
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
/// use constnet::{network, Conv2d, Dense, Flat, Network, Relu, Sigmoid, Tensor};
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
    (
        $(#[$meta:meta])*
        $vis:vis mod $name:ident {
            input: $input:ty,
            $first:ident : $first_ty:ty
            $(, $layer:ident : $ty:ty)+ $(,)?
        }
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
            $crate::network!(@shapes input; $first : $first_ty $(, $layer : $ty)+);

            /// The parameters: one field per layer, in order. Gradients and
            /// optimizer state have this same type.
            #[repr(C)]
            #[derive(Clone, Debug, PartialEq)]
            pub struct Params {
                #[doc = concat!("`", stringify!($first_ty), "`")]
                pub $first: $first::Ty,
                $(#[doc = concat!("`", stringify!($ty), "`")] pub $layer: $layer::Ty,)+
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
                pub $first: [$first::Cache; B],
                $(#[doc = concat!("Cache of `", stringify!($layer), "`.")] pub $layer: [$layer::Cache; B],)+
            }
            // SAFETY: repr(C) struct of arrays of Flat caches.
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

            /// `forward_lean`, and with `routes` false `infer`: a layer that
            /// pools in its kernels then leaves no routes in its output's
            /// entry. (A function of the module, not a method: no name of
            /// `Params`'s.)
            fn lean_pass<const B: usize>(net: &Params, x: &[Input; B], ws: &mut Workspace<B>, mode: &mut $crate::Mode<'_>, routes: bool) {
                $crate::network!(@first true, net, x, ws, mode, relu_done, routes; $first $(, $layer)+);
                $crate::network!(@forward net, ws, mode, true, false, relu_done, routes; $first $(, $layer)+);
            }

            impl $crate::Network for Params {
                type Input = Input;
                type Output = Output;
                type Logits = Logits;
                type Activations<const B: usize> = Activations<B>;
                type Workspace<const B: usize> = Workspace<B>;
                const LAYERS: &'static [$crate::LayerInfo] = &[
                    $crate::LayerInfo {
                        name: stringify!($first),
                        offset: ::core::mem::offset_of!(Params, $first) / 4,
                        len: ::core::mem::size_of::<$first::Ty>() / 4,
                    },
                    $($crate::LayerInfo {
                        name: stringify!($layer),
                        offset: ::core::mem::offset_of!(Params, $layer) / 4,
                        len: ::core::mem::size_of::<$layer::Ty>() / 4,
                    },)+
                ];

                fn forward<const B: usize>(&self, x: &[Input; B], ws: &mut Workspace<B>, mode: &mut $crate::Mode<'_>) {
                    $crate::network!(@first false, self, x, ws, mode, relu_done, true; $first $(, $layer)+);
                    $crate::network!(@forward self, ws, mode, false, false, relu_done, true; $first $(, $layer)+);
                }

                fn forward_lean<const B: usize>(&self, x: &[Input; B], ws: &mut Workspace<B>, mode: &mut $crate::Mode<'_>) {
                    lean_pass(self, x, ws, mode, true);
                }

                fn infer<const B: usize>(&self, x: &[Input; B], ws: &mut Workspace<B>) {
                    lean_pass(self, x, ws, &mut $crate::Mode::Infer, false);
                }

                fn backward<const B: usize>(&self, x: &[Input; B], ws: &Workspace<B>, delta: &mut Activations<B>, grads: &mut Params) {
                    $crate::network!(@backward backward, false, self, ws, delta, grads, false; $first $(, $layer)+);
                    self.$first.backward(x, &ws.act.$first, &ws.cache.$first, &delta.$first, None, &mut grads.$first);
                }

                fn backward_from_logits<const B: usize>(&self, x: &[Input; B], ws: &Workspace<B>, delta: &mut Activations<B>, grads: &mut Params) {
                    $crate::network!(@backward_logits backward, false, self, ws, delta, grads, false; $first $(, $layer)+);
                    self.$first.backward(x, &ws.act.$first, &ws.cache.$first, &delta.$first, None, &mut grads.$first);
                }

                fn backward_overwrite<const B: usize>(
                    &self,
                    x: &[Input; B],
                    ws: &Workspace<B>,
                    delta: &mut Activations<B>,
                    grads: &mut Params,
                    from_logits: bool,
                ) {
                    $crate::network!(@overwrite backward_overwrite, false, self, x, ws, delta, grads, from_logits; $first $(, $layer)+);
                }

                fn backward_lean<const B: usize>(
                    &self,
                    x: &[Input; B],
                    ws: &Workspace<B>,
                    delta: &mut Activations<B>,
                    grads: &mut Params,
                    from_logits: bool,
                ) {
                    $crate::network!(@overwrite backward_overwrite, true, self, x, ws, delta, grads, from_logits; $first $(, $layer)+);
                }

                const SHARES: bool =
                    $crate::network!(@shared_len $first) > 0 $(|| $crate::network!(@shared_len $layer) > 0)+;

                fn backward_lean_unshared<const B: usize>(
                    &self,
                    x: &[Input; B],
                    ws: &Workspace<B>,
                    delta: &mut Activations<B>,
                    grads: &mut Params,
                    from_logits: bool,
                ) {
                    $crate::network!(@overwrite backward_overwrite_unshared, true, self, x, ws, delta, grads, from_logits; $first $(, $layer)+);
                }

                unsafe fn shared_grads<'a, const B: usize>(
                    &self,
                    input: &$crate::Parts<'a, Params, B>,
                    part: usize,
                    parts: usize,
                    grads: *mut f32,
                ) {
                    if $crate::network!(@shared_len $first) > 0 {
                        let mut inputs = (0..parts).map(|k| {
                            let (x, _, d) = input(k);
                            (x, &d.$first)
                        });
                        // SAFETY: the caller's contract; the layer's gradient
                        // starts at its field's offset in the whole gradient.
                        unsafe { self.$first.shared_grad(&mut inputs, part, parts, grads.add(::core::mem::offset_of!(Params, $first) / 4)) };
                    }
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
                    self.$first.visit(&mut |t| f(stringify!($first), t));
                    $(self.$layer.visit(&mut |t| f(stringify!($layer), t));)+
                }

                fn visit_mut<'a>(&mut self, f: &'a mut $crate::NetworkVisitorMut<'a>) {
                    self.$first.visit_mut(&mut |n, s, d| f(stringify!($first), n, s, d));
                    $(self.$layer.visit_mut(&mut |n, s, d| f(stringify!($layer), n, s, d));)+
                }
            }
        }
    };

    // One module per layer: its input, output and cache types.
    (@shapes $prev:ident; $layer:ident : $ty:ty $(, $rest:ident : $rest_ty:ty)*) => {
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
            /// What this layer keeps from forward for backward, per sample.
            pub type Cache = <Ty as $crate::Layer<{ In::C }, { In::H }, { In::W }>>::Cache;
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
                let _ = ::core::mem::size_of::<<$ty as $crate::Layer<{ In::C }, { In::H }, { In::W }>>::Cache>();
                1
            }] as ::core::iter::IntoIterator>::Item;
        }
        $crate::network!(@shapes $layer; $($rest : $rest_ty),*);
    };
    (@shapes $prev:ident;) => {};

    // Forward through the pairs (previous, layer), looking one layer ahead:
    // a `Relu` and the 2x2 `MaxPool2d` after it run as one pass
    // (`fuse::relu_pool`), the pooling then skipped. `$skip` is `false` for
    // the second layer (the first, run on the input, is never fused);
    // `$lean` (in `forward_lean`) leaves the fused ReLU's output unstored, except
    // in the last pair, where that output is the logits. In `forward_lean`
    // a layer followed by a `Relu` (not itself fused with a pooling), with
    // a layer after that, may write the ReLU's output itself
    // (`Layer::forward_relu`, `fuse::relu_after`), and a layer followed by
    // a fused ReLU + pooling, with a layer after them, the pooling's
    // (`Layer::forward_relu_pool`; `@then`); `$f` then says so at the
    // ReLU's turn, which it skips (a pooling's turn after a fused ReLU is
    // skipped anyway). `$st` (`routes`, `false` in `infer`) is whether a
    // layer that pools in its kernels stores the pooling's routes in its
    // output's entry (for `@backward_one`).
    (@forward $s:ident, $ws:ident, $mode:ident, true, $skip:tt, $f:ident, $st:tt; $prev:ident, $layer:ident, $next:ident) => {
        $crate::network!(@forward $s, $ws, $mode, false, $skip, $f, $st; $prev, $layer, $next);
    };
    (@forward $s:ident, $ws:ident, $mode:ident, true, $skip:tt, $f:ident, $st:tt; $prev:ident, $layer:ident, $next:ident, $after:ident $(, $rest:ident)*) => {
        if ::core::mem::take(&mut $f) {
            // This ReLU's output (or its pooling's) was written by the layer before it.
        } else if $crate::fuse::relu_pool::<$layer::Ty, $next::Ty>() {
            let dims = (<$layer::In>::C, <$layer::In>::H, <$layer::In>::W);
            $crate::fuse::relu_pool_infer(&$ws.act.$prev, &mut $ws.act.$next, dims);
        } else if !($skip && $crate::fuse::relu_pool::<$prev::Ty, $layer::Ty>()) {
            $f = $crate::network!(@then $s, $ws, $mode, $st, ($ws.act.$prev); $layer, $next, $after $(, $rest)*);
            if !$f {
                $s.$layer.forward(&$ws.act.$prev, &mut $ws.act.$layer, &mut $ws.cache.$layer, $mode);
            }
        }
        $crate::network!(@forward $s, $ws, $mode, true, true, $f, $st; $layer, $next, $after $(, $rest)*);
    };
    (@forward $s:ident, $ws:ident, $mode:ident, $lean:tt, $skip:tt, $f:ident, $st:tt; $prev:ident, $layer:ident, $next:ident $(, $rest:ident)*) => {
        if ::core::mem::take(&mut $f) {
            // As above.
        } else if $crate::fuse::relu_pool::<$layer::Ty, $next::Ty>() {
            let dims = (<$layer::In>::C, <$layer::In>::H, <$layer::In>::W);
            $crate::fuse::relu_pool_forward(&$ws.act.$prev, &mut $ws.act.$layer, &mut $ws.act.$next, dims);
        } else if !($skip && $crate::fuse::relu_pool::<$prev::Ty, $layer::Ty>()) {
            $s.$layer.forward(&$ws.act.$prev, &mut $ws.act.$layer, &mut $ws.cache.$layer, $mode);
        }
        $crate::network!(@forward $s, $ws, $mode, $lean, true, $f, $st; $layer, $next $(, $rest)*);
    };
    (@forward $s:ident, $ws:ident, $mode:ident, $lean:tt, $skip:tt, $f:ident, $st:tt; $prev:ident, $layer:ident) => {
        if !($skip && $crate::fuse::relu_pool::<$prev::Ty, $layer::Ty>()) {
            $s.$layer.forward(&$ws.act.$prev, &mut $ws.act.$layer, &mut $ws.cache.$layer, $mode);
        }
    };

    // The first layer, on the input; in `forward_lean` (`true`) with a
    // `Relu` after it and a layer after that, as in `@forward`. Declares
    // `$f` where the `@forward` arms that read it follow (three layers or more).
    (@first $lean:tt, $s:ident, $x:ident, $ws:ident, $mode:ident, $f:ident, $st:tt; $first:ident, $next:ident, $after:ident $(, $rest:ident)*) => {
        let mut $f = $lean && $crate::network!(@then $s, $ws, $mode, $st, ($x); $first, $next, $after $(, $rest)*);
        if !$f {
            $s.$first.forward($x, &mut $ws.act.$first, &mut $ws.cache.$first, $mode);
        }
    };
    (@first $lean:tt, $s:ident, $x:ident, $ws:ident, $mode:ident, $f:ident, $st:tt; $first:ident, $next:ident) => {
        $s.$first.forward($x, &mut $ws.act.$first, &mut $ws.cache.$first, $mode);
    };

    // In `forward_lean`, whether `$layer` (input `$x`) ran with what
    // follows it, returning `true` if so: a ReLU and a fused pooling with a
    // layer after them (`Layer::forward_relu_pool`: the pooling's output is
    // written, and if `$st` (`false` in `infer`) the routes in `$layer`'s), or a ReLU
    // alone with a layer after it (`Layer::forward_relu`: the ReLU's output
    // is written).
    (@then $s:ident, $ws:ident, $mode:ident, $st:tt, ($($x:tt)*); $layer:ident, $next:ident, $after:ident) => {
        $crate::fuse::relu_after::<$next::Ty, $after::Ty>()
            && $s.$layer.forward_relu(&$($x)*, &mut $ws.act.$next, &mut $ws.cache.$layer, $mode)
    };
    (@then $s:ident, $ws:ident, $mode:ident, $st:tt, ($($x:tt)*); $layer:ident, $next:ident, $after:ident, $more:ident $(, $rest:ident)*) => {
        ($crate::fuse::relu_pool::<$next::Ty, $after::Ty>()
            && $s.$layer.forward_relu_pool(&$($x)*, &mut $ws.act.$layer, $st, &mut $ws.act.$after, &mut $ws.cache.$layer, $mode))
            || $crate::network!(@then $s, $ws, $mode, $st, ($($x)*); $layer, $next, $after)
    };

    // `backward_overwrite` (`$lean` false) or `backward_lean` (true), each
    // layer run with `$m` (`backward_overwrite`, or
    // `backward_overwrite_unshared` in `backward_lean_unshared`).
    (@overwrite $m:ident, $lean:tt, $s:ident, $x:ident, $ws:ident, $d:ident, $g:ident, $from_logits:ident; $first:ident $(, $layer:ident)+) => {
        if $from_logits {
            $crate::network!(@last ($g); $first $(, $layer)+).zero();
            $crate::network!(@backward_logits $m, $lean, $s, $ws, $d, $g, false; $first $(, $layer)+);
        } else {
            $crate::network!(@backward $m, $lean, $s, $ws, $d, $g, false; $first $(, $layer)+);
        }
        $s.$first.$m($x, &$ws.act.$first, &$ws.cache.$first, &$d.$first, None, &mut $g.$first);
    };

    // How many parameters of a layer have a shared gradient (`Layer::SHARED`).
    (@shared_len $layer:ident) => {
        <$layer::Ty as $crate::Layer<{ <$layer::In>::C }, { <$layer::In>::H }, { <$layer::In>::W }>>::SHARED
    };

    // `shared_grads` for every layer after the first: its input is the
    // previous layer's output, its output gradient its `delta` entry.
    (@shared $s:ident, $input:ident, $parts:ident, $part:ident, $g:ident; $prev:ident, $layer:ident $(, $rest:ident)*) => {
        if $crate::network!(@shared_len $layer) > 0 {
            let mut inputs = (0..$parts).map(|k| {
                let (_, ws, d) = $input(k);
                (&ws.act.$prev, &d.$layer)
            });
            // SAFETY: as in `shared_grads`.
            unsafe { $s.$layer.shared_grad(&mut inputs, $part, $parts, $g.add(::core::mem::offset_of!(Params, $layer) / 4)) };
        }
        $crate::network!(@shared $s, $input, $parts, $part, $g; $layer $(, $rest)*);
    };
    (@shared $s:ident, $input:ident, $parts:ident, $part:ident, $g:ident; $last:ident) => {};

    // Backward through the pairs, last pair first, with the layers' method
    // `$m` (`backward` or `backward_overwrite`); a fused pair runs at its
    // ReLU's turn, after the pooling's turn was skipped. `$lean` (in
    // `backward_lean`) runs it from the ReLU's input, leaving the gradient
    // between the two unwritten.
    (@backward $m:ident, $lean:tt, $s:ident, $ws:ident, $d:ident, $g:ident, $skip:tt; $prev:ident, $layer:ident, $next:ident $(, $rest:ident)*) => {
        $crate::network!(@backward $m, $lean, $s, $ws, $d, $g, true; $layer, $next $(, $rest)*);
        $crate::network!(@backward_one $m, $lean, $s, $ws, $d, $g, $skip; $prev, $layer, $next; $($rest)*);
    };
    (@backward $m:ident, $lean:tt, $s:ident, $ws:ident, $d:ident, $g:ident, $skip:tt; $prev:ident, $layer:ident) => {
        if !($skip && $crate::fuse::relu_pool::<$prev::Ty, $layer::Ty>()) {
            $s.$layer.$m(&$ws.act.$prev, &$ws.act.$layer, &$ws.cache.$layer, &$d.$layer, Some(&mut $d.$prev), &mut $g.$layer);
        }
    };

    // The same, stopping before the last layer (which is then never fused).
    (@backward_logits $m:ident, $lean:tt, $s:ident, $ws:ident, $d:ident, $g:ident, $skip:tt; $a:ident, $b:ident) => {};
    (@backward_logits $m:ident, $lean:tt, $s:ident, $ws:ident, $d:ident, $g:ident, $skip:tt; $prev:ident, $layer:ident, $last:ident) => {
        $crate::network!(@backward $m, $lean, $s, $ws, $d, $g, $skip; $prev, $layer);
    };
    (@backward_logits $m:ident, $lean:tt, $s:ident, $ws:ident, $d:ident, $g:ident, $skip:tt; $prev:ident, $layer:ident, $next:ident, $more:ident $(, $rest:ident)*) => {
        $crate::network!(@backward_logits $m, $lean, $s, $ws, $d, $g, true; $layer, $next, $more $(, $rest)*);
        $crate::network!(@backward_one $m, $lean, $s, $ws, $d, $g, $skip; $prev, $layer, $next; $more);
    };

    // One layer's turn in backward, knowing the next layer and the ones
    // after it. A fused ReLU + pooling in the lean pass with a layer after
    // it, after a layer that pooled in its kernels in the lean forward
    // pass (`@then`), goes back from the routes that layer left in its
    // output (`Layer::relu_pool_backward`).
    (@backward_one $m:ident, $lean:tt, $s:ident, $ws:ident, $d:ident, $g:ident, $skip:tt; $prev:ident, $layer:ident, $next:ident; $($after:ident)*) => {
        if $crate::fuse::relu_pool::<$layer::Ty, $next::Ty>() {
            let dims = (<$layer::In>::C, <$layer::In>::H, <$layer::In>::W);
            if $lean {
                let routed = $crate::network!(@any $($after)*)
                    && <$prev::Ty as $crate::Layer<{ <$prev::In>::C }, { <$prev::In>::H }, { <$prev::In>::W }>>::relu_pool_backward(
                        &$s.$prev,
                        &$ws.act.$prev,
                        &$d.$next,
                        &mut $d.$prev,
                    );
                if !routed {
                    $crate::fuse::relu_pool_backward_lean(&$ws.act.$prev, &$ws.act.$next, &$d.$next, &mut $d.$prev, dims);
                }
            } else {
                $crate::fuse::relu_pool_backward(&$ws.act.$layer, &$ws.act.$next, &$d.$next, &mut $d.$layer, &mut $d.$prev, dims);
            }
        } else if !($skip && $crate::fuse::relu_pool::<$prev::Ty, $layer::Ty>()) {
            $s.$layer.$m(&$ws.act.$prev, &$ws.act.$layer, &$ws.cache.$layer, &$d.$layer, Some(&mut $d.$prev), &mut $g.$layer);
        }
    };

    (@any) => { false };
    (@any $($after:ident)+) => { true };
    (@last_out $last:ident) => { $last::Out };
    (@last_out $a:ident $(, $rest:ident)+) => { $crate::network!(@last_out $($rest),+) };
    (@logits_out $a:ident, $b:ident) => { $a::Out };
    (@logits_out $a:ident $(, $rest:ident)+) => { $crate::network!(@logits_out $($rest),+) };
    (@last ($($e:tt)*); $last:ident) => { $($e)* .$last };
    (@last ($($e:tt)*); $a:ident $(, $rest:ident)+) => { $crate::network!(@last ($($e)*); $($rest),+) };
    (@second_last ($($e:tt)*); $a:ident, $b:ident) => { $($e)* .$a };
    (@second_last ($($e:tt)*); $a:ident $(, $rest:ident)+) => { $crate::network!(@second_last ($($e)*); $($rest),+) };

    // Fewer than two layers: the logits (`Network::Logits`, the last
    // layer's input) are read from and written to an entry of the
    // workspace and of `delta`, which hold layer outputs only.
    (
        $(#[$meta:meta])*
        $vis:vis mod $name:ident {
            input: $input:ty,
            $first:ident : $first_ty:ty $(,)?
        }
    ) => {
        ::core::compile_error!(::core::concat!(
            "network!: `", ::core::stringify!($name), "` has one layer (`", ::core::stringify!($first),
            "`) and a network needs at least two: the last layer's input (the logits, which `logits`, `logits_grad` ",
            "and `backward_from_logits` use) must be a layer's output, not the network's input. ",
            "Add the output layer after it, e.g. `out: Sigmoid` or `out: Softmax`."
        ));
    };
    (
        $(#[$meta:meta])*
        $vis:vis mod $name:ident {
            input: $input:ty $(,)?
        }
    ) => {
        ::core::compile_error!(::core::concat!(
            "network!: `", ::core::stringify!($name), "` has no layers and a network needs at least two: ",
            "list them after `input`, e.g. `dense: Dense<784, 10>, out: Softmax`."
        ));
    };
}
