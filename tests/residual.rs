//! Residual blocks and batch norm inside `network!`: PyTorch's nested
//! `state_dict` names, the whole network's backward pass against finite
//! differences in training mode (batch statistics) and in inference mode
//! (running statistics), the running statistics a training step moves,
//! and training.

use constnet::gradcheck::compare;
use constnet::loss::softmax_cross_entropy_batch;
use constnet::optim::Sgd;
use constnet::train::{SoftmaxCrossEntropy, TrainState, train_step};
use constnet::{
    BackFrom, BatchNorm2d, Conv2d, Dense, Flat, GlobalAvgPool2d, Grad, Init, Mode, Network, Silu, Softmax, Tensor,
    network,
};
use rand::SeedableRng;
use rand::rngs::SmallRng;

network! {
    /// A stem, an identity block, a projection block, pooling, a
    /// classifier: a ResNet's layout, with SiLU for ReLU so that finite
    /// differences see no kinks (batch norm puts many values near ReLU's).
    mod tiny {
        input: Tensor<2, 8, 8>,
        conv1: Conv2d<2, 4, 3, 1, 1, false>,
        bn1: BatchNorm2d<4>,
        act: Silu,
        layer1_0 = "layer1.0": residual {
            conv1: Conv2d<4, 4, 3, 1, 1, false>,
            bn1: BatchNorm2d<4>,
            act: Silu,
            conv2: Conv2d<4, 4, 3, 1, 1, false>,
            bn2: BatchNorm2d<4>,
        },
        act1: Silu,
        layer2_0 = "layer2.0": residual {
            conv1: Conv2d<4, 6, 3, 1, 2, false>,
            bn1: BatchNorm2d<6>,
            act: Silu,
            conv2: Conv2d<6, 6, 3, 1, 1, false>,
            bn2: BatchNorm2d<6>,
        } downsample [Conv2d<4, 6, 1, 0, 2, false>, BatchNorm2d<6>],
        act2: Silu,
        pool: GlobalAvgPool2d,
        fc: Dense<6, 3>,
        out: Softmax,
    }
}

const B: usize = 4;

fn batch() -> ([Tensor<2, 8, 8>; B], [usize; B]) {
    let x = core::array::from_fn(|b| {
        Tensor::from_fn(|c, i, j| (((b * 5 + c * 3 + i * 7 + j * 11) % 13) as f32 / 6.0 - 1.0) * (1.0 + b as f32 / 4.0))
    });
    (x, [0, 2, 1, 2])
}

fn net(seed: u64) -> Box<tiny::Params> {
    let mut net = tiny::Params::boxed_zeroed();
    net.init(Init::He, &mut SmallRng::seed_from_u64(seed));
    // Batch norm starts at γ = 1, β = 0: move them, so their gradients
    // are checked away from the initial point, and give the running
    // statistics values an inference pass can tell apart.
    let mut rng = SmallRng::seed_from_u64(seed + 1);
    net.visit_mut(&mut |_, name, _, v| {
        if name != "num_batches_tracked" && !name.ends_with("weight") || name == "weight" && v.len() <= 6 {
            for x in v.iter_mut() {
                *x += rand::RngExt::random_range(&mut rng, 0.1..0.6);
            }
        }
    });
    net
}

