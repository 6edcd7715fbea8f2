//! Networks declared with `network!`: inferred shapes, layer table,
//! backward through the whole network against finite differences.

mod common;
use common::{fashion10, seed1};
use constnet::gradcheck::{check_scalar, compare};
use constnet::loss::{bce_with_logits_batch, softmax_cross_entropy_batch};
use constnet::{AvgPool2d, BackFrom, Conv2d, Dense, Flat, Grad, Init, Mode, Network, Softmax, Tanh, Tensor, network};
use rand::SeedableRng;
use rand::rngs::SmallRng;

#[test]
fn shapes_are_inferred_from_the_input() {
    // Each alias was computed by the compiler from the layer list.
    // conv1, relu1 and pool1 are one layer, `conv1` (a `ConvReluPool`).
    assert_eq!(<fashion10::conv1::Out>::LEN, 8 * 14 * 14);
    assert_eq!(<fashion10::conv2::Out>::LEN, 16 * 7 * 7);
    assert_eq!(<fashion10::Output>::LEN, 10);
    assert_eq!(<seed1::Logits>::LEN, 1);
    let names: Vec<_> = fashion10::Params::LAYERS.iter().map(|l| (l.name, l.len)).collect();
    assert_eq!(names, [("conv1", 8 * 9 + 8), ("conv2", 16 * 8 * 9 + 16), ("dense", 7840 + 10), ("softmax", 0)]);
    assert_eq!(seed1::Params::zeroed().num_params(), 9 + 784, "bias storage of BIAS = false layers is not a parameter");
    // Offsets tile the flat parameter view.
    let mut end = 0;
    for l in fashion10::Params::LAYERS {
        assert_eq!(l.offset, end, "layer {}", l.name);
        end += l.len;
    }
    assert_eq!(end, fashion10::Params::LEN);
}

#[test]
fn visit_names_tensors_like_pytorch_state_dict() {
    let net = fashion10::Params::zeroed();
    let mut seen = Vec::new();
    net.visit(&mut |layer, t| seen.push(format!("{layer}.{} {:?}", t.name, t.shape)));
    assert_eq!(
        seen,
        [
            "conv1.weight [8, 1, 3, 3]",
            "conv1.bias [8]",
            "conv2.weight [16, 8, 3, 3]",
            "conv2.bias [16]",
            "dense.weight [10, 784]",
            "dense.bias [10]"
        ]
    );
    let mut seen = Vec::new();
    seed1::Params::zeroed().visit(&mut |layer, t| seen.push(format!("{layer}.{}", t.name)));
    assert_eq!(seen, ["conv.weight", "dense.weight"], "no bias tensors when BIAS = false");
}

/// Loss of the fashion10 network on a batch, as a function of its flat parameters.
fn fashion10_loss(params: &[f32], x: &[Tensor<1, 28, 28>; 2], y: &[usize; 2]) -> f64 {
    let mut net = fashion10::Params::boxed_zeroed();
    net.as_flat_mut().copy_from_slice(params);
    let mut ws = fashion10::Workspace::<2>::boxed_zeroed();
    net.forward(x, &mut ws, &mut Mode::Infer);
    let mut d = [Tensor::zeroed(); 2];
    softmax_cross_entropy_batch(fashion10::Params::logits(&ws), y, &mut d) as f64
}

