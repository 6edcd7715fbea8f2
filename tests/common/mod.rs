//! Networks shared by the integration tests: the library's reference networks.
#![allow(unused_imports)]

pub use constnet::zoo::{fashion10, seed1};
