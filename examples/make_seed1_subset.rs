//! Regenerates the Fashion-MNIST seed-1 subset shipped in
//! `data/fashion-mnist-seed1`: classes 1 (trouser) and 3 (dress) of the
//! training and test sets, with their original labels and in their
//! original order, as gzip IDX files written deterministically (gzip
//! modification time 0, no file name), so the output is byte-identical to
//! the committed files.
//!
//! ```text
//! cargo run --release --example make_seed1_subset -- [--data DIR] [--out data/fashion-mnist-seed1]
//! ```
//! `--data DIR` is a directory with the full Fashion-MNIST; without it the
//! full dataset is searched as `constnet::data::locate_fashion_mnist_full`
//! does (`CONSTNET_FASHION_MNIST`, then `/usr/share/datasets/fashion-mnist`).
//! `--out` defaults to `data/fashion-mnist-seed1` in this repository.

use constnet::data::{FASHION_MNIST_SHIPPED_DIR, FashionMnist, locate_fashion_mnist_full};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut data: Option<PathBuf> = None;
    let mut out = PathBuf::from(FASHION_MNIST_SHIPPED_DIR);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--data", Some(v)) => data = Some(v.into()),
            ("--out", Some(v)) => out = v.into(),
            _ => {
                eprintln!("usage: make_seed1_subset [--data DIR] [--out DIR]   (unexpected or incomplete: {arg})");
                return ExitCode::from(2);
            }
        }
    }
    let found = match locate_fashion_mnist_full(data.as_deref()) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("reading {found}");
    match FashionMnist::write_subset(&found, &[1, 3], &out) {
        Ok((train, test)) => {
            println!("wrote {train} training and {test} test samples (classes 1 and 3) to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
