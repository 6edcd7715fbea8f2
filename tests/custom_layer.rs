//! Layers written outside the crate, as a user writes them: a leaky ReLU
//! (no parameters), a per-channel scale (one learnable weight per
//! channel) and a hard sigmoid that ends a network trained with `Bce`,
//! used in `network!`, trained, and checked by finite differences. This file is the worked example of the extension contract
//! in [`constnet::Layer`]'s docs:
//!
//! - the type is `Clone + Debug + PartialEq` (the network's parameter
//!   struct derives them) and `#[repr(C)]` with only `f32` data, so it can
//!   implement [`Flat`] (an `unsafe` trait: the type must be nothing but
//!   `f32`s);
//! - [`Parameters`] names its tensors as PyTorch's `state_dict` does (the
//!   defaults are for a layer without parameters);
//! - [`Shape`] gives the output shape, with `assert!`s in the constants
//!   for the inputs the layer accepts (a build error names the rule);
//! - [`Layer`] has `forward`, which checks its output buffer's shape in a
//!   `const` block, and `backward`, which overwrites `dx` (when asked for)
//!   and adds the parameter gradients into `grads` or overwrites them, as
//!   its `Grad` argument says; `Cache<B>` is what `forward` keeps for
//!   `backward` beyond the input and output (`()` here);
//! - a last layer implements the trait its loss requires of it, listed in
//!   [`Loss`](constnet::train::Loss)'s docs: [`ProbabilityLast`] for the
//!   one probability [`Bce`] reads.

use constnet::gradcheck::check_layer;
use constnet::optim::Sgd;
use constnet::train::{Bce, ProbabilityLast, SoftmaxCrossEntropy, TrainState, train_step};
use constnet::{
    Conv2d, Dense, Flat, Grad, Init, Layer, Mode, Network, ParamTensor, ParamVisitorMut, Parameters, Shape, Softmax,
    Tensor, network,
};
use rand::SeedableRng;
use rand::rngs::SmallRng;

/// The slope of [`LeakyRelu`] below zero (PyTorch's default).
const SLOPE: f32 = 0.01;

/// Leaky ReLU, element-wise: `y = x` for `x > 0`, else `SLOPE·x`; backward
/// `dx = dy` for `x > 0`, else `SLOPE·dy`. PyTorch: `nn.LeakyReLU(0.01)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct LeakyRelu;

// SAFETY: zero-sized.
unsafe impl Flat for LeakyRelu {}
impl Parameters for LeakyRelu {}

impl<const C: usize, const H: usize, const W: usize> Shape<C, H, W> for LeakyRelu {
    const OUT_C: usize = C;
    const OUT_H: usize = H;
    const OUT_W: usize = W;
}

impl<const C: usize, const H: usize, const W: usize> Layer<C, H, W> for LeakyRelu {
    type Cache<const B: usize> = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        _mode: &mut Mode<'_>,
    ) {
        const { assert!(OC == C && OH == H && OW == W, "LeakyRelu: the output has the input's shape") };
        for (y, &x) in y.as_flat_mut().iter_mut().zip(x.as_flat()) {
            *y = if x > 0.0 { x } else { SLOPE * x };
        }
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        _y: &[Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        _grads: &mut Self,
        _grad: Grad,
    ) {
        const { assert!(OC == C && OH == H && OW == W, "LeakyRelu: the output has the input's shape") };
        if let Some(dx) = dx {
            for ((dx, &x), &dy) in dx.as_flat_mut().iter_mut().zip(x.as_flat()).zip(dy.as_flat()) {
                *dx = if x > 0.0 { dy } else { SLOPE * dy };
            }
        }
    }
}

/// A learnable scale per channel: `y[c] = a[c]·x[c]`; backward
/// `dL/da[c] = Σ_{i,j} dy[c][i][j]·x[c][i][j]`, `dx = a[c]·dy`. Starts at 1
/// (the identity).
#[repr(C)]
#[derive(Clone, Debug, PartialEq)]
struct Scale<const CH: usize> {
    /// `a`, one per channel.
    weight: [f32; CH],
}

// SAFETY: repr(C) struct of one f32 array.
unsafe impl<const CH: usize> Flat for Scale<CH> {}

impl<const CH: usize> Parameters for Scale<CH> {
    fn init(&mut self, _init: Init, _rng: &mut dyn rand::Rng) {
        self.weight = [1.0; CH];
    }

    fn visit(&self, f: &mut dyn FnMut(ParamTensor<'_>)) {
        f(ParamTensor { name: "weight", shape: &[CH], data: &self.weight });
    }

    fn visit_mut<'a>(&mut self, f: &'a mut ParamVisitorMut<'a>) {
        f("weight", &[CH], &mut self.weight);
    }
}

