//! Training end to end on synthetic data: networks learn a separable task,
//! freezing works, and training is bit-identical for the same seed.

use constnet::optim::{Adam, Optimizer, Sgd};
use constnet::train::{
    Bce, BceWithLogits, Loss, SoftmaxCrossEntropy, StepResult, TrainState, evaluate, train_step, train_step_accumulated,
};
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
        train_step(&mut *net, &x, &[v as u8 as f32], BceWithLogits, &mut opt, &mut st, &mut rng).unwrap();
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
        train_step(&mut *net, &batch(&mut rng), &y, SoftmaxCrossEntropy, opt, &mut st, &mut rng).unwrap();
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

/// Compares `train_step` on a mini-batch of 6 with `train_step_accumulated`
/// on the same 6 samples as 3 micro-batches of 2, from the same weights:
/// the same loss and count, the summed gradient equal to the whole batch's
/// (up to the order of float additions), and the same update.
fn accumulated_matches_whole<P: Network, L: Loss<P> + Copy>(
    x: &[P::Input; 6],
    y: &[L::Target; 6],
    loss: L,
    init: Init,
) -> (StepResult, StepResult) {
    let mut rng = SmallRng::seed_from_u64(9);
    let mut whole = P::boxed_zeroed();
    whole.init(init, &mut rng);
    let mut parts = P::boxed_zeroed();
    parts.as_flat_mut().copy_from_slice(whole.as_flat());
    let mut st6 = TrainState::<P, 6>::boxed_zeroed();
    let mut st2 = TrainState::<P, 2>::boxed_zeroed();
    let mut sum = P::boxed_zeroed();
    sum.as_flat_mut().fill(f32::NAN); // overwritten, never read
    let a = train_step(&mut *whole, x, y, loss, &mut Sgd::new(0.1), &mut st6, &mut rng).unwrap();
    let (xs, ys) = (x.as_chunks::<2>().0, y.as_chunks::<2>().0);
    let b =
        train_step_accumulated(&mut *parts, xs, ys, loss, &mut Sgd::new(0.1), &mut st2, &mut sum, &mut rng).unwrap();
    let close = |what: &str, u: &[f32], v: &[f32]| {
        for (i, (p, q)) in u.iter().zip(v).enumerate() {
            assert!((p - q).abs() <= 1e-6 * (1.0 + q.abs()), "{what}[{i}]: accumulated {p} vs whole {q}");
        }
    };
    close("gradient", sum.as_flat(), st6.grads.as_flat());
    close("weights", parts.as_flat(), whole.as_flat());
    assert!((a.loss - b.loss).abs() <= 1e-6 * a.loss.abs(), "loss {} vs {}", b.loss, a.loss);
    assert_eq!(a.correct, b.correct);
    (a, b)
}

#[test]
fn an_accumulated_step_is_the_step_on_the_whole_batch() {
    let mut rng = SmallRng::seed_from_u64(3);
    let x: [Tensor<1, 28, 28>; 6] = std::array::from_fn(|i| bar(&mut rng, i % 2 == 0));
    // Softmax cross-entropy from the logits (fashion10), ...
    let (a, _) =
        accumulated_matches_whole::<fashion10::Params, _>(&x, &[0, 1, 2, 3, 4, 5], SoftmaxCrossEntropy, Init::He);
    assert!(a.loss > 0.0);
    // ... a log-loss on the sigmoid's output (seed 1: the output gradient
    // is scaled, not the logits').
    let y = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
    accumulated_matches_whole::<seed1::Params, _>(&x, &y, Bce, Init::Normal(0.05));
    accumulated_matches_whole::<seed1::Params, _>(&x, &y, BceWithLogits, Init::Normal(0.05));
}

#[test]
#[should_panic(expected = "2 micro-batches of inputs, 1 of targets")]
fn an_accumulated_step_needs_a_target_per_sample() {
    let mut net = seed1::Params::boxed_zeroed();
    let (mut st, mut sum) = (TrainState::<seed1::Params, 1>::boxed_zeroed(), seed1::Params::boxed_zeroed());
    let x = [[Tensor::zeroed()], [Tensor::zeroed()]];
    let mut rng = SmallRng::seed_from_u64(0);
    train_step_accumulated(&mut *net, &x, &[[1.0]], Bce, &mut Sgd::new(0.1), &mut st, &mut sum, &mut rng).unwrap();
}
