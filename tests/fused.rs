//! `network!` writes a `Conv2d` followed by a `Relu` (and a 2x2
//! `MaxPool2d`), with a layer after them, as one layer: a `ConvRelu` (a
//! `ConvReluPool`). Each network here is declared twice, once so and once
//! with the layers apart (`constnet::Relu` is not the literal `Relu`, so
//! nothing is folded); the two have the same parameter layout, and must
//! give the same bits: outputs, logits, every activation the fused network
//! keeps, their gradients, the parameter gradients from the output and
//! from the logits, added and overwritten, and the parameters after
//! training steps. CI runs this on the reference and portable backends and on the fastest
//! one the machine has.

use constnet::{
    BackFrom, Conv2d, ConvRelu, ConvReluPool, Dense, Dropout, Flat, Grad, Init, MaxPool2d, Mode, Network, Relu,
    Softmax, Tensor, network,
};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

network! {
    /// Odd sides (7 x 5: a partial last row and column of windows), two
    /// fused layers, the second right before the dense layer.
    mod odd {
        input: Tensor<2, 7, 5>,
        conv1: Conv2d<2, 3, 3, 1, 1>,
        relu1: Relu,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<3, 4, 3, 1, 1>,
        relu2: Relu,
        pool2: MaxPool2d<2>,
        dense: Dense<16, 5>,
        softmax: Softmax,
    }
}

network! {
    mod odd_apart {
        input: Tensor<2, 7, 5>,
        conv1: Conv2d<2, 3, 3, 1, 1>,
        relu1: constnet::Relu,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<3, 4, 3, 1, 1>,
        relu2: constnet::Relu,
        pool2: MaxPool2d<2>,
        dense: Dense<16, 5>,
        softmax: Softmax,
    }
}

network! {
    /// Convolutions followed by a ReLU: on the input, mid-network, one
    /// without bias, one before a pooling of its own; then a dense layer
    /// and a ReLU, which stay apart.
    mod convrelu {
        input: Tensor<1, 9, 7>,
        conv1: Conv2d<1, 2, 3, 1, 1, false>,
        relu1: Relu,
        conv2: Conv2d<2, 3, 3, 1, 1>,
        relu2: Relu,
        conv3: Conv2d<3, 2, 3, 1, 1>,
        relu3: Relu,
        pool: MaxPool2d<2>,
        dense: Dense<40, 4>,
        relu4: Relu,
        dense2: Dense<4, 3>,
        softmax: Softmax,
    }
}

network! {
    mod convrelu_apart {
        input: Tensor<1, 9, 7>,
        conv1: Conv2d<1, 2, 3, 1, 1, false>,
        relu1: constnet::Relu,
        conv2: Conv2d<2, 3, 3, 1, 1>,
        relu2: constnet::Relu,
        conv3: Conv2d<3, 2, 3, 1, 1>,
        relu3: constnet::Relu,
        pool: MaxPool2d<2>,
        dense: Dense<40, 4>,
        relu4: Relu,
        dense2: Dense<4, 3>,
        softmax: Softmax,
    }
}

network! {
    /// Convolutions whose kernels pool their outputs: on the input, rows
    /// of 29 (two segments, edge windows, an odd number of rows), and
    /// mid-network, 5x5, rows of 15; and a stride-2 convolution, which the
    /// reference loops run.
    mod pooled {
        input: Tensor<2, 9, 29>,
        conv1: Conv2d<2, 4, 3, 1, 1>,
        relu1: Relu,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<4, 8, 5, 2, 1>,
        relu2: Relu,
        pool2: MaxPool2d<2>,
        conv3: Conv2d<8, 4, 3, 1, 2>,
        relu3: Relu,
        pool3: MaxPool2d<2>,
        dense: Dense<8, 5>,
        softmax: Softmax,
    }
}

network! {
    mod pooled_apart {
        input: Tensor<2, 9, 29>,
        conv1: Conv2d<2, 4, 3, 1, 1>,
        relu1: constnet::Relu,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<4, 8, 5, 2, 1>,
        relu2: constnet::Relu,
        pool2: MaxPool2d<2>,
        conv3: Conv2d<8, 4, 3, 1, 2>,
        relu3: constnet::Relu,
        pool3: MaxPool2d<2>,
        dense: Dense<8, 5>,
        softmax: Softmax,
    }
}

network! {
    /// A fused layer, then dropout (the step draws from its generator).
    mod dropped {
        input: Tensor<2, 7, 5>,
        conv: Conv2d<2, 3, 3, 1, 1>,
        relu: Relu,
        pool: MaxPool2d<2>,
        drop: Dropout<30>,
        dense: Dense<36, 5>,
        softmax: Softmax,
    }
}

