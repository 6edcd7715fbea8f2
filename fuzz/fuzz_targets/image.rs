//! Fuzzes the image decoder example 08 uses (`image::decode_gray`: PNG and
//! PGM, P5 and P2) with a 64 MiB bound and with a 4 KiB one.
//!
//! For any input: nothing panics; an accepted image has `width * height`
//! pixels, all finite and in 0..=1, whose `f32`s fit the bound; a refusal
//! for size names a size above the bound; the small bound accepts only what
//! the large one accepts, identically.
#![no_main]

use constnet::image::{DecodeError, decode_gray};
use libfuzzer_sys::fuzz_target;

fn check(data: &[u8], limit: u64) -> Option<(usize, usize, Vec<f32>)> {
    match decode_gray(data, limit) {
        Ok(img) => {
            assert_eq!(img.pixels.len(), img.width * img.height);
            assert!(4 * img.pixels.len() as u64 <= limit, "{} pixels accepted under {limit} bytes", img.pixels.len());
            assert!(img.pixels.iter().all(|v| (0.0..=1.0).contains(v)), "a pixel outside 0..=1");
            Some((img.width, img.height, img.pixels))
        }
        Err(DecodeError::TooLarge { needed, limit: l, .. }) => {
            assert!(needed > l && l == limit, "refused {needed} bytes under a limit of {l}");
            None
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let large = check(data, 64 << 20);
    if let Some(small) = check(data, 4 << 10) {
        let large = large.expect("accepted under 4 KiB but not under 64 MiB");
        assert!(small.0 == large.0 && small.1 == large.1, "sizes differ");
        assert!(small.2.iter().zip(&large.2).all(|(a, b)| a.to_bits() == b.to_bits()), "pixels differ");
    }
});
