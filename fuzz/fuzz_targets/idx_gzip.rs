//! Fuzzes the IDX readers on gzip files whose decompressed bytes are the
//! input, against the same bytes as a raw file: the two must agree.
//!
//! For any input: nothing panics; the gzip and raw files give the same
//! images and labels, or errors of the same kind (but for a header over
//! the budget, which a raw file may answer with its wrong length), each
//! naming its file;
//! a pair of files (labels made to match the images' count) loads into a
//! dataset whose pixels are the file's bytes as `f32` and whose charge is
//! exactly labels + pixel bytes + `f32` images.
#![no_main]

#[path = "common.rs"]
mod common;

use constnet::Flat;
use constnet::data::{Budget, DataError, load_idx_with, read_idx_images_with, read_idx_labels_with};
use libfuzzer_sys::fuzz_target;
use std::mem::discriminant;

const LIMIT: u64 = 64 << 20;

/// The raw and gzip files read the same, or fail the same way; but a raw
/// file's length is checked before the budget is charged, and a gzip
/// stream's cannot be, so a header over the budget is `OverBudget` for gzip
/// and may be `Truncated` or `TrailingData` for raw.
fn same_outcome<T: PartialEq + std::fmt::Debug>(raw: &Result<T, DataError>, gz: &Result<T, DataError>) {
    match (raw, gz) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "raw and gzip files read differently"),
        (Err(DataError::Truncated { .. } | DataError::TrailingData { .. }), Err(DataError::OverBudget { .. })) => {}
        (Err(a), Err(b)) => assert_eq!(discriminant(a), discriminant(b), "raw: {a}; gzip: {b}"),
        _ => panic!("raw {:?} but gzip {:?}", raw.as_ref().err(), gz.as_ref().err()),
    }
}

fuzz_target!(|data: &[u8]| {
    if common::is_gzip(data) {
        return; // the raw file would be read as gzip too
    }
    let (raw, gz) = (common::scratch("idxgz-raw"), common::scratch("idxgz-gz"));
    common::write(&raw, data);
    common::write(&gz, &common::gzip(data));

    let read =
        |p| read_idx_images_with(p, &mut Budget::new(LIMIT)).map(|img| (img.count, img.rows, img.cols, img.pixels));
    let (a, b) = (read(&raw), read(&gz));
    same_outcome(&a, &b);
    if let Err(e) = &b {
        common::names_file(e, &gz);
    }
    same_outcome(
        &read_idx_labels_with(&raw, Some(10), &mut Budget::new(LIMIT)),
        &read_idx_labels_with(&gz, Some(10), &mut Budget::new(LIMIT)),
    );

    // Labels to match: a whole load of 2x2 images.
    if let Ok((count, 2, 2, pixels)) = a {
        let labels = common::scratch("idxgz-labels");
        let mut file = vec![0, 0, 8, 1];
        file.extend_from_slice(&(count as u32).to_be_bytes());
        file.extend((0..count).map(|i| (i % 10) as u8));
        common::write(&labels, &common::gzip(&file));
        let mut budget = Budget::new(LIMIT);
        match load_idx_with::<2, 2>(&gz, &labels, Some(10), &mut budget) {
            Ok(ds) => {
                assert_eq!(ds.len(), count);
                let flat: Vec<f32> = ds.images().iter().flat_map(|t| t.as_flat().to_vec()).collect();
                assert!(flat.iter().zip(&pixels).all(|(&v, &b)| v == b as f32), "pixels changed on the way");
                assert_eq!(budget.used(), (count + pixels.len() + 4 * pixels.len()) as u64);
            }
            Err(e) => assert!(matches!(e, DataError::OverBudget { .. }), "a readable pair failed to load: {e}"),
        }
    }
});
