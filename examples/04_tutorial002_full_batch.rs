//! Course step 4 — the network of tutorial 002 ("CNN from scratch with NumPy").
//!
//! The first 200 training images, a binary target (digit/class >= 5, which
//! splits MNIST's first 200 into the tutorial's 109 / 91), pixels scaled to
//! [0, 1]; 3 filters of 5x5 with valid padding (24x24 = 576 positions each),
//! sigmoid, a dense layer with bias to one output, sigmoid, squared error
//! E = (y - O)^2 / 2, and full-batch gradient descent: every iteration is one
//! step on all 200 images at once (`B = 200`). The loss falls every
//! iteration: checked, and a run where it does not (a learning rate too
//! large, or too small to change the weights) ends with an error.
//!
//! Runs on MNIST when given its IDX files (`--mnist DIR` holding
//! `train-images-idx3-ubyte[.gz]` and `train-labels-idx1-ubyte[.gz]`),
//! else on Fashion-MNIST; it prints which.
//!
//! ```text
//! cargo run --release --example 04_tutorial002_full_batch [-- --iterations 200] [--lr 0.02] [--mnist DIR] [--json]
//! ```
//!
//! `--iterations` is 2 to 10000, `--lr` a finite number above 0.

mod common;

use constnet::data::{Dataset, FashionMnist, load_idx, locate_fashion_mnist_full};
use constnet::fit::{FitConfig, Samples, Sampling, fit};
use constnet::optim::Sgd;
use constnet::train::Mse;
use constnet::zoo::tutorial002;
use constnet::{Flat, Init, Network};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::Path;

/// The first of `names` that exists in `dir`.
fn first_existing(dir: &Path, names: &[&str]) -> std::path::PathBuf {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
        .unwrap_or_else(|| common::fail(&format!("{} holds none of {names:?}", dir.display())))
}

/// The images of one full batch: tutorial 002's first 200.
const N: usize = 200;

fn main() {
    let args = common::Args::parse_options(&["--data", "--iterations", "--lr", "--mnist"], &["--json"]);
    // At least two iterations: the loss is compared between them.
    let iterations = args.number("--iterations", 200, 2..=common::MAX_EPOCHS);
    let lr = args.positive("--lr", 0.02);
    let (train, source): (Dataset<1, 28, 28>, String) = match args.path("--mnist") {
        Some(dir) => {
            let dir = dir.as_path();
            let images = first_existing(
                dir,
                &["train-images-idx3-ubyte.gz", "train-images-idx3-ubyte", "train-images.idx3-ubyte"],
            );
            let labels = first_existing(
                dir,
                &["train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte", "train-labels.idx1-ubyte"],
            );
            let ds = load_idx::<28, 28>(&images, &labels, Some(10)).unwrap_or_else(|e| common::fail(&e.to_string()));
            (ds, format!("MNIST ({})", dir.display()))
        }
        None => {
            let found =
                locate_fashion_mnist_full(args.data.as_deref()).unwrap_or_else(|e| common::fail(&e.to_string()));
            let (train, _) = FashionMnist::load(&found).unwrap_or_else(|e| common::fail(&e.to_string()));
            (train, format!("Fashion-MNIST (no --mnist given): {found}"))
        }
    };
    println!("data: {source}");
    if train.len() < N {
        common::fail(&format!("the training set has {} images; tutorial 002 trains on the first {N}", train.len()));
    }
    let (mut first, _) = train.split_at(N).unwrap_or_else(|e| common::fail(&e.to_string()));
    first.scale_to_unit();
    let ones = first.labels().iter().filter(|&&l| l >= 5).count();
    println!("first {N} images: {} with target 0 (class < 5), {ones} with target 1 (class >= 5)", N - ones);

    let mut rng = StdRng::seed_from_u64(2);
    let mut net = tutorial002::Params::boxed_zeroed();
    net.init(Init::Xavier, &mut rng);
    let mut opt = Sgd::new(lr);
    let cfg = FitConfig {
        epochs: iterations,
        sampling: Sampling::InOrder,
        seed: 2,
        progress: false,
        verbose: false,
        ..FitConfig::default()
    };
    let target = |l: u8| (l >= 5) as u8 as f32;
    let history = fit::<_, _, _, N>(&mut *net, Samples::from(&first), None, Mse, target, &mut opt, &cfg)
        .unwrap_or_else(|e| common::fail(&e.to_string()));
    let losses: Vec<f32> = history.epochs.iter().map(|e| e.loss).collect();
    let accuracies: Vec<f32> = history.epochs.iter().map(|e| e.accuracy).collect();
    for (i, (l, a)) in losses.iter().zip(&accuracies).enumerate() {
        if i % 10 == 0 || i + 1 == iterations {
            println!("iteration {:4}: loss {l:.6} - accuracy {a:.3}", i + 1);
        }
    }
    // The tutorial's promise, which a learning rate too large (or too
    // small to change an f32) breaks.
    if let Some((i, w)) = losses.windows(2).enumerate().find(|(_, w)| w[1] >= w[0]) {
        common::fail(&format!(
            "the loss must fall every iteration but did not at iteration {} ({} -> {}) with --lr {lr}",
            i + 2,
            w[0],
            w[1]
        ));
    }
    println!(
        "the loss fell at every one of {iterations} full-batch iterations: {:.6} -> {:.6}",
        losses[0],
        losses[losses.len() - 1]
    );
    if args.json {
        let j = common::Json::default()
            .str("data", if source.starts_with("MNIST") { "mnist" } else { "fashion-mnist" })
            .num("iterations", iterations as f64)
            .num("first_loss", losses[0] as f64)
            .num("final_loss", *losses.last().unwrap() as f64)
            .num("final_accuracy", *accuracies.last().unwrap() as f64)
            .num("seconds", args.seconds());
        println!("{}", j.render());
    }
}
