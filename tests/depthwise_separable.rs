//! A depthwise-separable block in a network (MobileNet's: depthwise 3x3,
//! batch norm, an activation, then a pointwise `Conv2d<_, _, 1, 0, 1>`;
//! SiLU, smooth, so that finite differences cross no kink): shapes
//! inferred, PyTorch's state_dict names and shapes, the whole backward
//! pass against central differences, and training on it learns.

use constnet::gradcheck::compare;
use constnet::loss::softmax_cross_entropy_batch;
use constnet::{
    BackFrom, BatchNorm2d, Conv2d, DepthwiseConv2d, Flat, GlobalAvgPool2d, Grad, GroupConv2d, Init, Mode, Network,
    Silu, Softmax, Tensor, network,
};
use rand::SeedableRng;
use rand::rngs::SmallRng;

network! {
    /// A stem, one depthwise-separable block with stride 2, a grouped
    /// convolution, global pooling and a classifier.
    mod separable {
        input: Tensor<2, 9, 8>,
        stem: Conv2d<2, 4, 3, 1, 1>,
        act0: Silu,
        dw: DepthwiseConv2d<4, 3, 1, 2, false>,
        bn1: BatchNorm2d<4>,
        act1: Silu,
        pw: Conv2d<4, 6, 1, 0, 1, false>,
        act2: Silu,
        grouped: GroupConv2d<6, 4, 2, 3, 3, 1>,
        gap: GlobalAvgPool2d,
        dense: constnet::Dense<4, 3>,
        out: Softmax,
    }
}

#[test]
fn shapes_and_state_dict_names() {
    let l = separable::Params::LAYERS;
    assert_eq!(l[2].out, [4, 5, 4]); // stride 2: 9 x 8 -> 5 x 4
    assert_eq!(l[5].out, [6, 5, 4]);
    let net = separable::Params::zeroed();
    let mut seen = Vec::new();
    net.visit(&mut |layer, t| seen.push(format!("{layer}.{}: {:?}", t.name, t.shape)));
    for want in
        ["dw.weight: [4, 1, 3, 3]", "pw.weight: [6, 4, 1, 1]", "grouped.weight: [4, 3, 3, 3]", "grouped.bias: [4]"]
    {
        assert!(seen.iter().any(|s| s == want), "{want} in {seen:?}");
    }
    assert!(!seen.iter().any(|s| s.starts_with("dw.bias")), "{seen:?}");
}

/// The whole network's backward pass (in inference mode, so batch norm
/// is an affine map) against central differences of its loss.
#[test]
fn backward_matches_finite_differences() {
    let mut rng = SmallRng::seed_from_u64(11);
    let mut net = separable::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let x: [Tensor<2, 9, 8>; 2] =
        core::array::from_fn(|b| Tensor::from_fn(|c, i, j| ((b * 5 + c * 3 + i * 7 + j * 2) % 11) as f32 / 8.0 - 0.6));
    let y = [2, 0];
    let loss = |p: &[f32]| {
        let mut n = separable::Params::boxed_zeroed();
        n.as_flat_mut().copy_from_slice(p);
        let mut ws = separable::Workspace::<2>::boxed_zeroed();
        n.forward(&x, &mut ws, &mut Mode::Infer);
        softmax_cross_entropy_batch(separable::Params::logits(&ws), &y, &mut [Tensor::zeroed(); 2]) as f64
    };
    let mut ws = separable::Workspace::<2>::boxed_zeroed();
    let mut delta = separable::Activations::<2>::boxed_zeroed();
    let mut grads = separable::Params::boxed_zeroed();
    net.forward(&x, &mut ws, &mut Mode::Infer);
    softmax_cross_entropy_batch(separable::Params::logits(&ws), &y, separable::Params::logits_grad(&mut delta));
    net.backward(&x, &mut ws, &mut delta, &mut grads, BackFrom::Logits, Grad::Overwrite);
    let flat: Vec<f32> = net.as_flat().to_vec();
    for l in separable::Params::LAYERS.iter().filter(|l| l.len > 0 && !l.name.starts_with("bn")) {
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

/// Training on the block learns: three patterns told apart.
#[test]
fn trains() {
    use constnet::optim::Sgd;
    use constnet::train::{SoftmaxCrossEntropy, TrainState, train_step};
    let mut rng = SmallRng::seed_from_u64(4);
    let mut net = separable::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let x: [Tensor<2, 9, 8>; 6] = core::array::from_fn(|b| {
        Tensor::from_fn(|c, i, j| match b % 3 {
            0 => (i % 2) as f32,
            1 => (j % 2) as f32,
            _ => c as f32,
        })
    });
    let y = [0, 1, 2, 0, 1, 2];
    let (mut st, mut opt) = (TrainState::<separable::Params, 6>::boxed_zeroed(), Sgd::new(0.1));
    let first = train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut *st, &mut rng).unwrap();
    let mut last = first;
    for _ in 0..300 {
        last = train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut *st, &mut rng).unwrap();
    }
    assert!(last.loss < first.loss / 4.0 && last.correct == 6, "{first:?} -> {last:?}");
}
