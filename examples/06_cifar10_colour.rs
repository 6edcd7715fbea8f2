//! Course step 6 — colour input: a 3-channel network on CIFAR-10.
//!
//! conv 16 (3x3, pad 1) + ReLU + max-pool 2, conv 32 (3x3, pad 1) + ReLU +
//! max-pool 2, dense 2048 -> 10, softmax cross-entropy
//! ([`constnet::zoo::cifar10`]) on 3x32x32 images in CIFAR-10's binary
//! format; Adam, mini-batches of 32, per-pixel (and per-channel)
//! standardisation.
//!
//! CIFAR-10 is not packaged: download the "CIFAR-10 binary version"
//! (`cifar-10-binary.tar.gz`) from <https://www.cs.toronto.edu/~kriz/cifar.html>,
//! extract it, and pass `--data path/to/cifar-10-batches-bin` (or set
//! `CONSTNET_CIFAR10`). Without it the example says so and stops; with
//! `--synthetic` it writes a small data set in the exact binary format (each
//! class a colour and a stripe direction) to a temporary directory and
//! trains on that, to show the whole colour pipeline.
//!
//! ```text
//! cargo run --release --example 06_cifar10_colour [-- --data DIR | --synthetic] [--epochs 5] [--json]
//! ```

mod common;

use constnet::data::{CIFAR10_CLASSES, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, Cifar10, Standardizer, locate_cifar10};
use constnet::fit::{FitConfig, Samples, Sampling, evaluate_set, fit};
use constnet::optim::Adam;
use constnet::train::SoftmaxCrossEntropy;
use constnet::zoo::cifar10;
use constnet::{Flat, Init, Network};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::path::PathBuf;

/// Writes `per_file` records per batch file in CIFAR-10's binary format
/// (label byte, then 1024 red, 1024 green, 1024 blue bytes): class `k` is
/// a stripe pattern in a colour of its own, with noise.
fn write_synthetic(dir: &std::path::Path, per_file: usize, rng: &mut StdRng) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for name in CIFAR10_TRAIN_FILES.iter().chain([&CIFAR10_TEST_FILE]) {
        let mut bytes = Vec::with_capacity(per_file * 3073);
        for _ in 0..per_file {
            let k = rng.random_range(0..10u8);
            bytes.push(k);
            for c in 0..3 {
                let on = (k as usize + c).is_multiple_of(3) || k as usize % 4 == c;
                for y in 0..32 {
                    for x in 0..32 {
                        let stripe = if k < 5 { (x / 4) % 2 == 0 } else { (y / 4) % 2 == 0 };
                        let v = if on && stripe { 200.0 } else { 40.0 } + rng.random_range(-30.0..30.0f32);
                        bytes.push(v.clamp(0.0, 255.0) as u8);
                    }
                }
            }
        }
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

fn main() {
    let args = common::Args::parse_options(&["--data", "--epochs"], &["--synthetic", "--json"]);
    let epochs = args.number("--epochs", 5, 1..=common::MAX_EPOCHS);
    if args.flag("--synthetic") && args.data.is_some() {
        common::fail("--synthetic writes its own data set: give either it or --data DIR, not both");
    }
    let dir = if args.flag("--synthetic") {
        let dir: PathBuf = std::env::temp_dir().join(format!("constnet-synthetic-cifar10-{}", std::process::id()));
        write_synthetic(&dir, 400, &mut StdRng::seed_from_u64(6))
            .unwrap_or_else(|e| common::fail(&format!("{}: {e}", dir.display())));
        println!("synthetic CIFAR-10-format data (not CIFAR-10!) in {}", dir.display());
        dir
    } else {
        locate_cifar10(args.data.as_deref()).unwrap_or_else(|e| {
            eprintln!("{e}");
            eprintln!("\n(or run with --synthetic to try the colour pipeline on generated data in the same format)");
            std::process::exit(2)
        })
    };
    let (mut train, mut test) = Cifar10::load(&dir).unwrap_or_else(|e| common::fail(&e.to_string()));
    if args.flag("--synthetic") {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let norm = Standardizer::fit(&train).unwrap_or_else(|e| common::fail(&e.to_string()));
    norm.apply(&mut train);
    norm.apply(&mut test);
    println!("train {} / test {} colour images (3x32x32), classes {:?}", train.len(), test.len(), CIFAR10_CLASSES);

    let mut rng = StdRng::seed_from_u64(6);
    let mut net = cifar10::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let mut opt = Adam::new(1e-3, cifar10::Params::boxed_zeroed(), cifar10::Params::boxed_zeroed());
    let cfg = FitConfig { epochs, sampling: Sampling::Shuffled, seed: 6, ..FitConfig::default() };
    let target = |l: u8| l as usize;
    let history = fit::<_, _, _, 32>(
        &mut *net,
        Samples::from(&train),
        Some(Samples::from(&test)),
        SoftmaxCrossEntropy,
        target,
        &mut opt,
        &cfg,
    )
    .unwrap_or_else(|e| common::fail(&e.to_string()));
    let (test_loss, test_acc) = evaluate_set::<_, _, 32>(&*net, Samples::from(&test), SoftmaxCrossEntropy, target);
    println!("test: loss: {test_loss:.4} - accuracy: {test_acc:.4} (the test set is the validation set above)");
    if args.json {
        let j = common::Json::default()
            .bool("synthetic", args.flag("--synthetic"))
            .num("epochs", epochs as f64)
            .num("test_loss", test_loss as f64)
            .num("test_accuracy", test_acc as f64)
            .num("train_seconds", history.epochs.iter().map(|e| e.seconds).sum())
            .num("seconds", args.seconds());
        println!("{}", j.render());
    }
}