impl<const CH: usize, const C: usize, const H: usize, const W: usize> Shape<C, H, W> for Scale<CH> {
    const OUT_C: usize = {
        assert!(C == CH, "Scale: the input must have CH channels");
        C
    };
    const OUT_H: usize = H;
    const OUT_W: usize = W;
}

impl<const CH: usize, const C: usize, const H: usize, const W: usize> Layer<C, H, W> for Scale<CH> {
    type Cache<const B: usize> = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        _mode: &mut Mode<'_>,
    ) {
        const { assert!(OC == C && OH == H && OW == W && C == CH, "Scale: the output has the input's shape") };
        for (x, y) in x.iter().zip(y.iter_mut()) {
            for (c, (x, y)) in x.as_flat().chunks_exact(H * W).zip(y.as_flat_mut().chunks_exact_mut(H * W)).enumerate()
            {
                for (y, &x) in y.iter_mut().zip(x) {
                    *y = self.weight[c] * x;
                }
            }
        }
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        _y: &[Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        dy: &[Tensor<OC, OH, OW>; B],
        mut dx: Option<&mut [Tensor<C, H, W>; B]>,
        grads: &mut Self,
        grad: Grad,
    ) {
        const { assert!(OC == C && OH == H && OW == W && C == CH, "Scale: the output has the input's shape") };
        grad.start(grads); // zero first unless adding
        for b in 0..B {
            let (xs, dys) = (x[b].as_flat().chunks_exact(H * W), dy[b].as_flat().chunks_exact(H * W));
            for (c, (x, dy)) in xs.zip(dys).enumerate() {
                grads.weight[c] += x.iter().zip(dy).map(|(x, dy)| x * dy).sum::<f32>();
            }
            if let Some(dx) = dx.as_deref_mut() {
                let (dx, dy) = (dx[b].as_flat_mut().chunks_exact_mut(H * W), dy[b].as_flat().chunks_exact(H * W));
                for (c, (dx, dy)) in dx.zip(dy).enumerate() {
                    for (dx, &dy) in dx.iter_mut().zip(dy) {
                        *dx = self.weight[c] * dy;
                    }
                }
            }
        }
    }
}

/// Hard sigmoid, element-wise: `y = clamp(x/6 + 1/2, 0, 1)`; backward
/// `dx = dy/6` for `-3 < x < 3`, else 0. PyTorch: `nn.Hardsigmoid()`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct HardSigmoid;

// SAFETY: zero-sized.
unsafe impl Flat for HardSigmoid {}
impl Parameters for HardSigmoid {}

impl<const C: usize, const H: usize, const W: usize> Shape<C, H, W> for HardSigmoid {
    const OUT_C: usize = C;
    const OUT_H: usize = H;
    const OUT_W: usize = W;
}

impl<const C: usize, const H: usize, const W: usize> Layer<C, H, W> for HardSigmoid {
    type Cache<const B: usize> = ();

    fn forward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        y: &mut [Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        _mode: &mut Mode<'_>,
    ) {
        const { assert!(OC == C && OH == H && OW == W, "HardSigmoid: the output has the input's shape") };
        for (y, &x) in y.as_flat_mut().iter_mut().zip(x.as_flat()) {
            *y = (x / 6.0 + 0.5).clamp(0.0, 1.0);
        }
    }

    fn backward<const B: usize, const OC: usize, const OH: usize, const OW: usize>(
        &self,
        x: &[Tensor<C, H, W>; B],
        _y: &[Tensor<OC, OH, OW>; B],
        _cache: &mut (),
        dy: &[Tensor<OC, OH, OW>; B],
        dx: Option<&mut [Tensor<C, H, W>; B]>,
        _grads: &mut Self,
        _grad: Grad,
    ) {
        const { assert!(OC == C && OH == H && OW == W, "HardSigmoid: the output has the input's shape") };
        if let Some(dx) = dx {
            for ((dx, &x), &dy) in dx.as_flat_mut().iter_mut().zip(x.as_flat()).zip(dy.as_flat()) {
                *dx = if x.abs() < 3.0 { dy / 6.0 } else { 0.0 };
            }
        }
    }
}

// Its output is a probability: with one output it can end a network
// trained with `Bce`.
impl ProbabilityLast<Tensor<1, 1, 1>> for HardSigmoid {}

network! {
    /// A binary classifier that ends in the custom hard sigmoid.
    mod binary {
        input: Tensor<1, 4, 4>,
        dense: Dense<16, 1>,
        out: HardSigmoid,
    }
}

network! {
    /// A small classifier with both custom layers between the crate's own.
    mod custom {
        input: Tensor<1, 8, 8>,
        conv: Conv2d<1, 4, 3, 1, 1>,
        leaky: LeakyRelu,
        scale: Scale<4>,
        dense: Dense<256, 3>,
        out: Softmax,
    }
}

