//! Networks shared by the integration tests.
#![allow(dead_code)]

use constnet::{Conv2d, Dense, MaxPool2d, Relu, Sigmoid, Softmax, Tensor, network};

network! {
    /// The seed-1 network: one 3x3 filter ('same', no bias), ReLU, dense 784 -> 1 (no bias), sigmoid.
    pub mod seed1 {
        input: Tensor<1, 28, 28>,
        conv: Conv2d<1, 1, 3, 1, 1, false>,
        relu: Relu,
        dense: Dense<784, 1, false>,
        sigmoid: Sigmoid,
    }
}

network! {
    /// Two conv layers, 10 classes (the fashion10 workload).
    pub mod fashion10 {
        input: Tensor<1, 28, 28>,
        conv1: Conv2d<1, 8, 3, 1, 1>,
        relu1: Relu,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<8, 16, 3, 1, 1>,
        relu2: Relu,
        pool2: MaxPool2d<2>,
        dense: Dense<784, 10>,
        softmax: Softmax,
    }
}