#[test]
fn whole_network_backward_matches_finite_differences() {
    let mut rng = SmallRng::seed_from_u64(3);
    let mut net = fashion10::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let x: [Tensor<1, 28, 28>; 2] = [
        Tensor::from_fn(|_, y, x| ((y * 7 + x * 3) % 11) as f32 / 5.0 - 1.0),
        Tensor::from_fn(|_, y, x| ((x * y) % 7) as f32 / 3.0 - 1.0),
    ];
    let y = [3, 7];
    let mut ws = fashion10::Workspace::<2>::boxed_zeroed();
    let mut delta = fashion10::Activations::<2>::boxed_zeroed();
    let mut grads = fashion10::Params::boxed_zeroed();
    net.forward(&x, &mut ws, &mut Mode::Infer);
    softmax_cross_entropy_batch(fashion10::Params::logits(&ws), &y, fashion10::Params::logits_grad(&mut delta));
    net.backward(&x, &mut ws, &mut delta, &mut grads, BackFrom::Logits, Grad::Add);

    // Spot-check parameters of every trainable layer (a full check of 9 000 would be slow).
    let flat: Vec<f32> = net.as_flat().to_vec();
    for l in fashion10::Params::LAYERS.iter().filter(|l| l.len > 0) {
        for k in [0, l.len / 3, l.len / 2, l.len - 1] {
            let i = l.offset + k;
            let mut p = flat.clone();
            let eps = 1e-3;
            p[i] += eps;
            let up = fashion10_loss(&p, &x, &y);
            p[i] -= 2.0 * eps;
            let down = fashion10_loss(&p, &x, &y);
            compare(&format!("{}[{k}]", l.name), grads.as_flat()[i] as f64, (up - down) / (2.0 * eps as f64)).unwrap();
        }
    }
}

network! {
    /// LeNet-5 with tanh and 2x2 average pooling (the vector tanh and
    /// average-pooling kernels inside a network).
    mod lenet5 {
        input: Tensor<1, 28, 28>,
        conv1: Conv2d<1, 6, 5, 2, 1>,
        tanh1: Tanh,
        pool1: AvgPool2d<2>,
        conv2: Conv2d<6, 16, 5, 0, 1>,
        tanh2: Tanh,
        pool2: AvgPool2d<2>,
        dense1: Dense<400, 120>,
        tanh3: Tanh,
        dense2: Dense<120, 84>,
        tanh4: Tanh,
        dense3: Dense<84, 10>,
        softmax: Softmax,
    }
}

/// LeNet-5's backward pass (tanh through its output, average pooling
/// spreading the gradient) against central differences of its loss, at
/// parameters of every trainable layer.
#[test]
fn lenet5_backward_matches_finite_differences() {
    let mut rng = SmallRng::seed_from_u64(5);
    let mut net = lenet5::Params::boxed_zeroed();
    net.init(Init::Xavier, &mut rng);
    let x: [Tensor<1, 28, 28>; 2] = [
        Tensor::from_fn(|_, y, x| ((y * 7 + x * 3) % 11) as f32 / 5.0 - 1.0),
        Tensor::from_fn(|_, y, x| ((x * y) % 7) as f32 / 3.0 - 1.0),
    ];
    let y = [3, 7];
    let loss = |p: &[f32]| {
        let mut n = lenet5::Params::boxed_zeroed();
        n.as_flat_mut().copy_from_slice(p);
        let mut ws = lenet5::Workspace::<2>::boxed_zeroed();
        n.forward(&x, &mut ws, &mut Mode::Infer);
        softmax_cross_entropy_batch(lenet5::Params::logits(&ws), &y, &mut [Tensor::zeroed(); 2]) as f64
    };
    let mut ws = lenet5::Workspace::<2>::boxed_zeroed();
    let mut delta = lenet5::Activations::<2>::boxed_zeroed();
    let mut grads = lenet5::Params::boxed_zeroed();
    net.forward(&x, &mut ws, &mut Mode::Infer);
    softmax_cross_entropy_batch(lenet5::Params::logits(&ws), &y, lenet5::Params::logits_grad(&mut delta));
    net.backward(&x, &mut ws, &mut delta, &mut grads, BackFrom::Logits, Grad::Add);
    let flat: Vec<f32> = net.as_flat().to_vec();
    for l in lenet5::Params::LAYERS.iter().filter(|l| l.len > 0) {
        for k in [0, l.len / 3, l.len / 2, l.len - 1] {
            let i = l.offset + k;
            let (mut p, eps) = (flat.clone(), 1e-3);
            p[i] += eps;
            let up = loss(&p);
            p[i] -= 2.0 * eps;
            let down = loss(&p);
            compare(&format!("{}[{k}]", l.name), grads.as_flat()[i] as f64, (up - down) / (2.0 * eps as f64)).unwrap();
        }
    }
}