#[test]
fn custom_layers_pass_the_finite_difference_check_on_several_shapes() {
    check_layer::<LeakyRelu, 2, 3, 4, 5, 3, 4, 5>(1).unwrap();
    check_layer::<LeakyRelu, 1, 1, 1, 7, 1, 1, 7>(2).unwrap();
    check_layer::<Scale<3>, 2, 3, 4, 5, 3, 4, 5>(3).unwrap();
    check_layer::<Scale<1>, 3, 1, 6, 1, 1, 6, 1>(4).unwrap();
    check_layer::<HardSigmoid, 2, 3, 4, 5, 3, 4, 5>(5).unwrap();
}

/// The network's shapes come from the custom layers' `Shape` impls, their
/// parameters sit in the network's flat view and `state_dict` under their
/// field names, and a few hundred SGD steps learn three patterns: the loss
/// falls and the scale moves away from its initial 1.
#[test]
fn a_network_with_custom_layers_trains() {
    let _: custom::scale::Out = Tensor::<4, 8, 8>::zeroed();
    let names: Vec<&str> = custom::Params::LAYERS.iter().map(|l| l.name).collect();
    assert_eq!(names, ["conv", "leaky", "scale", "dense", "out"]);
    assert_eq!(custom::Params::layer("scale").map(|(_, l)| l.len), Some(4));
    let mut state_dict = Vec::new();
    custom::Params::zeroed().visit(&mut |layer, t| state_dict.push(format!("{layer}.{}", t.name)));
    assert_eq!(state_dict, ["conv.weight", "conv.bias", "scale.weight", "dense.weight", "dense.bias"]);

    let mut rng = SmallRng::seed_from_u64(5);
    let mut net = custom::Params::zeroed();
    net.init(Init::He, &mut rng);
    assert_eq!(net.scale.weight, [1.0; 4]);
    // Three classes: a bright row, a bright column, a bright diagonal.
    let pattern = |class: usize, shift: usize| {
        Tensor::<1, 8, 8>::from_fn(|_, i, j| {
            let on = match class {
                0 => i == (2 + shift) % 8,
                1 => j == (5 + shift) % 8,
                _ => (i + shift) % 8 == j,
            };
            if on { 1.0 } else { -0.1 }
        })
    };
    let x: [Tensor<1, 8, 8>; 6] = core::array::from_fn(|k| pattern(k % 3, k / 3));
    let y: [usize; 6] = core::array::from_fn(|k| k % 3);
    let mut st = TrainState::<custom::Params, 6>::zeroed();
    let mut opt = Sgd::new(0.05);
    let first = train_step(&mut net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap().loss;
    let mut last = first;
    for _ in 0..300 {
        last = train_step(&mut net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap().loss;
    }
    assert!(last.is_finite() && last < 0.2 * first, "loss {first} -> {last}");
    assert!(net.scale.weight.iter().any(|&a| (a - 1.0).abs() > 1e-3), "the scale learned: {:?}", net.scale.weight);
    let mut ws = custom::Workspace::<1>::zeroed();
    for (x, &want) in x.iter().zip(&y) {
        assert_eq!(net.classify(x, &mut ws), want);
    }
}

/// A network whose last layer is the custom hard sigmoid trains with
/// `Bce` (its `ProbabilityLast` impl is what the loss requires): a row
/// against a column, the loss falls and both are classified.
#[test]
fn a_network_ending_in_a_custom_layer_trains_with_its_loss() {
    let mut rng = SmallRng::seed_from_u64(6);
    let mut net = binary::Params::zeroed();
    net.init(Init::Xavier, &mut rng);
    let row = Tensor::<1, 4, 4>::from_fn(|_, i, _| if i == 1 { 1.0 } else { 0.0 });
    let column = Tensor::<1, 4, 4>::from_fn(|_, _, j| if j == 2 { 1.0 } else { 0.0 });
    let (x, y) = ([row, column], [1.0, 0.0]);
    let mut st = TrainState::<binary::Params, 2>::zeroed();
    let mut opt = Sgd::new(0.5);
    let first = train_step(&mut net, &x, &y, Bce, &mut opt, &mut st, &mut rng).unwrap().loss;
    let mut last = first;
    for _ in 0..200 {
        last = train_step(&mut net, &x, &y, Bce, &mut opt, &mut st, &mut rng).unwrap().loss;
    }
    assert!(last.is_finite() && last < 0.2 * first, "loss {first} -> {last}");
    let mut ws = binary::Workspace::<1>::zeroed();
    assert_eq!((net.classify(&row, &mut ws), net.classify(&column, &mut ws)), (1, 0));
}