#[test]
fn state_dict_names_follow_pytorchs_nested_modules() {
    let net = tiny::Params::zeroed();
    let mut seen = Vec::new();
    net.visit(&mut |layer, t| seen.push(format!("{layer}.{} {:?}", t.name, t.shape)));
    let block = |p: &str, i: usize, o: usize| {
        [
            format!("{p}.conv1.weight [{o}, {i}, 3, 3]"),
            format!("{p}.bn1.weight [{o}]"),
            format!("{p}.bn1.bias [{o}]"),
            format!("{p}.bn1.running_mean [{o}]"),
            format!("{p}.bn1.running_var [{o}]"),
            format!("{p}.bn1.num_batches_tracked []"),
            format!("{p}.conv2.weight [{o}, {o}, 3, 3]"),
            format!("{p}.bn2.weight [{o}]"),
            format!("{p}.bn2.bias [{o}]"),
            format!("{p}.bn2.running_mean [{o}]"),
            format!("{p}.bn2.running_var [{o}]"),
            format!("{p}.bn2.num_batches_tracked []"),
        ]
    };
    let mut want = vec![
        "conv1.weight [4, 2, 3, 3]".to_string(),
        "bn1.weight [4]".into(),
        "bn1.bias [4]".into(),
        "bn1.running_mean [4]".into(),
        "bn1.running_var [4]".into(),
        "bn1.num_batches_tracked []".into(),
    ];
    want.extend(block("layer1.0", 4, 4));
    want.extend(block("layer2.0", 4, 6));
    want.extend([
        "layer2.0.downsample.0.weight [6, 4, 1, 1]".into(),
        "layer2.0.downsample.1.weight [6]".into(),
        "layer2.0.downsample.1.bias [6]".into(),
        "layer2.0.downsample.1.running_mean [6]".into(),
        "layer2.0.downsample.1.running_var [6]".into(),
        "layer2.0.downsample.1.num_batches_tracked []".into(),
        "fc.weight [3, 6]".into(),
        "fc.bias [3]".into(),
    ]);
    assert_eq!(seen, want);
    let names: Vec<_> = tiny::Params::LAYERS.iter().map(|l| l.name).collect();
    assert_eq!(names, ["conv1", "bn1", "act", "layer1.0", "act1", "layer2.0", "act2", "pool", "fc", "out"]);
    // Parameters: convolutions, batch norms' γ and β, the classifier; not
    // the running statistics.
    let bn = |c: usize| 2 * c;
    let want =
        4 * 2 * 9 + bn(4) + (4 * 4 * 9 + bn(4)) * 2 + 6 * 4 * 9 + bn(6) + 6 * 6 * 9 + bn(6) + 6 * 4 + bn(6) + 6 * 3 + 3;
    assert_eq!(net.num_params(), want);
}

/// The loss of the network with flat parameters `p` on `x`, in `mode`.
fn loss(p: &[f32], x: &[Tensor<2, 8, 8>; B], y: &[usize; B], train: bool) -> f64 {
    let mut n = tiny::Params::boxed_zeroed();
    n.as_flat_mut().copy_from_slice(p);
    let mut ws = tiny::Workspace::<B>::boxed_zeroed();
    let mut rng = SmallRng::seed_from_u64(0);
    let mut mode = if train { Mode::Train(&mut rng) } else { Mode::Infer };
    n.forward(x, &mut ws, &mut mode);
    softmax_cross_entropy_batch(tiny::Params::logits(&ws), y, &mut [Tensor::zeroed(); B]) as f64
}

