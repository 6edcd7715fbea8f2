//! The layers, one file each: the math in the doc comment, the struct,
//! forward, backward right below it, and its finite-difference tests.

pub mod avgpool2d;
pub mod conv2d;
pub mod dense;
pub mod dropout;
pub mod maxpool2d;
pub mod relu;
pub mod sigmoid;
pub mod softmax;
pub mod tanh;

pub use avgpool2d::AvgPool2d;
pub use conv2d::Conv2d;
pub use dense::Dense;
pub use dropout::Dropout;
pub use maxpool2d::MaxPool2d;
pub use relu::Relu;
pub use sigmoid::Sigmoid;
pub use softmax::Softmax;
pub use tanh::Tanh;
