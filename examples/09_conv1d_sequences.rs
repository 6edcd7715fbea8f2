//! Fashion-MNIST read as sequences: each image is 28 steps (its rows) of
//! 28 values (a row's pixels), and a 1-D convolutional network classifies
//! the sequence, as it would a sensor or audio signal.
//!
//! conv1d 28 → 64 (5 taps, pad 2) + ReLU + max-pool 2, conv1d 64 → 64
//! (3 taps, pad 1) + ReLU + max-pool 2, dense 448 → 10, softmax
//! cross-entropy; Adam (learning rate 2e-3 with cosine decay), mini-batches of 32 on one
//! thread, per-pixel standardisation, 5 epochs on the full data (55000 for
//! training, the last 5000 for validation). With these settings it checks
//! a test accuracy of at least 0.88, and stops with an error below it.
//!
//! ```text
//! cargo run --release --example 09_conv1d_sequences [-- --epochs 5] [--seed 1] [--data DIR] [--json]
//! ```

mod common;

use common::fashion::Cosine;
use common::{Args, Json, MAX_EPOCHS, fail};
use constnet::data::{FashionMnist, Standardizer, locate_fashion_mnist_full};
use constnet::fit::{FitConfig, Samples, Sampling, evaluate_set, fit_with_callbacks};
use constnet::optim::Adam;
use constnet::train::{SoftmaxCrossEntropy, TrainState, train_step};
use constnet::{Conv1d, Dense, Flat, Init, MaxPool1d, Network, Relu, Softmax, Summary, Tensor, network};
use rand::SeedableRng;

network! {
    /// A 1-D convolutional network over 28 steps of 28 channels.
    mod seqnet {
        input: Tensor<28, 1, 28>,
        conv1: Conv1d<28, 64, 5, 2>,
        relu1: Relu,
        pool1: MaxPool1d<2>,
        conv2: Conv1d<64, 64, 3, 1>,
        relu2: Relu,
        pool2: MaxPool1d<2>,
        dense: Dense<448, 10>,
        out: Softmax,
    }
}

const BATCH: usize = 32;
const DEFAULT_EPOCHS: usize = 5;

/// An image as a sequence: step `t` is row `t`, its 28 pixels the channels
/// (`seq[c][0][t] = image[0][t][c]`).
fn as_sequence(image: &Tensor<1, 28, 28>) -> Tensor<28, 1, 28> {
    Tensor::from_fn(|c, _, t| image.0[0][t][c])
}

fn main() {
    let args = Args::parse_options(&["--data", "--epochs", "--seed"], &["--json"]);
    let epochs = args.number("--epochs", DEFAULT_EPOCHS, 1..=MAX_EPOCHS);
    let seed = args.number("--seed", 1, 0..=u64::MAX);
    let found = locate_fashion_mnist_full(args.data.as_deref()).unwrap_or_else(|e| fail(&e.to_string()));
    println!("Fashion-MNIST: {found}");
    let (train, mut test) = FashionMnist::load(&found).unwrap_or_else(|e| fail(&e.to_string()));
    let (mut train, mut valid) = train.split_last(5000).unwrap_or_else(|e| fail(&e.to_string()));
    let norm = Standardizer::fit(&train).unwrap_or_else(|e| fail(&e.to_string()));
    for ds in [&mut train, &mut valid, &mut test] {
        norm.apply(ds);
    }
    let seqs = |ds: &constnet::data::Dataset<1, 28, 28>| ds.images().iter().map(as_sequence).collect::<Vec<_>>();
    let (train_x, valid_x, test_x) = (seqs(&train), seqs(&valid), seqs(&test));

    let mut net = seqnet::Params::boxed_zeroed();
    net.init(Init::He, &mut rand::rngs::StdRng::seed_from_u64(seed));
    println!("{}", Summary::<seqnet::Params, BATCH>::new());
    let opt = Adam::new(2e-3, seqnet::Params::boxed_zeroed(), seqnet::Params::boxed_zeroed());
    let cosine = Cosine { lr: 2e-3, total: (epochs * (train.len() / BATCH)) as f32, t: 0.0 };
    let cfg = FitConfig { epochs, sampling: Sampling::Shuffled, seed, ..FitConfig::default() };
    let tr = Samples { images: &train_x, labels: train.labels() };
    let va = Samples { images: &valid_x, labels: valid.labels() };
    let mut st = TrainState::<seqnet::Params, BATCH>::boxed_zeroed();
    let history = fit_with_callbacks::<_, _, _, BATCH>(
        &mut *net,
        tr,
        Some(va),
        SoftmaxCrossEntropy,
        usize::from,
        &cfg,
        &mut [],
        &mut (opt, cosine),
        |net, (opt, cosine), x, y, rng| {
            cosine.apply(opt);
            train_step(net, x, y, SoftmaxCrossEntropy, opt, &mut st, rng)
        },
    )
    .unwrap_or_else(|e| fail(&e.to_string()));
    let te = Samples { images: &test_x, labels: test.labels() };
    let (test_loss, test_acc) = evaluate_set::<_, _, BATCH>(&*net, te, SoftmaxCrossEntropy, usize::from);
    let seconds: f64 = history.epochs.iter().map(|e| e.seconds).sum();
    println!("test: loss: {test_loss:.4} - accuracy: {test_acc:.4} (training took {seconds:.1} s)");
    if args.json {
        let j = Json::default()
            .str("network", "seqnet")
            .num("epochs", epochs as f64)
            .num("test_loss", test_loss as f64)
            .num("test_accuracy", test_acc as f64)
            .num("train_seconds", seconds);
        println!("{}", j.render());
    }
    if epochs == DEFAULT_EPOCHS && seed == 1 && test_acc < 0.88 {
        fail(&format!("seqnet test accuracy {test_acc:.4} is below the 0.88 this example promises"));
    }
}