#[test]
fn seed1_backward_matches_finite_differences_for_every_parameter() {
    let mut rng = SmallRng::seed_from_u64(4);
    let mut net = seed1::Params::zeroed();
    net.init(Init::Normal(0.1), &mut rng);
    let x = [Tensor::<1, 28, 28>::from_fn(|_, y, x| ((y * 5 + x * 3) % 13) as f32 / 6.0 - 1.0)];
    let mut ws = seed1::Workspace::<1>::zeroed();
    let mut delta = seed1::Activations::<1>::zeroed();
    let mut grads = seed1::Params::zeroed();
    net.forward(&x, &mut ws, &mut Mode::Infer);
    bce_with_logits_batch(seed1::Params::logits(&ws), &[1.0], seed1::Params::logits_grad(&mut delta));
    net.backward(&x, &mut ws, &mut delta, &mut grads, BackFrom::Logits, Grad::Add);
    let loss = |p: &[f32]| {
        let mut n = seed1::Params::zeroed();
        n.as_flat_mut().copy_from_slice(p);
        let mut ws = seed1::Workspace::<1>::zeroed();
        n.forward(&x, &mut ws, &mut Mode::Infer);
        bce_with_logits_batch(seed1::Params::logits(&ws), &[1.0], &mut [Tensor::zeroed()]) as f64
    };
    check_scalar("seed1 dL/dθ", loss, net.as_flat(), grads.as_flat(), 1e-3).unwrap();
}

#[test]
fn backward_through_sigmoid_equals_fused_backward() {
    // bce on the probability through the Sigmoid layer == bce_with_logits on the logits.
    let mut rng = SmallRng::seed_from_u64(5);
    let mut net = seed1::Params::zeroed();
    net.init(Init::Normal(0.05), &mut rng);
    let x = [Tensor::<1, 28, 28>::from_fn(|_, y, x| ((y + 2 * x) % 5) as f32 - 2.0)];
    let mut ws = seed1::Workspace::<1>::zeroed();
    net.forward(&x, &mut ws, &mut Mode::Infer);
    let (mut d1, mut d2) = (seed1::Activations::<1>::zeroed(), seed1::Activations::<1>::zeroed());
    let (mut g1, mut g2) = (seed1::Params::zeroed(), seed1::Params::zeroed());
    constnet::loss::bce_batch(seed1::Params::output(&ws), &[0.0], seed1::Params::output_grad(&mut d1));
    net.backward(&x, &mut ws, &mut d1, &mut g1, BackFrom::Output, Grad::Add);
    bce_with_logits_batch(seed1::Params::logits(&ws), &[0.0], seed1::Params::logits_grad(&mut d2));
    net.backward(&x, &mut ws, &mut d2, &mut g2, BackFrom::Logits, Grad::Add);
    for (a, b) in g1.as_flat().iter().zip(g2.as_flat()) {
        compare("through sigmoid vs fused", *a as f64, *b as f64).unwrap();
    }
}

constnet::network! {
    /// A last layer with parameters, which `from_logits` skips.
    mod two_dense {
        input: Tensor<4, 1, 1>,
        d1: Dense<4, 3>,
        d2: Dense<3, 2>,
    }
}