network! {
    mod dropped_apart {
        input: Tensor<2, 7, 5>,
        conv: Conv2d<2, 3, 3, 1, 1>,
        relu: constnet::Relu,
        pool: MaxPool2d<2>,
        drop: Dropout<30>,
        dense: Dense<36, 5>,
        softmax: Softmax,
    }
}

network! {
    /// A convolution and a ReLU with nothing after them but the output
    /// layer: folded (the ReLU's output is the logits). (Below: a
    /// convolution, ReLU and pooling that end the network: the convolution
    /// and its ReLU are folded, the pooling, with nothing after it, stays
    /// a layer.)
    mod tail {
        input: Tensor<1, 4, 4>,
        conv: Conv2d<1, 3, 3, 1, 1>,
        relu: Relu,
        softmax: Softmax,
    }
}

network! {
    mod end {
        input: Tensor<1, 4, 4>,
        conv: Conv2d<1, 3, 3, 1, 1>,
        relu: Relu,
        pool: MaxPool2d<2>,
    }
}

/// Fills with values in -1..1, a quarter of them 0 (ties in the windows,
/// ReLU's kink).
fn fill(v: &mut [f32], rng: &mut SmallRng) {
    for x in v {
        *x = if rng.random_range(0..4) == 0 { 0.0 } else { rng.random_range(-1.0..1.0) };
    }
}

fn same(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.to_bits(), y.to_bits(), "{what}[{i}]: {x} vs {y}");
    }
}

/// The folded network `$f` against the one with its layers apart `$a`:
/// forward on a batch of 3, then backward from the output and from the
/// logits, added and overwritten; `$entry => $apart` pairs an activation
/// of `$f` with the one of `$a` it stands for (a fused layer's output is
/// its pooling's or its ReLU's).
macro_rules! folded_matches_apart {
    ($f:ident, $a:ident, $seed:expr; $($entry:ident => $apart:ident),+) => {{
        let mut rng = SmallRng::seed_from_u64($seed);
        let mut net = $f::Params::boxed_zeroed();
        net.init(Init::He, &mut rng);
        fill(&mut net.as_flat_mut()[..], &mut rng);
        let mut apart = $a::Params::boxed_zeroed();
        apart.as_flat_mut().copy_from_slice(net.as_flat());
        let mut x = <[$f::Input; 3]>::boxed_zeroed();
        fill(x.as_flat_mut(), &mut rng);
        let (mut ws, mut wa) = ($f::Workspace::<3>::boxed_zeroed(), $a::Workspace::<3>::boxed_zeroed());
        net.forward(&x, &mut ws, &mut Mode::Infer);
        apart.forward(&x, &mut wa, &mut Mode::Infer);
        same("output", $f::Params::output(&ws).as_flat(), $a::Params::output(&wa).as_flat());
        same("logits", $f::Params::logits(&ws).as_flat(), $a::Params::logits(&wa).as_flat());
        $(same(stringify!($entry), ws.act.$entry.as_flat(), wa.act.$apart.as_flat());)+
        let mut infer = $f::Workspace::<3>::boxed_zeroed();
        net.infer(&x, &mut infer);
        same("infer", $f::Params::output(&infer).as_flat(), $a::Params::output(&wa).as_flat());
        for from in [BackFrom::Output, BackFrom::Logits] {
            for grad in [Grad::Add, Grad::Overwrite] {
                let (mut df, mut da) = ($f::Activations::<3>::boxed_zeroed(), $a::Activations::<3>::boxed_zeroed());
                let mut start = <[$f::Output; 3]>::boxed_zeroed();
                fill(start.as_flat_mut(), &mut rng);
                $f::Params::output_grad(&mut df).as_flat_mut().copy_from_slice(start.as_flat());
                $a::Params::output_grad(&mut da).as_flat_mut().copy_from_slice(start.as_flat());
                let mut logits = <[$f::Logits; 3]>::boxed_zeroed();
                fill(logits.as_flat_mut(), &mut rng);
                $f::Params::logits_grad(&mut df).as_flat_mut().copy_from_slice(logits.as_flat());
                $a::Params::logits_grad(&mut da).as_flat_mut().copy_from_slice(logits.as_flat());
                let (mut gf, mut ga) = ($f::Params::boxed_zeroed(), $a::Params::boxed_zeroed());
                // Added onto 0.25; overwritten over NaN.
                let old = if grad == Grad::Add { 0.25 } else { f32::NAN };
                gf.as_flat_mut().fill(old);
                ga.as_flat_mut().fill(old);
                net.backward(&x, &mut ws, &mut df, &mut gf, from, grad);
                apart.backward(&x, &mut wa, &mut da, &mut ga, from, grad);
                let at = format!("{from:?}, {grad:?}");
                same(&format!("{at}: parameter gradients"), gf.as_flat(), ga.as_flat());
                assert!(gf.as_flat().iter().all(|v| v.is_finite()), "{at}: every gradient written");
                $(same(&format!("{at}: d{}", stringify!($entry)), df.$entry.as_flat(), da.$apart.as_flat());)+
            }
        }
    }};
}

