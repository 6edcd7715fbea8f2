//! Fuzzes the IDX readers on the input as a file, raw or gzip (a gzip
//! input is decompressed by the reader: this is where bombs land).
//!
//! For any input: nothing panics; every error names the file; the budget
//! (64 MiB) is never exceeded, so a decompression bomb is refused rather
//! than allocated (libFuzzer's `-malloc_limit_mb` and `-rss_limit_mb`
//! catch what the budget misses); what is accepted is consistent: the
//! pixels are `count * rows * cols` bytes and exactly what was charged, a
//! raw file is exactly header and data, labels are below 10.
#![no_main]

#[path = "common.rs"]
mod common;

use constnet::data::{Budget, load_idx_with, read_idx_images_with, read_idx_labels_with};
use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch("idx");
    common::write(&path, data);
    let raw = !common::is_gzip(data);

    let mut budget = Budget::new(LIMIT);
    match read_idx_images_with(&path, &mut budget) {
        Ok(img) => {
            assert_eq!(img.pixels.len(), img.count * img.rows * img.cols);
            assert_eq!(budget.used(), img.pixels.len() as u64, "charged other than the pixel bytes");
            if raw {
                assert_eq!(data.len(), 16 + img.pixels.len(), "a raw file accepted with a wrong length");
            }
        }
        Err(e) => common::names_file(&e, &path),
    }
    assert!(budget.used() <= LIMIT);

    let mut budget = Budget::new(LIMIT);
    match read_idx_labels_with(&path, Some(10), &mut budget) {
        Ok(labels) => {
            assert!(labels.iter().all(|&l| l < 10), "a label of 10 or more accepted");
            assert_eq!(budget.used(), labels.len() as u64);
            if raw {
                assert_eq!(data.len(), 8 + labels.len(), "a raw file accepted with a wrong length");
            }
        }
        Err(e) => common::names_file(&e, &path),
    }

    // The same file as both halves of a load: it is never both a 1- and a
    // 3-dimensional file, so this always fails, naming one of them.
    let mut budget = Budget::new(LIMIT);
    let err = load_idx_with::<2, 2>(&path, &path, None, &mut budget).expect_err("one file loaded as images and labels");
    common::names_file(&err, &path);
    assert!(budget.used() <= LIMIT);
});
