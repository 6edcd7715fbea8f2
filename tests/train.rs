//! Training end to end on synthetic data: networks learn a separable task,
//! freezing works, and training is bit-identical for the same seed.

use constnet::optim::{Adam, Optimizer, Sgd};
use constnet::train::{BceWithLogits, SoftmaxCrossEntropy, TrainState, evaluate, train_step};
use constnet::zoo::{fashion10, seed1};
use constnet::{Flat, Init, Network, Tensor};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// Class 1: a bright vertical bar; class 0: a bright horizontal bar; both
/// at a random position, on Gaussian-ish noise.
fn bar(rng: &mut SmallRng, vertical: bool) -> Tensor<1, 28, 28> {
    let at = rng.random_range(4..24);
    Tensor::from_fn(|_, y, x| {
        let on = if vertical { x == at || x == at + 1 } else { y == at || y == at + 1 };
        (if on { 2.0 } else { 0.0 }) + rng.random_range(-0.5..0.5)
    })
}

fn seed1_training(freeze: Option<&str>, steps: usize) -> (Box<seed1::Params>, f32) {
    let mut rng = SmallRng::seed_from_u64(42);
    let mut net = seed1::Params::boxed_zeroed();
    net.init(Init::Normal(0.05), &mut rng);
    let mut st = TrainState::<seed1::Params, 1>::boxed_zeroed();
    let mut opt = Sgd::new(0.01);
    if let Some(layer) = freeze {
        opt.freeze::<seed1::Params>(layer).unwrap();
    }
    for _ in 0..steps {
        let v = rng.random::<bool>();
        let x = [bar(&mut rng, v)];
        train_step(&mut *net, &x, &[v as u8 as f32], BceWithLogits, &mut opt, &mut st, &mut rng);
    }
    let mut correct = 0;
    let mut ws = seed1::Workspace::<1>::boxed_zeroed();
    for i in 0..200 {
        let v = i % 2 == 0;
        correct += (net.classify(&bar(&mut rng, v), &mut ws) == v as usize) as usize;
    }
    (net, correct as f32 / 200.0)
}

#[test]
fn seed1_network_learns_bars() {
    let (_, before) = seed1_training(None, 0);
    let (_, after) = seed1_training(None, 2000);
    assert!(after >= 0.95, "accuracy after 2000 steps {after} (before {before})");
}

#[test]
fn freezing_leaves_a_layer_untouched() {
    let (init, _) = seed1_training(None, 0);
    let (conv_frozen, _) = seed1_training(Some("conv"), 300);
    assert_eq!(conv_frozen.conv, init.conv);
    assert_ne!(conv_frozen.dense, init.dense);
    let (dense_frozen, _) = seed1_training(Some("dense"), 300);
    assert_eq!(dense_frozen.dense, init.dense);
    assert_ne!(dense_frozen.conv, init.conv);
    let mut opt = Sgd::new(0.1);
    assert_eq!(opt.freeze::<seed1::Params>("pool").unwrap_err().to_string(), "the network has no layer named \"pool\"");
}

#[test]
fn training_is_bit_identical_for_the_same_seed() {
    let (a, acc_a) = seed1_training(None, 500);
    let (b, acc_b) = seed1_training(None, 500);
    assert_eq!(a.as_flat(), b.as_flat());
    assert_eq!(acc_a, acc_b);
}

/// Ten classes: class k is a bar at column 2 + 2k (vertical) — a
/// mini-batch of 10 with the two-conv network and softmax cross-entropy.
fn ten_class_run<O: Optimizer<fashion10::Params>>(opt: &mut O, steps: usize) -> (f32, f32) {
    let mut rng = SmallRng::seed_from_u64(7);
    let mut net = fashion10::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut st = TrainState::<fashion10::Params, 10>::boxed_zeroed();
    let batch = |rng: &mut SmallRng| -> [Tensor<1, 28, 28>; 10] {
        std::array::from_fn(|k| {
            Tensor::from_fn(|_, _, x| if x == 2 + 2 * k { 1.5 } else { 0.0 } + rng.random_range(-0.3..0.3))
        })
    };
    let y: [usize; 10] = std::array::from_fn(|k| k);
    let first = evaluate(&*net, &batch(&mut rng), &y, SoftmaxCrossEntropy, &mut st);
    for _ in 0..steps {
        train_step(&mut *net, &batch(&mut rng), &y, SoftmaxCrossEntropy, opt, &mut st, &mut rng);
    }
    let last = evaluate(&*net, &batch(&mut rng), &y, SoftmaxCrossEntropy, &mut st);
    assert!(last.loss < first.loss, "loss {} -> {}", first.loss, last.loss);
    (first.loss, last.correct as f32 / 10.0)
}

#[test]
fn two_conv_network_learns_ten_classes_with_sgd_momentum() {
    let mut opt = Sgd::with_momentum(0.05, 0.9, fashion10::Params::boxed_zeroed());
    let (_, acc) = ten_class_run(&mut opt, 60);
    assert!(acc >= 0.9, "accuracy {acc}");
}

#[test]
fn two_conv_network_learns_ten_classes_with_adam() {
    let mut opt = Adam::new(3e-3, fashion10::Params::boxed_zeroed(), fashion10::Params::boxed_zeroed());
    let (_, acc) = ten_class_run(&mut opt, 60);
    assert!(acc >= 0.9, "accuracy {acc}");
}
