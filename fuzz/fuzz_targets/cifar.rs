//! Fuzzes the CIFAR-10 batch reader on the input as a file, raw, and on
//! the input gzip-compressed.
//!
//! For any input: nothing panics; every error names the file; the budget
//! (64 MiB) is never exceeded; an accepted batch holds exactly
//! `len / 3073` records with labels below 10 and integral pixels
//! 0..=255, and the raw and gzip files give the same result, or errors of
//! the same kind.
#![no_main]

#[path = "common.rs"]
mod common;

use constnet::Flat;
use constnet::data::{Budget, CIFAR10_RECORD, read_cifar10_batch_with};
use libfuzzer_sys::fuzz_target;
use std::mem::discriminant;

const LIMIT: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let (raw, gz) = (common::scratch("cifar-raw"), common::scratch("cifar-gz"));
    common::write(&raw, data);
    let mut budget = Budget::new(LIMIT);
    let a = read_cifar10_batch_with(&raw, &mut budget);
    assert!(budget.used() <= LIMIT);
    match &a {
        Ok(ds) => {
            if !common::is_gzip(data) {
                assert_eq!(ds.len() * CIFAR10_RECORD, data.len());
            }
            assert!(ds.labels().iter().all(|&l| l < 10));
            for t in ds.images() {
                assert!(t.as_flat().iter().all(|&v| (0.0..=255.0).contains(&v) && v.fract() == 0.0));
            }
            assert_eq!(budget.used(), ds.len() as u64 * (CIFAR10_RECORD as u64 + 4 * 3072 + 1));
        }
        Err(e) => common::names_file(e, &raw),
    }
    if common::is_gzip(data) {
        return;
    }
    common::write(&gz, &common::gzip(data));
    let b = read_cifar10_batch_with(&gz, &mut Budget::new(LIMIT));
    match (&a, &b) {
        (Ok(x), Ok(y)) => assert!(x == y, "raw and gzip batches differ"),
        (Err(x), Err(y)) => {
            assert_eq!(discriminant(x), discriminant(y), "raw: {x}; gzip: {y}");
            common::names_file(y, &gz);
        }
        _ => panic!("raw {:?} but gzip {:?}", a.as_ref().err(), b.as_ref().err()),
    }
});