/// The whole backward pass (both kinds of block, batch norm) against
/// central differences, at every parameter of the blocks' first layers,
/// the projection and the classifier, and some of each other layer.
fn check_backward(train: bool) {
    let net = net(7);
    let (x, y) = batch();
    let mut ws = tiny::Workspace::<B>::boxed_zeroed();
    let mut delta = tiny::Activations::<B>::boxed_zeroed();
    let mut grads = tiny::Params::boxed_zeroed();
    let mut rng = SmallRng::seed_from_u64(0);
    let mut mode = if train { Mode::Train(&mut rng) } else { Mode::Infer };
    net.forward(&x, &mut ws, &mut mode);
    softmax_cross_entropy_batch(tiny::Params::logits(&ws), &y, tiny::Params::logits_grad(&mut delta));
    grads.as_flat_mut().fill(f32::NAN); // overwritten, never read
    net.backward(&x, &mut ws, &mut delta, &mut grads, BackFrom::Logits, Grad::Overwrite);
    let flat = net.as_flat().to_vec();
    // Buffers (running statistics) have no gradient: they are not learned.
    let mut buffers = tiny::Params::boxed_zeroed();
    buffers.visit_mut(&mut |_, name, _, v| {
        if ["running_mean", "running_var", "num_batches_tracked"].contains(&name) {
            v.fill(1.0);
        }
    });
    let mut checked = 0;
    for l in tiny::Params::LAYERS.iter().filter(|l| l.len > 0) {
        let step = if l.len > 200 { l.len / 37 } else { 1 };
        for k in (0..l.len).step_by(step) {
            let i = l.offset + k;
            if buffers.as_flat()[i] == 1.0 {
                assert_eq!(grads.as_flat()[i], 0.0, "{} [{k}]: a buffer's gradient", l.name);
                continue;
            }
            let mut p = flat.clone();
            let eps = 1e-2;
            p[i] += eps;
            let up = loss(&p, &x, &y, train);
            p[i] -= 2.0 * eps;
            let down = loss(&p, &x, &y, train);
            let numeric = (up - down) / (2.0 * eps as f64);
            compare(&format!("{} [{k}] (train: {train})", l.name), grads.as_flat()[i] as f64, numeric).unwrap();
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked} parameters checked");
}

#[test]
fn backward_matches_finite_differences_in_training() {
    check_backward(true);
}

#[test]
fn backward_matches_finite_differences_in_inference() {
    check_backward(false);
}

/// Each block as a layer of its own (`gradcheck::check_layer`, training
/// mode): the input gradient through both branches, and every parameter.
#[test]
fn blocks_pass_the_layer_gradient_check() {
    constnet::gradcheck::check_layer::<tiny::layer1_0::Block, 3, 4, 8, 8, 4, 8, 8>(11).unwrap();
    constnet::gradcheck::check_layer::<tiny::layer2_0::Block, 3, 4, 8, 8, 6, 4, 4>(12).unwrap();
}

/// A training step moves the running statistics towards the batch's,
/// once, and a refused step does not.
#[test]
fn a_training_step_moves_the_running_statistics() {
    let mut net = net(3);
    let (x, y) = batch();
    let mut st = TrainState::<tiny::Params, B>::boxed_zeroed();
    let mut opt = Sgd::new(0.01);
    let before = net.layer1_0.bn1.running_mean;
    train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut SmallRng::seed_from_u64(1)).unwrap();
    let mean = st.ws.cache.layer1_0.cache.bn1.mean;
    for c in 0..4 {
        let want = 0.9 * before[c] + 0.1 * mean[c];
        assert!((net.layer1_0.bn1.running_mean[c] - want).abs() < 1e-6, "channel {c}");
    }
    assert_eq!(net.layer1_0.bn1.num_batches_tracked, 1.0);
    assert_eq!(net.layer2_0.downsample_1.num_batches_tracked, 1.0);
    let tracked = net.bn1.num_batches_tracked;
    let mut bad = x;
    bad[1].0[0][2][3] = f32::NAN;
    assert!(
        train_step(&mut *net, &bad, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut SmallRng::seed_from_u64(1))
            .is_err()
    );
    assert_eq!(net.bn1.num_batches_tracked, tracked, "a refused step moved the statistics");
}

/// The tiny ResNet learns a 3-class problem.
#[test]
fn trains() {
    let mut net = tiny::Params::boxed_zeroed();
    net.init(Init::He, &mut SmallRng::seed_from_u64(1));
    let (x, y) = batch();
    let mut st = TrainState::<tiny::Params, B>::boxed_zeroed();
    let mut opt = constnet::optim::Adam::new(0.01, tiny::Params::boxed_zeroed(), tiny::Params::boxed_zeroed());
    let mut rng = SmallRng::seed_from_u64(2);
    let first = train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap();
    let mut last = first;
    for _ in 0..60 {
        last = train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap();
    }
    assert!(last.loss < 0.2 * first.loss && last.correct == B, "loss {} -> {}", first.loss, last.loss);
}

/// On two threads each thread normalises its own samples (PyTorch's
/// DistributedDataParallel without SyncBatchNorm) and the running
/// statistics move once per thread's shard; the network trains.
#[test]
fn the_parallel_trainer_runs_batch_norm_per_thread() {
    let mut net = net(5);
    let (x, y) = batch();
    let mut trainer = constnet::parallel::ParallelTrainer::<tiny::Params, 2, 2>::new(3);
    let mut opt = constnet::optim::Adam::new(0.01, tiny::Params::boxed_zeroed(), tiny::Params::boxed_zeroed());
    let first = trainer.train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt).unwrap();
    assert_eq!(net.layer1_0.bn2.num_batches_tracked, 2.0, "once per thread's shard");
    let mut last = first;
    for _ in 0..60 {
        last = trainer.train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt).unwrap();
    }
    assert!(last.loss < 0.2 * first.loss, "loss {} -> {}", first.loss, last.loss);
}
