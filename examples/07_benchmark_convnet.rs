//! Course step 7 — the Fashion-MNIST benchmark convnet.
//!
//! `benchmark/convnet.py` of the Fashion-MNIST repository, the row
//! "2 Conv+pooling" of its table (0.916 test accuracy): conv 32 5x5 'same' +
//! ReLU + pool 2, conv 64 5x5 'same' + ReLU + pool 2, dense 3136 -> 1024 +
//! ReLU, dropout 0.4, dense 10 ([`constnet::zoo::tfconv`], 3.3 M
//! parameters, built on the heap); Adam, mini-batches of 32, data-parallel on
//! both cores by default. Prints the epochs and the time they took.
//!
//! ```text
//! cargo run --release --example 07_benchmark_convnet [-- --epochs 10] [--threads 1|2] [--data DIR] [--json]
//! ```

mod common;

fn main() {
    let acc = common::fashion::train_10_classes::<constnet::zoo::tfconv::Params>(&common::fashion::Course {
        name: "tfconv",
        epochs: 10,
        lr: 2e-3,
        threads: 2,
        flips: false,
        shift: 0,
        promise: None,
    });
    println!("the benchmark table's row says 0.916; constnet reached {acc:.4}");
}
