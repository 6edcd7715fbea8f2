//! Fashion-MNIST read as sequences: each image is 28 steps (its rows) of
//! 28 values (a row's pixels), and a 1-D convolutional network classifies
//! the sequence, as it would a sensor or audio signal.
//!
//! conv1d 28 → 64 (5 taps, pad 2) + ReLU + max-pool 2, conv1d 64 → 64
//! (3 taps, pad 1) + ReLU + max-pool 2, dense 448 → 10, softmax
//! cross-entropy; Adam (learning rate 2e-3 with cosine decay), mini-batches of 32 on one
//! thread (`--threads 2` for both cores), per-pixel standardisation, 5 epochs on the full
//! data (55000 for training, the last 5000 for validation). With these settings it checks
//! a test accuracy of at least 0.88, and stops with an error below it. The
//! images become sequences as the network's input type says
//! (`common::fashion::CourseInput` for `Tensor<28, 1, 28>`).
//!
//! ```text
//! cargo run --release --example 09_conv1d_sequences [-- --epochs 5] [--threads 1|2] [--seed 1] [--data DIR] [--json]
//! ```

mod common;

use constnet::{Conv1d, Dense, MaxPool1d, Relu, Softmax, Tensor, network};

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

fn main() {
    common::fashion::train_10_classes::<seqnet::Params>(&common::fashion::Course {
        name: "seqnet",
        epochs: 5,
        lr: 2e-3,
        threads: 1,
        flips: false,
        shift: 0,
        promise: Some(0.88),
    });
}
