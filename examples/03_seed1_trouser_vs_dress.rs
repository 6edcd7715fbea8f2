//! Course step 3 — the seed-1 experiment: trouser vs dress.
//!
//! Tutorial 000 ("CNNs using NumPy, part 1"), faithfully: Fashion-MNIST
//! classes 1 (trouser) and 3 (dress); the last 1000 training images held out
//! for validation; per-pixel standardisation with the training mean and std
//! (+1e-7); one 3x3 filter with zero padding 1, ReLU, a dense layer 784 -> 1
//! without biases, sigmoid, log-loss; weights drawn from N(0,1)/K and
//! N(0,1)/L (K = 3, L = 28); per-sample SGD with learning rate 0.001 on a
//! randomly drawn sample, 5 epochs, running averages, validation after each
//! epoch. Then the test figures, the curves, and three images convolved with
//! the initial random filter and with the learned one.
//!
//! ```text
//! cargo run --release --example 03_seed1_trouser_vs_dress
//!     [-- --epochs 5] [--freeze conv|dense] [--seed 1] [--data DIR] [--out DIR] [--json]
//! ```
//!
//! `--epochs` is 1 to 10000. `--freeze conv` trains only the dense layer,
//! `--freeze dense` only the filter (the tutorial's ablation). Runs on the seed-1 subset shipped in
//! `data/` when no other copy of Fashion-MNIST is found.

mod common;

