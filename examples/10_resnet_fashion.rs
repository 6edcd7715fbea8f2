//! A small ResNet on Fashion-MNIST: three stages of basic blocks with
//! batch norm (16, 32 and 64 channels; the second and third halve the
//! side with a strided convolution and project the shortcut with a
//! strided 1x1 convolution and batch norm), global average pooling and a
//! dense layer to the 10 classes — torchvision's `BasicBlock` layout, its
//! parameters under PyTorch's names (`layer2.0.downsample.0.weight`).
//!
//! Adam (learning rate 2e-3 with cosine decay),
//! mini-batches of 32 on one thread, per-pixel standardisation, 10 epochs
//! on the full data (55000 for training, the last 5000 for validation).
//! With these settings it checks a test accuracy of at least 0.93, and
//! stops with an error below it.
//!
//! ```text
//! cargo run --release --example 10_resnet_fashion [-- --epochs 10] [--seed 1] [--data DIR] [--json] [--save FILE]
//! ```

mod common;

use common::fashion::Cosine;
use common::{Args, Json, MAX_EPOCHS, fail};
use constnet::data::{FashionMnist, Standardizer, locate_fashion_mnist_full};
use constnet::fit::{FitConfig, Samples, Sampling, evaluate_set, fit_with_callbacks};
use constnet::optim::Adam;
use constnet::train::{SoftmaxCrossEntropy, TrainState, train_step};
use constnet::zoo::resnet8;
use constnet::{Flat, Init, Network, Summary};
use rand::SeedableRng;

const BATCH: usize = 32;
const DEFAULT_EPOCHS: usize = 10;

fn main() {
    let args = Args::parse_options(&["--data", "--epochs", "--seed", "--save"], &["--json"]);
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

    let mut net = resnet8::Params::boxed_zeroed();
    net.init(Init::He, &mut rand::rngs::StdRng::seed_from_u64(seed));
    println!("{}", Summary::<resnet8::Params, BATCH>::new());
    let opt = Adam::new(2e-3, resnet8::Params::boxed_zeroed(), resnet8::Params::boxed_zeroed());
    let cosine = Cosine { lr: 2e-3, total: (epochs * (train.len() / BATCH)) as f32, t: 0.0 };
    let cfg = FitConfig { epochs, sampling: Sampling::Shuffled, seed, ..FitConfig::default() };
    let tr = Samples { images: train.images(), labels: train.labels() };
    let va = Samples { images: valid.images(), labels: valid.labels() };
    let mut st = TrainState::<resnet8::Params, BATCH>::boxed_zeroed();
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
    let te = Samples { images: test.images(), labels: test.labels() };
    let (test_loss, test_acc) = evaluate_set::<_, _, BATCH>(&*net, te, SoftmaxCrossEntropy, usize::from);
    let seconds: f64 = history.epochs.iter().map(|e| e.seconds).sum();
    println!("test: loss: {test_loss:.4} - accuracy: {test_acc:.4} (training took {seconds:.1} s)");
    if let Some(path) = args.path("--save") {
        constnet::io::save_file(&*net, &path).unwrap_or_else(|e| fail(&e.to_string()));
        save_check(&net, &test, &path);
        println!("saved {} (and its .inputs.f32, .logits.f32 for scripts/interop/resnet8.py check)", path.display());
    }
    if args.json {
        let j = Json::default()
            .str("network", "resnet8")
            .num("epochs", epochs as f64)
            .num("params", net.num_params() as f64)
            .num("test_loss", test_loss as f64)
            .num("test_accuracy", test_acc as f64)
            .num("train_seconds", seconds);
        println!("{}", j.render());
    }
    if epochs == DEFAULT_EPOCHS && seed == 1 && test_acc < 0.93 {
        fail(&format!("resnet8 test accuracy {test_acc:.4} is below the 0.93 this example promises"));
    }
}

/// Writes the first 1000 test images as the network saw them
/// (standardised) and its logits for them, little-endian `f32`s beside
/// `path`: what `scripts/interop/resnet8.py check` feeds PyTorch and
/// compares with.
fn save_check(net: &resnet8::Params, test: &constnet::data::Dataset<1, 28, 28>, path: &std::path::Path) {
    let images = &test.images()[..1000.min(test.len())];
    let mut ws = resnet8::Workspace::<1>::boxed_zeroed();
    let (mut inputs, mut logits) = (Vec::new(), Vec::new());
    for x in images {
        net.infer(core::array::from_ref(x), &mut ws);
        inputs.extend(x.as_flat().iter().flat_map(|v| v.to_le_bytes()));
        logits.extend(resnet8::Params::logits(&ws)[0].as_flat().iter().flat_map(|v| v.to_le_bytes()));
    }
    for (ext, bytes) in [("inputs.f32", inputs), ("logits.f32", logits)] {
        let file = path.with_extension(ext);
        std::fs::write(&file, bytes).unwrap_or_else(|e| fail(&format!("{}: {e}", file.display())));
    }
}
