//! The reference networks of the tutorials and benchmarks, declared once
//! with [`network!`](crate::network) so examples, tests and benchmarks
//! share them.

use crate::{
    BatchNorm2d, Conv2d, Dense, DepthwiseConv2d, Dropout, GlobalAvgPool2d, MaxPool2d, Relu, Relu6, Sigmoid, Softmax,
    Tensor, network,
};

network! {
    /// Tutorial 000 ("CNNs using NumPy, part 1"), the seed-1 experiment: one
    /// 3x3 filter with zero padding 1 on a 28x28 image ('same'), ReLU, a dense
    /// layer 784 -> 1, sigmoid; no biases.
    ///
    /// PyTorch: `Conv2d(1, 1, 3, padding=1, bias=False)`, `ReLU`,
    /// `Linear(784, 1, bias=False)`, `Sigmoid`.
    pub mod seed1 {
        input: Tensor<1, 28, 28>,
        conv: Conv2d<1, 1, 3, 1, 1, false>,
        relu: Relu,
        dense: Dense<784, 1, false>,
        sigmoid: Sigmoid,
    }
}

network! {
    /// Tutorial 001's worked example: a 3x3 'valid' filter on a 5x5 image,
    /// ReLU, 2x2 max-pool with the edge window kept (3x3 -> 2x2), dense 4 -> 10
    /// with bias, softmax.
    pub mod worked5x5 {
        input: Tensor<1, 5, 5>,
        conv: Conv2d<1, 1, 3, 0, 1, false>,
        relu: Relu,
        pool: MaxPool2d<2>,
        dense: Dense<4, 10>,
        softmax: Softmax,
    }
}

network! {
    /// Tutorial 002 ("CNN from scratch with NumPy"): 3 filters of 5x5, valid
    /// (24x24 = 576 positions each), sigmoid, dense 1728 -> 1 with bias,
    /// sigmoid; trained with squared error.
    pub mod tutorial002 {
        input: Tensor<1, 28, 28>,
        conv: Conv2d<1, 3, 5, 0, 1, false>,
        sigmoid1: Sigmoid,
        dense: Dense<1728, 1>,
        sigmoid2: Sigmoid,
    }
}

