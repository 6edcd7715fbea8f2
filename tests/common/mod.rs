//! Networks shared by the integration tests: the library's reference networks.
#![allow(unused_imports, dead_code)]

pub use constnet::zoo::{fashion10, seed1};

constnet::network! {
    /// A small network for the file tests: conv [2, 1, 3, 3] + [2], dense [3, 8] + [3].
    pub mod tiny {
        input: constnet::Tensor<1, 4, 4>,
        conv: constnet::Conv2d<1, 2, 3, 1, 1>,
        relu: constnet::Relu,
        pool: constnet::MaxPool2d<2>,
        dense: constnet::Dense<8, 3>,
        softmax: constnet::Softmax,
    }
}

/// A safetensors file whose header is `len` bytes of empty tensors
/// (`"t0000001":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`, 60
/// bytes each), padded with spaces; no data.
pub fn crafted_header(len: usize) -> Vec<u8> {
    let mut h = String::from("{");
    for i in 0.. {
        let e = format!(r#""t{i:07}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}"#);
        if h.len() + 1 + e.len() + 1 > len {
            break;
        }
        if i > 0 {
            h.push(',');
        }
        h.push_str(&e);
    }
    h.push('}');
    h.extend(std::iter::repeat_n(' ', len - h.len()));
    let mut file = (len as u64).to_le_bytes().to_vec();
    file.extend_from_slice(h.as_bytes());
    file
}
