//! Chooses the weights file that the crate compiles in: the path in
//! `EMBED_WEIGHTS` if set, else `weights.safetensors` beside this file,
//! which `cargo run --release -p train` writes.

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=EMBED_WEIGHTS");
    let path = match std::env::var_os("EMBED_WEIGHTS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("weights.safetensors"),
    };
    if !path.is_absolute() {
        panic!("EMBED_WEIGHTS must be an absolute path, received {}", path.display());
    }
    if !path.is_file() {
        panic!("weights file {} does not exist; `cargo run --release -p train` writes it", path.display());
    }
    println!("cargo::rerun-if-changed={}", path.display());
    println!("cargo::rustc-env=EMBED_WEIGHTS_FILE={}", path.display());
}
