//! A counting global allocator proves that inference and a full training
//! step (forward, loss, backward, optimizer) never touch the heap, on the
//! seed-1 network, on a two-conv-layer 10-class network, on a ResNet-8
//! (residual blocks, batch norm and its running statistics) and on the
//! depthwise-separable MobileNet-style network.

use constnet::optim::{Adam, Sgd};
use constnet::train::{BceWithLogits, SoftmaxCrossEntropy, TrainState, train_step, train_step_accumulated};
use constnet::zoo::{fashion10, mobilenet, resnet8, seed1};
use constnet::{Flat, Init, Network, Tensor};
use rand::SeedableRng;
use rand::rngs::SmallRng;

mod counting;

/// Counts this thread's allocations (tests run in parallel threads; each
/// measures only its own).
#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting(counting::Scope::Thread);

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    GLOBAL.allocations(f)
}

fn image(seed: usize) -> Tensor<1, 28, 28> {
    Tensor::from_fn(|_, y, x| ((y * 3 + x * 7 + seed) % 17) as f32 / 8.0 - 1.0)
}

#[test]
fn the_counter_counts() {
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![1u8; 16]))), 1);
}

#[test]
fn seed1_inference_and_training_step_allocate_nothing() {
    let mut rng = SmallRng::seed_from_u64(1);
    let mut net = seed1::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut ws = seed1::Workspace::<1>::boxed_zeroed();
    let mut st = TrainState::<seed1::Params, 1>::boxed_zeroed();
    let mut opt = Sgd::new(0.01);
    let x = [image(0)];
    let n = allocations(|| {
        for i in 0..10 {
            let class = net.classify(&image(i), &mut ws);
            std::hint::black_box(class);
            train_step(&mut *net, &x, &[1.0], BceWithLogits, &mut opt, &mut st, &mut rng).unwrap();
        }
    });
    assert_eq!(n, 0, "seed1: inference + training steps allocated {n} times");
}

#[test]
fn fashion10_batch_training_steps_with_momentum_adam_and_accumulation_allocate_nothing() {
    let mut rng = SmallRng::seed_from_u64(2);
    let mut net = fashion10::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut st = TrainState::<fashion10::Params, 8>::boxed_zeroed();
    let (mut st2, mut sum) = (TrainState::<fashion10::Params, 2>::boxed_zeroed(), fashion10::Params::boxed_zeroed());
    let mut ws = fashion10::Workspace::<1>::boxed_zeroed();
    let mut sgd = Sgd::with_momentum(0.01, 0.9, fashion10::Params::boxed_zeroed());
    let mut adam = Adam::new(1e-3, fashion10::Params::boxed_zeroed(), fashion10::Params::boxed_zeroed());
    let x: [Tensor<1, 28, 28>; 8] = std::array::from_fn(image);
    let y = [0, 1, 2, 3, 4, 5, 6, 7];
    let n = allocations(|| {
        for _ in 0..3 {
            train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut sgd, &mut st, &mut rng).unwrap();
            train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut adam, &mut st, &mut rng).unwrap();
            let (xs, ys) = (x.as_chunks::<2>().0, y.as_chunks::<2>().0);
            train_step_accumulated(&mut *net, xs, ys, SoftmaxCrossEntropy, &mut sgd, &mut st2, &mut sum, &mut rng)
                .unwrap();
            std::hint::black_box(net.classify(&x[0], &mut ws));
        }
    });
    assert_eq!(n, 0, "fashion10: training steps allocated {n} times");
}

/// The divergence checks allocate nothing either, when they find a fault:
/// a NaN input, a NaN parameter after the update, and a gradient beyond
/// Adam's limit each give their error without touching the heap.
#[test]
fn resnet8_inference_and_training_steps_allocate_nothing() {
    let mut rng = SmallRng::seed_from_u64(4);
    let mut net = resnet8::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut st = TrainState::<resnet8::Params, 4>::boxed_zeroed();
    let mut ws = resnet8::Workspace::<1>::boxed_zeroed();
    let mut adam = Adam::new(1e-3, resnet8::Params::boxed_zeroed(), resnet8::Params::boxed_zeroed());
    let x = [image(0), image(1), image(2), image(3)];
    let n = allocations(|| {
        for i in 0..3 {
            std::hint::black_box(net.classify(&image(i), &mut ws));
            train_step(&mut *net, &x, &[0, 3, 5, 9], SoftmaxCrossEntropy, &mut adam, &mut st, &mut rng).unwrap();
        }
    });
    assert_eq!(n, 0, "resnet8: inference + training steps allocated {n} times");
    assert_eq!(net.layer2_0.downsample_1.num_batches_tracked, 3.0, "the running statistics moved");
}