use constnet::data::{FashionMnist, Standardizer, locate_fashion_mnist};
use constnet::fit::{FitConfig, Samples, Sampling, evaluate_set, fit};
use constnet::optim::Sgd;
use constnet::train::BceWithLogits;
use constnet::zoo::seed1;
use constnet::{Flat, Init, Layer, Mode, Parameters, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::PathBuf;

/// The convolution's output (before ReLU) for one image: the network runs
/// it and its ReLU as one layer, `net.conv` (a `ConvRelu`); `net.conv.conv`
/// is the convolution alone.
fn convolved(net: &seed1::Params, x: &Tensor<1, 28, 28>) -> Tensor<1, 28, 28> {
    let mut y = [Tensor::zeroed()];
    net.conv.conv.forward(std::array::from_ref(x), &mut y, &mut Flat::zeroed(), &mut Mode::Infer);
    y[0]
}

/// Training images held out for validation (the last ones, as the tutorial does).
const HELD_OUT: usize = 1000;

fn main() {
    let args = common::Args::parse_options(&["--data", "--epochs", "--seed", "--freeze", "--out"], &["--json"]);
    let epochs = args.number("--epochs", 5, 1..=common::MAX_EPOCHS);
    let seed = args.number("--seed", 1, 0..=u64::MAX);
    let freeze = args.text("--freeze");
    let out: PathBuf = args.path("--out").unwrap_or_else(|| "out".into());
    let mut opt = Sgd::new(0.001);
    if let Some(layer) = freeze {
        opt.freeze::<seed1::Params>(layer).unwrap_or_else(|e| common::fail(&format!("--freeze {layer}: {e}")));
    }

    let found = locate_fashion_mnist(args.data.as_deref()).unwrap_or_else(|e| common::fail(&e.to_string()));
    println!("Fashion-MNIST: {found}");
    let (train, test) = FashionMnist::load(&found).unwrap_or_else(|e| common::fail(&e.to_string()));
    // Classes 1 (trouser) -> 0 and 3 (dress) -> 1.
    let train = train.select_classes(&[1, 3]);
    let mut test = test.select_classes(&[1, 3]);
    if train.len() <= HELD_OUT {
        common::fail(&format!(
            "the training set holds {} trousers and dresses; the last {HELD_OUT} are held out for validation, so at least {} are needed",
            train.len(),
            HELD_OUT + 1
        ));
    }
    if test.is_empty() {
        common::fail("the test set holds no trousers or dresses (classes 1 and 3)");
    }
    common::create_out_dir("--out", &out);
    let (mut train, mut valid) = train.split_last(HELD_OUT).unwrap_or_else(|e| common::fail(&e.to_string()));
    let norm = Standardizer::fit(&train).unwrap_or_else(|e| common::fail(&e.to_string()));
    for ds in [&mut train, &mut valid, &mut test] {
        norm.apply(ds);
    }
    println!(
        "train {} / validation {} / test {} images (trouser = 0, dress = 1)",
        train.len(),
        valid.len(),
        test.len()
    );

    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = seed1::Params::zeroed();
    net.conv.init(Init::Normal(1.0 / 3.0), &mut rng); // np.random.randn(K, K) / K
    net.dense.init(Init::Normal(1.0 / 28.0), &mut rng); // np.random.randn(L*L) / L
    let initial = net.clone();

    if let Some(layer) = freeze {
        println!("frozen layer: {layer}");
    }
    let target = |label: u8| label as f32;
    let (val0_loss, val0_acc) = evaluate_set::<_, _, 1>(&net, Samples::from(&valid), BceWithLogits, target);
    println!("before training: val_loss: {val0_loss:.4} - val_accuracy: {val0_acc:.4}");
    let cfg = FitConfig { epochs, sampling: Sampling::Random, seed, ..FitConfig::default() };
    let history = fit::<_, _, _, 1>(
        &mut net,
        Samples::from(&train),
        Some(Samples::from(&valid)),
        BceWithLogits,
        target,
        &mut opt,
        &cfg,
    )
    .unwrap_or_else(|e| common::fail(&e.to_string()));
    let (test_loss, test_acc) = evaluate_set::<_, _, 1>(&net, Samples::from(&test), BceWithLogits, target);
    println!("test: loss: {test_loss:.4} - accuracy: {test_acc:.4}");

    let tag = freeze.map(|l| format!("_freeze_{l}")).unwrap_or_default();
    // The first three test images (fewer if the test set is smaller).
    for (k, x) in test.images().iter().take(3).enumerate() {
        // The image, convolved with the initial random filter, and with the learned filter.
        let panel = Tensor::<3, 28, 28>::from_fn(|c, y, xx| match c {
            0 => x.0[0][y][xx],
            1 => convolved(&initial, x).0[0][y][xx],
            _ => convolved(&net, x).0[0][y][xx],
        });
        let path = out.join(format!("seed1{tag}_image{}_initial_vs_learned.png", k + 1));
        constnet::image::write_tensor(&panel, 6, &path).unwrap_or_else(|e| common::fail(&e.to_string()));
        println!("wrote {} (image | initial filter | learned filter)", path.display());
    }
    #[cfg(feature = "plot")]
    {
        let path = out.join(format!("seed1{tag}_curves.png"));
        constnet::fit::plot_history(&history, "seed 1: trouser vs dress", &path)
            .unwrap_or_else(|e| common::fail(&e.to_string()));
        println!("wrote {}", path.display());
    }
    println!("learned filter: {:?}", net.conv.weight[0][0]);

    if args.json {
        let last = history.epochs.last();
        let j = common::Json::default()
            .str("experiment", "seed1")
            .str("freeze", freeze.unwrap_or("none"))
            .num("epochs", epochs as f64)
            .num("train_loss", last.map_or(f64::NAN, |e| e.loss as f64))
            .num("train_accuracy", last.map_or(f64::NAN, |e| e.accuracy as f64))
            .num("val_loss", last.and_then(|e| e.val_loss).map_or(f64::NAN, |v| v as f64))
            .num("val_accuracy", last.and_then(|e| e.val_accuracy).map_or(f64::NAN, |v| v as f64))
            .num("test_loss", test_loss as f64)
            .num("test_accuracy", test_acc as f64)
            .num("train_seconds", history.epochs.iter().map(|e| e.seconds).sum())
            .num("seconds", args.seconds());
        println!("{}", j.render());
    }
}