#[test]
fn the_plain_declarations_are_folded() {
    let net = odd::Params::boxed_zeroed();
    let _: &ConvReluPool<Conv2d<2, 3, 3, 1, 1>, 7, 5> = &net.conv1;
    let _: &ConvReluPool<Conv2d<3, 4, 3, 1, 1>, 4, 3> = &net.conv2;
    let names: Vec<_> = odd::Params::LAYERS.iter().map(|l| l.name).collect();
    assert_eq!(names, ["conv1", "conv2", "dense", "softmax"]);
    let apart: Vec<_> = odd_apart::Params::LAYERS.iter().map(|l| l.name).collect();
    assert_eq!(apart.len(), 8);
    let net = convrelu::Params::boxed_zeroed();
    let _: &ConvRelu<Conv2d<1, 2, 3, 1, 1, false>, 9, 7> = &net.conv1;
    let _: &ConvReluPool<Conv2d<3, 2, 3, 1, 1>, 9, 7> = &net.conv3;
    let _: &Dense<40, 4> = &net.dense; // a dense layer's ReLU stays apart
    let _: &ConvRelu<Conv2d<1, 3, 3, 1, 1>, 4, 4> = &tail::Params::zeroed().conv;
    // Nothing after the pooling: the convolution and its ReLU alone.
    let _: &ConvRelu<Conv2d<1, 3, 3, 1, 1>, 4, 4> = &end::Params::zeroed().conv;
    let _: &MaxPool2d<2> = &end::Params::zeroed().pool;
    // The parameters keep the convolution's names, and the fused layer
    // derefs to it.
    let mut seen = Vec::new();
    odd::Params::zeroed().visit(&mut |layer, t| seen.push(format!("{layer}.{}", t.name)));
    assert_eq!(seen, ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "dense.weight", "dense.bias"]);
    assert_eq!(net.conv1.weight.len(), 2);
}

#[test]
fn folded_networks_give_the_bits_of_the_layers_apart() {
    folded_matches_apart!(odd, odd_apart, 1; conv1 => pool1, conv2 => pool2, dense => dense);
    folded_matches_apart!(convrelu, convrelu_apart, 2; conv1 => relu1, conv2 => relu2, conv3 => pool, dense => dense, relu4 => relu4);
    folded_matches_apart!(pooled, pooled_apart, 3; conv1 => pool1, conv2 => pool2, conv3 => pool3);
    folded_matches_apart!(dropped, dropped_apart, 4; conv => pool, drop => drop);
}

/// `train_step` on the folded network and on the one with its layers
/// apart: the same losses, gradients and parameters, bit for bit, after
/// four steps (dropout drawing from generators seeded alike).
#[test]
fn train_steps_match_the_layers_apart() {
    use constnet::optim::Sgd;
    use constnet::train::{SoftmaxCrossEntropy, TrainState, train_step};
    let mut rng = SmallRng::seed_from_u64(16);
    let mut net = dropped::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut apart = dropped_apart::Params::boxed_zeroed();
    apart.as_flat_mut().copy_from_slice(net.as_flat());
    let (mut st, mut st_apart) = (TrainState::<dropped::Params, 3>::boxed_zeroed(), TrainState::boxed_zeroed());
    let (mut opt, mut opt_apart) = (Sgd::new(0.1), Sgd::new(0.1));
    let (mut rng_net, mut rng_apart) = (SmallRng::seed_from_u64(17), SmallRng::seed_from_u64(17));
    for step in 0..4 {
        let mut x = <[dropped::Input; 3]>::boxed_zeroed();
        fill(x.as_flat_mut(), &mut rng);
        let y = [step % 5, (step + 2) % 5, 4];
        let got = train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng_net).unwrap();
        let want = train_step(&mut *apart, &x, &y, SoftmaxCrossEntropy, &mut opt_apart, &mut st_apart, &mut rng_apart)
            .unwrap();
        assert_eq!(got.loss.to_bits(), want.loss.to_bits(), "step {step}: loss");
        same(&format!("step {step}: gradients"), st.grads.as_flat(), st_apart.grads.as_flat());
        same(&format!("step {step}: parameters"), net.as_flat(), apart.as_flat());
    }
    assert!(net.as_flat().iter().all(|v| v.is_finite()));
    let _ = Relu; // the literal name folded above is the crate's
}
