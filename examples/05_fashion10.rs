//! Course step 5 — all 10 Fashion-MNIST classes with several filters
//! (seed 1's part 2).
//!
//! conv 8 (3x3, pad 1) + ReLU + max-pool 2, conv 16 (3x3, pad 1) + ReLU +
//! max-pool 2, dense 784 -> 10, softmax cross-entropy
//! ([`constnet::zoo::fashion10`]); Adam (learning rate 2e-3 with cosine
//! decay), mini-batches of 32 on both cores, per-pixel standardisation,
//! 5 epochs on the full data (55000 for training, the last 5000 for
//! validation). With these settings it checks a test accuracy of at least
//! 0.89, and stops with an error below it. Writes
//! `out/fashion10_curves.png`.
//!
//! ```text
//! cargo run --release --example 05_fashion10 [-- --epochs 5] [--threads 1|2] [--lr 0.002] [--checkpoint FILE] [--data DIR] [--json]
//! ```

mod common;

fn main() {
    common::fashion::train_10_classes::<constnet::zoo::fashion10::Params>(&common::fashion::Course {
        name: "fashion10",
        epochs: 5,
        lr: 2e-3,
        threads: 2,
        flips: false,
        shift: 0,
        promise: Some(0.89),
    });
}