/// Depthwise 3x3 convolutions at stride 1 and 2, pointwise 1x1 ones,
/// ReLU6 and dropout: inference and Adam training steps on a batch.
#[test]
fn mobilenet_inference_and_training_steps_allocate_nothing() {
    let mut rng = SmallRng::seed_from_u64(5);
    let mut net = mobilenet::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut st = TrainState::<mobilenet::Params, 4>::boxed_zeroed();
    let mut ws = mobilenet::Workspace::<1>::boxed_zeroed();
    let mut adam = Adam::new(1e-3, mobilenet::Params::boxed_zeroed(), mobilenet::Params::boxed_zeroed());
    let x = [image(0), image(1), image(2), image(3)];
    let before = net.dw2.weight;
    let n = allocations(|| {
        for i in 0..3 {
            std::hint::black_box(net.classify(&image(i), &mut ws));
            train_step(&mut *net, &x, &[0, 3, 5, 9], SoftmaxCrossEntropy, &mut adam, &mut st, &mut rng).unwrap();
        }
    });
    assert_eq!(n, 0, "mobilenet: inference + training steps allocated {n} times");
    assert_ne!(net.dw2.weight, before, "the depthwise weights moved");
    assert_eq!(net.dw4_bn.num_batches_tracked, 3.0, "the running statistics moved");
}

#[test]
fn refused_steps_allocate_nothing() {
    use constnet::train::Divergence;
    let mut rng = SmallRng::seed_from_u64(4);
    let mut net = seed1::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut st = TrainState::<seed1::Params, 1>::boxed_zeroed();
    let mut sgd = Sgd::new(0.01);
    let mut adam = Adam::new(1e-3, seed1::Params::boxed_zeroed(), seed1::Params::boxed_zeroed());
    let (mut nan_x, mut huge_x) = ([image(1)], [image(2)]);
    nan_x[0].as_flat_mut()[100] = f32::NAN;
    huge_x[0].as_flat_mut().iter_mut().for_each(|v| *v *= 1e20);
    // The wrong label for the huge input, so that its gradients are huge too.
    let wrong = 1.0 - net.classify(&huge_x[0], &mut seed1::Workspace::<1>::boxed_zeroed()) as f32;
    let mut faults = Vec::with_capacity(3);
    let n = allocations(|| {
        faults.push(train_step(&mut *net, &nan_x, &[1.0], BceWithLogits, &mut sgd, &mut st, &mut rng));
        faults.push(train_step(&mut *net, &huge_x, &[wrong], BceWithLogits, &mut adam, &mut st, &mut rng));
        net.conv.weight[0][0][0][0] = f32::NAN;
        faults.push(train_step(&mut *net, &[image(3)], &[1.0], BceWithLogits, &mut sgd, &mut st, &mut rng));
    });
    assert_eq!(n, 0, "refused steps allocated {n} times");
    assert!(matches!(faults[0], Err(Divergence::Input { index: 100, .. })), "{:?}", faults[0]);
    assert!(matches!(faults[1], Err(Divergence::Gradient { .. })), "{:?}", faults[1]);
    assert!(matches!(faults[2], Err(Divergence::Parameter { layer: "conv", .. })), "{:?}", faults[2]);
}

/// The Fashion-MNIST benchmark convnet has 3.3 M parameters (13 MB): built,
/// trained and run on a thread whose whole stack is 256 KiB, so none of its
/// weights, gradients, optimizer state or activations can be on the stack.
#[test]
fn megabyte_network_never_touches_the_stack() {
    use constnet::zoo::tfconv;
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let mut rng = SmallRng::seed_from_u64(3);
            let mut net = tfconv::Params::boxed_zeroed();
            net.init(Init::He, &mut rng);
            let mut st = TrainState::<tfconv::Params, 1>::boxed_zeroed();
            let mut ws = tfconv::Workspace::<1>::boxed_zeroed();
            let mut opt = Sgd::with_momentum(0.01, 0.9, tfconv::Params::boxed_zeroed());
            let x = [image(5)];
            let n = allocations(|| {
                let s = train_step(&mut *net, &x, &[4], SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap();
                assert!(s.loss.is_finite());
                std::hint::black_box(net.classify(&x[0], &mut ws));
            });
            assert_eq!(n, 0, "tfconv: a training step allocated {n} times");
        })
        .unwrap()
        .join()
        .unwrap();
}
