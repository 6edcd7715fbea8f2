//! Trains the `fashion10` network on Fashion-MNIST and saves the weights
//! that example 08 (`08_embed_classifier`) compiles into its binary.
//!
//! ```text
//! cargo run --release --example train_fashion10_weights -- [--epochs 3] [--data DIR] [--out FILE] [--samples DIR] [--json]
//! ```
//!
//! - data: the full Fashion-MNIST, found by `constnet::data::locate_fashion_mnist_full`
//!   (`--data DIR`, `CONSTNET_FASHION_MNIST`, then Debian's
//!   `/usr/share/datasets/fashion-mnist`);
//! - preprocessing: `x = (pixel / 255 - mean) / std` with one mean and std
//!   over all training pixels, saved in the file's `__metadata__`
//!   (`input_scale`, `input_mean`, `input_std`) so the classifier applies
//!   exactly what training did;
//! - training: Adam (lr 0.001), batches of 32, softmax cross-entropy,
//!   He initialisation, seed 1, a fresh shuffle each epoch;
//! - output: `examples/08_embed_classifier/fashion10.safetensors` by
//!   default, with the measured test accuracy in its metadata;
//! - `--samples DIR` also writes the first test image of a few classes as
//!   PGM and PNG files (the samples shipped with example 08).

use constnet::data::{Dataset, FashionMnist, locate_fashion_mnist_full};
use constnet::optim::Adam;
use constnet::train::{SoftmaxCrossEntropy, TrainState, evaluate, train_step};
use constnet::zoo::fashion10;
use constnet::{Flat, Init, Network, Tensor, io};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use std::path::Path;
use std::time::Instant;

#[path = "common/mod.rs"]
mod common;

const CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
const B: usize = 32;