network! {
    /// All 10 Fashion-MNIST classes with several filters (seed 1's part 2, the
    /// `fashion10` workload): conv 8 (3x3, pad 1) + ReLU + max-pool 2, conv 16
    /// (3x3, pad 1) + ReLU + max-pool 2, dense 784 -> 10, softmax.
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

network! {
    /// The Fashion-MNIST benchmark convnet (`benchmark/convnet.py` of the
    /// dataset, the `tfconv` workload, 3.3 M parameters): conv 32 5x5 'same' +
    /// ReLU + pool 2, conv 64 5x5 'same' + ReLU + pool 2, dense 3136 -> 1024 +
    /// ReLU, dropout 0.4, dense 10, softmax. Build it with
    /// [`Flat::boxed_zeroed`](crate::Flat::boxed_zeroed): its weights are 13 MB.
    pub mod tfconv {
        input: Tensor<1, 28, 28>,
        conv1: Conv2d<1, 32, 5, 2, 1>,
        relu1: Relu,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<32, 64, 5, 2, 1>,
        relu2: Relu,
        pool2: MaxPool2d<2>,
        dense1: Dense<3136, 1024>,
        relu3: Relu,
        dropout: Dropout<40>,
        dense2: Dense<1024, 10>,
        softmax: Softmax,
    }
}

network! {
    /// Colour input (CIFAR-10, 3x32x32): conv 16 (3x3, pad 1) + ReLU + max-pool
    /// 2, conv 32 (3x3, pad 1) + ReLU + max-pool 2, dense 2048 -> 10, softmax.
    pub mod cifar10 {
        input: Tensor<3, 32, 32>,
        conv1: Conv2d<3, 16, 3, 1, 1>,
        relu1: Relu,
        pool1: MaxPool2d<2>,
        conv2: Conv2d<16, 32, 3, 1, 1>,
        relu2: Relu,
        pool2: MaxPool2d<2>,
        dense: Dense<2048, 10>,
        softmax: Softmax,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Flat, Network};

    #[test]
    fn parameter_counts() {
        assert_eq!(seed1::Params::zeroed().num_params(), 9 + 784);
        assert_eq!(fashion10::Params::boxed_zeroed().num_params(), 80 + 1168 + 7850);
        // 832 + 51264 + 3212288 + 10250 = 3 274 634, "3.3 M parameters".
        assert_eq!(tfconv::Params::boxed_zeroed().num_params(), 3_274_634);
        assert_eq!(<tutorial002::sigmoid1::Out>::LEN, 3 * 24 * 24);
        assert_eq!(mobilenet::Params::boxed_zeroed().num_params(), 36_874);
    }
}

/// Declares a ResNet-8 (`zoo::resnet8`, `zoo::resnet8_wide`) with stages
/// of `$a`, `$b` and `$c` channels.
macro_rules! resnet8 {
    ($(#[$doc:meta])* $name:ident: $a:literal, $b:literal, $c:literal) => {
        network! {
            $(#[$doc])*
            pub mod $name {
                input: Tensor<1, 28, 28>,
                conv1: Conv2d<1, $a, 3, 1, 1, false>,
                bn1: BatchNorm2d<$a>,
                relu: Relu,
                layer1_0 = "layer1.0": residual {
                    conv1: Conv2d<$a, $a, 3, 1, 1, false>,
                    bn1: BatchNorm2d<$a>,
                    relu: Relu,
                    conv2: Conv2d<$a, $a, 3, 1, 1, false>,
                    bn2: BatchNorm2d<$a>,
                },
                relu1: Relu,
                layer2_0 = "layer2.0": residual {
                    conv1: Conv2d<$a, $b, 3, 1, 2, false>,
                    bn1: BatchNorm2d<$b>,
                    relu: Relu,
                    conv2: Conv2d<$b, $b, 3, 1, 1, false>,
                    bn2: BatchNorm2d<$b>,
                } downsample [Conv2d<$a, $b, 1, 0, 2, false>, BatchNorm2d<$b>],
                relu2: Relu,
                layer3_0 = "layer3.0": residual {
                    conv1: Conv2d<$b, $c, 3, 1, 2, false>,
                    bn1: BatchNorm2d<$c>,
                    relu: Relu,
                    conv2: Conv2d<$c, $c, 3, 1, 1, false>,
                    bn2: BatchNorm2d<$c>,
                } downsample [Conv2d<$b, $c, 1, 0, 2, false>, BatchNorm2d<$c>],
                relu3: Relu,
                avgpool: GlobalAvgPool2d,
                fc: Dense<$c, 10>,
                out: Softmax,
            }
        }
    };
}

resnet8! {
    /// A ResNet-8 for 28 x 28 grey images, MLPerf Tiny's widths: a 3x3
    /// stem to 16 channels with batch norm, three stages of one basic
    /// block each (16, 32 and 64 channels; the second and third halve the
    /// side with a strided 3x3 convolution and project the shortcut with a
    /// strided 1x1 convolution and batch norm), global average pooling,
    /// dense 64 -> 10 (78 k parameters).
    ///
    /// PyTorch: torchvision's `BasicBlock` in `layer1`..`layer3` (one
    /// block each) between `conv1`/`bn1`/`relu` and `avgpool`/`fc`, with
    /// the same `state_dict` names (`scripts/interop/resnet8.py` declares it).
    resnet8: 16, 32, 64
}

resnet8! {
    /// [`resnet8`] at twice the width, 32, 64 and 128 channels (310 k
    /// parameters): examples/10_resnet_fashion.rs
    /// (`scripts/interop/resnet8.py --wide` declares it in PyTorch).
    resnet8_wide: 32, 64, 128
}

network! {
    /// A MobileNet-style depthwise-separable network for 28 x 28 grey
    /// images (examples/11_mobilenet_fashion.rs, 36,874 parameters): a 3x3
    /// stem to 16 channels, then five blocks of a depthwise 3x3 and a
    /// pointwise 1x1 convolution, each followed by batch norm and ReLU6
    /// (the second and fourth depthwise convolutions have stride 2:
    /// 28 -> 14 -> 7), global average pooling, dropout 20 %, dense
    /// 128 -> 10.
    ///
    /// PyTorch: `Conv2d(c, c, 3, padding=1, groups=c, bias=False)` for
    /// each depthwise layer and `Conv2d(c_in, c_out, 1, bias=False)` for
    /// each pointwise one, with `BatchNorm2d` and `ReLU6` after each.
    pub mod mobilenet {
        input: Tensor<1, 28, 28>,
        stem: Conv2d<1, 16, 3, 1, 1, false>,
        stem_bn: BatchNorm2d<16>,
        stem_relu: Relu6,
        dw1: DepthwiseConv2d<16, 3, 1, 1, false>,
        dw1_bn: BatchNorm2d<16>,
        dw1_relu: Relu6,
        pw1: Conv2d<16, 32, 1, 0, 1, false>,
        pw1_bn: BatchNorm2d<32>,
        pw1_relu: Relu6,
        dw2: DepthwiseConv2d<32, 3, 1, 2, false>, // 28 x 28 -> 14 x 14
        dw2_bn: BatchNorm2d<32>,
        dw2_relu: Relu6,
        pw2: Conv2d<32, 64, 1, 0, 1, false>,
        pw2_bn: BatchNorm2d<64>,
        pw2_relu: Relu6,
        dw3: DepthwiseConv2d<64, 3, 1, 1, false>,
        dw3_bn: BatchNorm2d<64>,
        dw3_relu: Relu6,
        pw3: Conv2d<64, 64, 1, 0, 1, false>,
        pw3_bn: BatchNorm2d<64>,
        pw3_relu: Relu6,
        dw4: DepthwiseConv2d<64, 3, 1, 2, false>, // 14 x 14 -> 7 x 7
        dw4_bn: BatchNorm2d<64>,
        dw4_relu: Relu6,
        pw4: Conv2d<64, 128, 1, 0, 1, false>,
        pw4_bn: BatchNorm2d<128>,
        pw4_relu: Relu6,
        dw5: DepthwiseConv2d<128, 3, 1, 1, false>,
        dw5_bn: BatchNorm2d<128>,
        dw5_relu: Relu6,
        pw5: Conv2d<128, 128, 1, 0, 1, false>,
        pw5_bn: BatchNorm2d<128>,
        pw5_relu: Relu6,
        pool: GlobalAvgPool2d,
        drop: Dropout<20>,
        fc: Dense<128, 10>,
        out: Softmax,
    }
}