#[test]
fn overwriting_gradients_equals_adding_them_to_zero() {
    // Stale gradients (NaN) must be neither read nor left behind: the
    // result equals zeroed gradients plus `backward`, to the bit.
    let mut rng = SmallRng::seed_from_u64(6);
    let mut net = fashion10::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let x: Box<[Tensor<1, 28, 28>; 32]> = Box::new(core::array::from_fn(|s| {
        Tensor::from_fn(|_, y, x| ((y * 3 + x * 7 + s * 5) % 17) as f32 / 8.0 - 1.0)
    }));
    let mut ws = fashion10::Workspace::<32>::boxed_zeroed();
    net.forward(&x, &mut ws, &mut Mode::Infer);
    for from_logits in [false, true] {
        let (mut d1, mut d2) =
            (fashion10::Activations::<32>::boxed_zeroed(), fashion10::Activations::<32>::boxed_zeroed());
        let target: [usize; 32] = core::array::from_fn(|s| s % 10);
        for d in [&mut d1, &mut d2] {
            if from_logits {
                softmax_cross_entropy_batch(fashion10::Params::logits(&ws), &target, fashion10::Params::logits_grad(d));
            } else {
                fashion10::Params::output_grad(d)
                    .as_flat_mut()
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, v)| *v = (i % 7) as f32 - 3.0);
            }
        }
        let mut added = fashion10::Params::boxed_zeroed();
        if from_logits {
            net.backward(&x, &mut ws, &mut d1, &mut added, BackFrom::Logits, Grad::Add);
        } else {
            net.backward(&x, &mut ws, &mut d1, &mut added, BackFrom::Output, Grad::Add);
        }
        let mut overwritten = fashion10::Params::boxed_zeroed();
        overwritten.as_flat_mut().fill(f32::NAN);
        net.backward(
            &x,
            &mut ws,
            &mut d2,
            &mut overwritten,
            if from_logits { BackFrom::Logits } else { BackFrom::Output },
            Grad::Overwrite,
        );
        assert!(added.as_flat() == overwritten.as_flat(), "fashion10, from_logits {from_logits}");
        assert!(d1.as_flat() == d2.as_flat());
    }

    let mut net = two_dense::Params::zeroed();
    net.init(Init::He, &mut rng);
    let x = [Tensor::<4, 1, 1>::from_fn(|c, _, _| c as f32 - 1.5)];
    let mut ws = two_dense::Workspace::<1>::zeroed();
    net.forward(&x, &mut ws, &mut Mode::Infer);
    let mut d = two_dense::Activations::<1>::zeroed();
    two_dense::Params::logits_grad(&mut d)[0].as_flat_mut().copy_from_slice(&[0.5, -1.0, 2.0]);
    let mut g = two_dense::Params::zeroed();
    g.as_flat_mut().fill(f32::NAN);
    net.backward(&x, &mut ws, &mut d, &mut g, BackFrom::Logits, Grad::Overwrite);
    assert!(g.d2.as_flat().iter().all(|&v| v == 0.0), "the skipped last layer's gradients are zero");
    assert!(g.d1.as_flat().iter().all(|v| v.is_finite()) && g.d1.as_flat().iter().any(|&v| v != 0.0));
}

/// The summary lists every layer with its output shape and parameter
/// count, which add up to the network's; its byte counts are the types'.
#[test]
fn summary_lists_layers_shapes_parameters_and_memory() {
    use constnet::Summary;
    use constnet::train::TrainState;
    use constnet::zoo::tfconv;
    let s = Summary::<tfconv::Params, 32>::new();
    let layers = tfconv::Params::LAYERS;
    assert_eq!(layers.iter().map(|l| l.len).sum::<usize>(), tfconv::Params::LEN);
    assert_eq!(s.params(), 3_274_634);
    let shapes: Vec<_> = layers.iter().map(|l| (l.name, l.out)).collect();
    assert_eq!(
        shapes,
        [
            ("conv1", [32, 14, 14]),
            ("conv2", [64, 7, 7]),
            ("dense1", [1024, 1, 1]),
            ("relu3", [1024, 1, 1]),
            ("dropout", [1024, 1, 1]),
            ("dense2", [10, 1, 1]),
            ("softmax", [10, 1, 1])
        ]
    );
    assert_eq!(s.param_bytes(), 4 * 3_274_634);
    assert_eq!(s.train_state_bytes(), std::mem::size_of::<TrainState<tfconv::Params, 32>>());
    assert_eq!(s.infer_bytes(), std::mem::size_of::<<tfconv::Params as Network>::Workspace<1>>());
    let text = s.to_string();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        [
            "conv1",
            "Conv2d<1,",
            "32,",
            "5,",
            "2,",
            "1>",
            "+",
            "relu1:",
            "Relu",
            "+",
            "pool1:",
            "MaxPool2d<2>",
            "32",
            "x",
            "14",
            "x",
            "14",
            "832"
        ]
    );
    assert!(lines[3].starts_with("dense1") && lines[3].ends_with("3,212,288"), "{text}");
    assert!(text.contains("total: 3,274,634 parameters"), "{text}");
    assert!(text.contains("parameters: 13,098,536 B (12.5 MiB)"), "{text}");
}