fn main() {
    let args = common::Args::parse_options(&["--data", "--epochs", "--out", "--samples"], &["--json"]);
    let epochs = args.number("--epochs", 3, 1..=common::MAX_EPOCHS);
    let out = args.path("--out").unwrap_or_else(|| "examples/08_embed_classifier/fashion10.safetensors".into());
    check_out_file(&out);
    let samples = args.path("--samples");

    let found = locate_fashion_mnist_full(args.data.as_deref()).unwrap_or_else(|e| common::fail(&e.to_string()));
    let (train, test) = FashionMnist::load(&found).unwrap_or_else(|e| common::fail(&e.to_string()));
    let labels = |ds: &Dataset<1, 28, 28>| ds.labels().iter().map(|&l| l as usize).collect::<Vec<_>>();
    let (mut train_x, train_y) = (train.images().to_vec(), labels(&train));
    let (mut test_x, test_y) = (test.images().to_vec(), labels(&test));
    if let Some(dir) = &samples {
        write_samples(dir, &test_x, &test_y).unwrap_or_else(|e| common::fail(&e));
    }

    // One mean and standard deviation over every training pixel (scaled to 0..1).
    let scale = 1.0f64 / 255.0;
    let n = (train_x.len() * 784) as f64;
    let sum: f64 = train_x.iter().flat_map(|t| t.as_flat()).map(|&p| p as f64 * scale).sum();
    let mean = sum / n;
    let var: f64 =
        train_x.iter().flat_map(|t| t.as_flat()).map(|&p| (p as f64 * scale - mean).powi(2)).sum::<f64>() / n;
    let (scale, mean, std) = (scale as f32, mean as f32, var.sqrt() as f32);
    for t in train_x.iter_mut().chain(test_x.iter_mut()) {
        t.as_flat_mut().iter_mut().for_each(|p| *p = (*p * scale - mean) / std);
    }
    println!(
        "Fashion-MNIST: {} training, {} test images; input mean {mean:.5}, std {std:.5}",
        train_x.len(),
        test_x.len()
    );

    let mut rng = StdRng::seed_from_u64(1);
    let mut net = fashion10::Params::boxed_zeroed();
    net.init(Init::He, &mut rng);
    let (mut m, mut v) = (fashion10::Params::boxed_zeroed(), fashion10::Params::boxed_zeroed());
    let mut opt = Adam::new(1e-3, &mut *m, &mut *v);
    let mut st = TrainState::<fashion10::Params, B>::boxed_zeroed();
    let mut order: Vec<usize> = (0..train_x.len()).collect();
    let mut x = [Tensor::zeroed(); B];
    let mut y = [0usize; B];
    let (mut accuracy, mut train_loss) = (0.0, 0.0);
    for epoch in 1..=epochs {
        let t0 = Instant::now();
        order.shuffle(&mut rng);
        let (mut loss, mut correct, mut seen) = (0.0f64, 0, 0);
        for batch in order.chunks_exact(B) {
            for (k, &i) in batch.iter().enumerate() {
                x[k] = train_x[i];
                y[k] = train_y[i];
            }
            let r = train_step(&mut *net, &x, &y, SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng)
                .unwrap_or_else(|e| common::fail(&e.to_string()));
            loss += r.loss as f64 * B as f64;
            correct += r.correct;
            seen += B;
        }
        let mut test_correct = 0;
        let full = test_x.len() / B * B;
        for (xs, ys) in test_x[..full].chunks_exact(B).zip(test_y[..full].chunks_exact(B)) {
            x.copy_from_slice(xs);
            y.copy_from_slice(ys);
            test_correct += evaluate(&*net, &x, &y, SoftmaxCrossEntropy, &mut st).correct;
        }
        let mut ws = fashion10::Workspace::<1>::boxed_zeroed();
        for (xi, &yi) in test_x[full..].iter().zip(&test_y[full..]) {
            test_correct += (net.classify(xi, &mut ws) == yi) as usize;
        }
        accuracy = test_correct as f64 / test_x.len() as f64;
        train_loss = loss / seen as f64;
        println!(
            "epoch {epoch}/{epochs}: train loss {:.4}, train accuracy {:.4}, test accuracy {accuracy:.4} ({:.1} s)",
            loss / seen as f64,
            correct as f64 / seen as f64,
            t0.elapsed().as_secs_f64()
        );
    }

    let meta = io::Metadata::from_iter(
        [
            ("architecture", "constnet::zoo::fashion10".to_string()),
            ("input_scale", format!("{scale:e}")),
            ("input_mean", format!("{mean:e}")),
            ("input_std", format!("{std:e}")),
            ("classes", CLASSES.join(",")),
            ("test_accuracy", format!("{accuracy:.4}")),
            ("training", format!("Adam lr 0.001, batch {B}, {epochs} epochs, He init, seed 1")),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    io::save_file_with_metadata(&*net, &meta, &out).unwrap_or_else(|e| common::fail(&e.to_string()));
    println!("saved {} ({} parameters, test accuracy {accuracy:.4})", out.display(), net.num_params());
    if args.json {
        let j = common::Json::default()
            .num("epochs", epochs as f64)
            .num("train_loss", train_loss)
            .num("test_accuracy", accuracy)
            .num("input_mean", mean as f64)
            .num("input_std", std as f64)
            .num("seconds", args.seconds());
        println!("{}", j.render());
    }
}

/// Fails unless `out` can name a new or existing file: its directory must
/// exist and it must not be a directory itself. Checked before training,
/// which takes minutes, rather than when saving.
fn check_out_file(out: &Path) {
    if out.is_dir() {
        common::fail(&format!("--out {}: is a directory; give the file to write", out.display()));
    }
    let dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        common::fail(&format!("--out {}: directory {} does not exist", out.display(), dir.display()));
    }
}

/// Writes the first test image of a few classes as `NAME.pgm` (P5) and
/// `NAME.png`; an error names the file.
fn write_samples(dir: &Path, x: &[Tensor<1, 28, 28>], y: &[usize]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("--samples {}: cannot create it: {e}", dir.display()))?;
    for (class, file, ext) in
        [(9, "ankle_boot", "pgm"), (1, "trouser", "png"), (8, "bag", "png"), (2, "pullover", "pgm")]
    {
        let i = y.iter().position(|&c| c == class).ok_or(format!("no test image of class {class}"))?;
        let px: Vec<u8> = x[i].as_flat().iter().map(|&p| p as u8).collect();
        let path = dir.join(format!("{file}.{ext}"));
        let write = || -> Result<(), Box<dyn std::error::Error>> {
            if ext == "pgm" {
                let mut bytes = b"P5\n28 28\n255\n".to_vec();
                bytes.extend_from_slice(&px);
                std::fs::write(&path, bytes)?;
            } else {
                let mut enc = png::Encoder::new(std::io::BufWriter::new(std::fs::File::create(&path)?), 28, 28);
                enc.set_color(png::ColorType::Grayscale);
                enc.set_depth(png::BitDepth::Eight);
                enc.write_header()?.write_image_data(&px)?;
            }
            Ok(())
        };
        write().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {} (test image {i}, {})", path.display(), CLASSES[class]);
    }
    Ok(())
}
