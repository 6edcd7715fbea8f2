//! The training program (std): trains `model::net` on trouser vs dress and
//! writes its weights as safetensors, by default where `embed` reads them.
//!
//! ```text
//! cargo run --release -p train -- [--epochs 3] [--out FILE]
//! ```
//!
//! The data is the seed-1 subset shipped in constnet's `data/` (or the
//! directory in `CONSTNET_FASHION_MNIST`). The test accuracy is measured
//! one image at a time, as the embedded program classifies.

use constnet::data::{FashionMnist, locate_fashion_mnist};
use constnet::fit::{FitConfig, Samples, fit};
use constnet::optim::Adam;
use constnet::rand::{SeedableRng, rngs::StdRng};
use constnet::train::SoftmaxCrossEntropy;
use constnet::{Flat, Init, Network, io};
use model::net;
use std::error::Error;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    let (epochs, out) = parse_args()?;

    // Trousers and dresses, relabelled 0 and 1, scaled as model says.
    let (train, test) = FashionMnist::load(&locate_fashion_mnist(None)?)?;
    let labels = model::FASHION_MNIST_LABELS;
    let (mut train, mut test) = (train.select_classes(&labels), test.select_classes(&labels));
    for ds in [&mut train, &mut test] {
        ds.images_mut().iter_mut().for_each(model::preprocess);
    }

    let mut rng = StdRng::seed_from_u64(1);
    let mut net = net::Params::zeroed();
    net.init(Init::He, &mut rng);
    let (mut m, mut v) = (net::Params::zeroed(), net::Params::zeroed());
    let mut opt = Adam::new(1e-3, &mut m, &mut v);
    let cfg = FitConfig { epochs, seed: 1, progress: false, ..FitConfig::default() };
    let target = |label: u8| label as usize;
    fit::<_, _, _, 32>(&mut net, Samples::from(&train), None, SoftmaxCrossEntropy, target, &mut opt, &cfg)?;

    // One image at a time, as `embed` classifies.
    let mut ws = net::Workspace::<1>::zeroed();
    let correct = test.images().iter().zip(test.labels()).filter(|&(x, &y)| net.classify(x, &mut ws) == y as usize);
    let (correct, total) = (correct.count(), test.len());
    let accuracy = correct as f64 / total as f64;
    println!("test: {correct}/{total} correct, accuracy {accuracy:.4}");

    let meta = io::Metadata::from([
        ("classes".to_string(), model::CLASSES.join(",")),
        ("test_accuracy".to_string(), format!("{accuracy:.4}")),
        ("training".to_string(), format!("Adam lr 0.001, batch 32, {epochs} epochs, He init, seed 1")),
    ]);
    io::save_file_with_metadata(&net, &meta, &out)?;
    println!("saved {}", out.display());
    Ok(())
}

/// `--epochs N` (default 3) and `--out FILE` (default: `embed/weights.safetensors`,
/// where `embed` looks when `EMBED_WEIGHTS` is not set).
fn parse_args() -> Result<(usize, PathBuf), String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("train/ is in the workspace");
    let (mut epochs, mut out) = (3, workspace.join("embed").join("weights.safetensors"));
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--epochs" => epochs = value.parse().map_err(|_| format!("--epochs {value}: not a number"))?,
            "--out" => out = value.into(),
            _ => return Err(format!("unknown flag {flag}; usage: train [--epochs N] [--out FILE]")),
        }
    }
    Ok((epochs, out))
}