constnet::network! {
    /// A convolution then global average pooling, as ResNet ends.
    mod gap_net {
        input: Tensor<1, 6, 6>,
        conv: constnet::Conv2d<1, 4, 3, 1, 1>,
        relu: constnet::Relu,
        gap: constnet::GlobalAvgPool2d,
        dense: constnet::Dense<4, 2>,
        out: constnet::Softmax,
    }
}

/// `GlobalAvgPool2d` in a network: `C x 1 x 1` out, and training on it
/// learns (bright images against dark ones).
#[test]
fn global_average_pooling_trains_in_a_network() {
    use constnet::optim::Sgd;
    use constnet::train::{SoftmaxCrossEntropy, TrainState, train_step};
    use rand::SeedableRng;
    assert_eq!(gap_net::Params::LAYERS[2].out, [4, 1, 1]);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(4);
    let mut net = gap_net::Params::zeroed();
    net.init(constnet::Init::He, &mut rng);
    let x: [Tensor<1, 6, 6>; 4] =
        core::array::from_fn(|b| Tensor::from_fn(|_, i, j| ((b % 2) as f32) + 0.1 * ((i + j) % 3) as f32));
    let y = [0, 1, 0, 1];
    let (mut st, mut opt) = (TrainState::<gap_net::Params, 4>::zeroed(), Sgd::new(0.5));
    let first = train_step(&mut net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap();
    let mut last = first;
    for _ in 0..200 {
        last = train_step(&mut net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap();
    }
    assert!(last.loss < first.loss / 4.0 && last.correct == 4, "{first:?} -> {last:?}");
}

constnet::network! {
    /// Sequences through padded, overlapping and strided 1-D pools.
    mod pool1d_net {
        input: Tensor<2, 1, 15>,
        conv1: constnet::Conv1d<2, 4, 3, 1>,
        relu1: constnet::Relu,
        pool1: constnet::MaxPool1d<3, 1, 2>,
        conv2: constnet::Conv1d<4, 4, 3, 1>,
        relu2: constnet::Relu,
        pool2: constnet::AvgPool1d<4, 2, 3>,
        dense: constnet::Dense<12, 2>,
        out: constnet::Softmax,
    }
}

/// `MaxPool1d<K, PAD, STRIDE>` and `AvgPool1d<K, PAD, STRIDE>` in a
/// network: PyTorch's output lengths, `(L + 2·PAD - K) / STRIDE + 1`, and
/// training through them learns (a rising ramp against a falling one).
#[test]
fn padded_strided_1d_pools_train_in_a_network() {
    use constnet::optim::Sgd;
    use constnet::train::{SoftmaxCrossEntropy, TrainState, train_step};
    use rand::SeedableRng;
    assert_eq!(pool1d_net::Params::LAYERS[2].out, [4, 1, 8]); // (15 + 2 - 3) / 2 + 1
    assert_eq!(pool1d_net::Params::LAYERS[5].out, [4, 1, 3]); // (8 + 4 - 4) / 3 + 1
    let mut rng = rand::rngs::SmallRng::seed_from_u64(6);
    let mut net = pool1d_net::Params::zeroed();
    net.init(constnet::Init::He, &mut rng);
    let x: [Tensor<2, 1, 15>; 4] = core::array::from_fn(|b| {
        Tensor::from_fn(|c, _, t| {
            let ramp = if b % 2 == 0 { t as f32 } else { 14.0 - t as f32 } / 14.0;
            ramp + 0.1 * ((c + b + t) % 3) as f32
        })
    });
    let y = [0, 1, 0, 1];
    let (mut st, mut opt) = (TrainState::<pool1d_net::Params, 4>::zeroed(), Sgd::new(0.2));
    let first = train_step(&mut net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap();
    let mut last = first;
    for _ in 0..200 {
        last = train_step(&mut net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap();
    }
    assert!(last.loss < first.loss / 4.0 && last.correct == 4, "{first:?} -> {last:?}");
}
