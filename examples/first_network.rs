//! The README's "Your first network", as a program: declare a network,
//! load trousers and dresses, train with `fit_callbacks` and early
//! stopping, evaluate, classify, save
//! and load. `tests/readme.rs` checks that this file holds the README's
//! code word for word, and runs it.
//!
//! Run: `cargo run --release --example first_network` (writes
//! `mynet.safetensors` in the current directory).

use constnet::data::{FashionMnist, Standardizer, locate_fashion_mnist};
use constnet::fit::{EarlyStopping, FitConfig, Monitor, Samples, evaluate_set, fit_callbacks};
use constnet::optim::Adam;
use constnet::rand::{SeedableRng, rngs::StdRng};
use constnet::train::SoftmaxCrossEntropy;
use constnet::{Conv2d, Dense, Flat, Init, MaxPool2d, Network, Relu, Softmax, Tensor, io, network};

network! {
    /// Trouser or dress: 4 filters 3x3 ('same'), ReLU, 2x2 max-pool, dense to 2 classes.
    pub mod mynet {
        input: Tensor<1, 28, 28>,
        conv: Conv2d<1, 4, 3, 1, 1>,   // IN_C, OUT_C, K, PAD, STRIDE (BIAS defaults to true)
        relu: Relu,
        pool: MaxPool2d<2>,            // 4 x 28 x 28 -> 4 x 14 x 14
        dense: Dense<784, 2>,          // N_IN = 4 * 14 * 14, N_OUT
        softmax: Softmax,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Trousers and dresses; the subset shipped in data/ is enough.
    let (train, test) = FashionMnist::load(&locate_fashion_mnist(None)?)?;
    let (train, mut test) = (train.select_classes(&[1, 3]), test.select_classes(&[1, 3]));
    let (mut train, mut valid) = train.split_last(1000)?; // trouser = 0, dress = 1
    let norm = Standardizer::fit(&train)?; // per-pixel mean and std
    for ds in [&mut train, &mut valid, &mut test] {
        norm.apply(ds);
    }

    // He-normal weights, zero biases.
    let mut rng = StdRng::seed_from_u64(1);
    let mut net = mynet::Params::zeroed();
    net.init(Init::He, &mut rng);

    // Up to 10 epochs of shuffled mini-batches of 32; Adam keeps its moments in m and v.
    // Training stops once the validation loss has not improved for 2 epochs,
    // and the best epoch's weights are put back.
    let (mut m, mut v) = (mynet::Params::zeroed(), mynet::Params::zeroed());
    let mut opt = Adam::new(1e-3, &mut m, &mut v);
    let mut early = EarlyStopping::<mynet::Params>::new(Monitor::ValLoss, 2);
    let target = |label: u8| label as usize; // the loss's target: a class index
    let cfg = FitConfig { epochs: 10, ..FitConfig::default() };
    let (tr, va) = (Samples::from(&train), Some(Samples::from(&valid)));
    let history =
        fit_callbacks::<_, _, _, 32>(&mut net, tr, va, SoftmaxCrossEntropy, target, &mut opt, &cfg, &mut [&mut early])?;
    println!("trained {} epochs; the best, kept: {:?}", history.epochs.len(), early.best_epoch());

    // Test accuracy, and one image classified.
    let (loss, accuracy) = evaluate_set::<_, _, 32>(&net, Samples::from(&test), SoftmaxCrossEntropy, target);
    println!("test: loss {loss:.4}, accuracy {accuracy:.4}");
    let mut ws = mynet::Workspace::<1>::zeroed();
    if let Some(first) = test.images().first() {
        println!("the first test image is class {}", net.classify(first, &mut ws));
    }

    // Save as safetensors (conv.weight, conv.bias, dense.weight, dense.bias), load back.
    io::save_file(&net, "mynet.safetensors")?;
    let mut loaded = mynet::Params::zeroed();
    io::load_file(&mut loaded, "mynet.safetensors")?;
    assert_eq!(loaded.dense.weight, net.dense.weight);
    Ok(())
}
