//! The data layer: IDX and CIFAR-10 readers on crafted good and bad files
//! (raw and gzip), the IDX writer, preprocessing, the shipped seed-1 subset,
//! and the real Fashion-MNIST files when they are installed.
#![cfg(feature = "std")]

use constnet::Tensor;
use constnet::data::*;
use flate2::write::GzEncoder;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

const FULL_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// A fresh, empty directory under the system temp dir, unique to this
/// process and call.
fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("constnet-test-data-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The bytes of an IDX file with the given magic, element type, dimensions and data.
fn idx_bytes(magic: [u8; 2], elem: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![magic[0], magic[1], elem, dims.len() as u8];
    dims.iter().for_each(|d| b.extend_from_slice(&d.to_be_bytes()));
    b.extend_from_slice(data);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Writes `bytes` raw and gzip-compressed; returns both paths.
fn write_both(dir: &Path, name: &str, bytes: &[u8]) -> [PathBuf; 2] {
    let raw = dir.join(name);
    let gz = dir.join(format!("{name}-compressed")); // no .gz: gzip is detected by its magic bytes
    std::fs::write(&raw, bytes).unwrap();
    std::fs::write(&gz, gzip(bytes)).unwrap();
    [raw, gz]
}

/// Asserts the error's message names the file.
fn names_file(err: &DataError, path: &Path) {
    let msg = err.to_string();
    assert!(msg.contains(&*path.to_string_lossy()), "error does not name {}: {msg}", path.display());
}

#[test]
fn idx_round_trip_raw_and_gzip() {
    let dir = temp_dir("roundtrip");
    let mut rng = StdRng::seed_from_u64(3);
    let pixels: Vec<u8> = (0..5 * 4 * 3).map(|_| rng.random()).collect();
    let labels = [0u8, 9, 3, 3, 1];
    for compression in [IdxCompression::Raw, IdxCompression::Gzip] {
        let (img, lab) = (dir.join(format!("img-{compression:?}")), dir.join(format!("lab-{compression:?}")));
        write_idx_images(&img, 4, 3, &pixels, compression).unwrap();
        write_idx_labels(&lab, &labels, compression).unwrap();
        let read = read_idx_images(&img).unwrap();
        assert_eq!((read.count, read.rows, read.cols), (5, 4, 3));
        assert_eq!(read.pixels, pixels);
        assert_eq!(read.path, img);
        assert_eq!(read_idx_labels(&lab, Some(10)).unwrap(), labels);
        let ds = load_idx::<4, 3>(&img, &lab, Some(10)).unwrap();
        assert_eq!(ds.labels(), &labels);
        for (k, t) in ds.images().iter().enumerate() {
            let expected: Vec<f32> = read.image(k).iter().map(|&b| b as f32).collect();
            assert_eq!(constnet::Flat::as_flat(t), &expected[..]);
        }
        // the raw file is exactly header + data
        if compression == IdxCompression::Raw {
            assert_eq!(std::fs::read(&img).unwrap(), idx_bytes([0, 0], 8, &[5, 4, 3], &pixels));
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn gzip_writer_is_deterministic() {
    let dir = temp_dir("deterministic");
    let labels: Vec<u8> = (0..1000).map(|i| (i * 7 % 10) as u8).collect();
    let (a, b) = (dir.join("a"), dir.join("b"));
    write_idx_labels(&a, &labels, IdxCompression::Gzip).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100)); // a clock-based mtime would differ
    write_idx_labels(&b, &labels, IdxCompression::Gzip).unwrap();
    let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(ba, bb);
    // gzip header: magic, deflate, no flags (no file name), mtime 0, OS 255
    assert_eq!(&ba[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn idx_header_errors_raw_and_gzip() {
    let dir = temp_dir("header");
    type Check = fn(&DataError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("empty", vec![], |e| matches!(e, DataError::ShortHeader { needed: 4, found: 0, .. })),
        ("short-magic", vec![0, 0, 8], |e| matches!(e, DataError::ShortHeader { needed: 4, found: 3, .. })),
        ("short-dims", vec![0, 0, 8, 3, 0, 0, 0, 1, 0], |e| {
            matches!(e, DataError::ShortHeader { needed: 16, found: 9, .. })
        }),
        ("magic", idx_bytes([0x50, 0x4b], 8, &[1, 1, 1], &[0]), |e| {
            matches!(e, DataError::BadMagic { found: [0x50, 0x4b, 8, 3], .. })
        }),
        ("type-f32", idx_bytes([0, 0], 0x0d, &[1, 1, 1], &[0; 4]), |e| {
            matches!(e, DataError::BadElementType { found: 0x0d, .. })
        }),
        ("ndim", idx_bytes([0, 0], 8, &[1, 1], &[0]), |e| {
            matches!(e, DataError::BadDimensions { expected: 3, found: 2, .. })
        }),
        ("truncated", idx_bytes([0, 0], 8, &[2, 2, 2], &[1; 7]), |e| {
            matches!(e, DataError::Truncated { expected: 8, found: 7, .. })
        }),
        ("trailing", idx_bytes([0, 0], 8, &[2, 2, 2], &[1; 9]), |e| {
            matches!(e, DataError::TrailingData { expected: 8, found: 9, .. })
        }),
        // 4G x 4G x 4G declared in a 16-byte file: rejected before any allocation
        ("huge", idx_bytes([0, 0], 8, &[u32::MAX, u32::MAX, u32::MAX], &[]), |e| {
            matches!(e, DataError::TooLarge { declared: u64::MAX, .. })
        }),
    ];
    for (name, bytes, expected) in cases {
        for path in write_both(&dir, name, &bytes) {
            let err = read_idx_images(&path).unwrap_err();
            assert!(expected(&err), "{name} ({}): unexpected {err:?}", path.display());
            names_file(&err, &path);
        }
    }
    // exactly MAX_DATA_BYTES declared passes the size check, then is found missing (nothing allocated)
    for path in write_both(&dir, "at-limit", &idx_bytes([0, 0], 8, &[1 << 16, 1 << 7, 1 << 7], &[])) {
        let err = read_idx_images(&path).unwrap_err();
        assert!(matches!(err, DataError::Truncated { expected: MAX_DATA_BYTES, found: 0, .. }), "{err:?}");
    }
    // one byte over the limit
    for path in write_both(&dir, "over-limit-1", &idx_bytes([0, 0], 8, &[(1 << 30) + 1, 1, 1], &[])) {
        let err = read_idx_images(&path).unwrap_err();
        assert!(matches!(err, DataError::TooLarge { declared: 0x4000_0001, max: MAX_DATA_BYTES, .. }), "{err:?}");
    }
    // labels need exactly one dimension
    for path in write_both(&dir, "labels-3d", &idx_bytes([0, 0], 8, &[1, 1, 1], &[0])) {
        let err = read_idx_labels(&path, None).unwrap_err();
        assert!(matches!(err, DataError::BadDimensions { expected: 1, found: 3, .. }), "{err:?}");
        assert!(err.to_string().contains("expected 1 (labels: count)"), "{err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn idx_file_errors() {
    let dir = temp_dir("file");
    // missing file
    let missing = dir.join("missing-idx1-ubyte");
    let err = read_idx_labels(&missing, None).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    names_file(&err, &missing);
    assert!(std::error::Error::source(&err).is_some());
    // gzip magic followed by garbage
    let garbage = dir.join("garbage.gz");
    std::fs::write(&garbage, [0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]).unwrap();
    let err = read_idx_labels(&garbage, None).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    names_file(&err, &garbage);
    // a gzip file cut in the middle of its stream
    let full = gzip(&idx_bytes([0, 0], 8, &[3000], &(0..3000).map(|i| (i % 251) as u8).collect::<Vec<_>>()));
    let cut = dir.join("cut.gz");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let err = read_idx_labels(&cut, None).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    // a complete gzip stream followed by junk bytes
    let mut junk = full.clone();
    junk.extend_from_slice(b"junk after the stream");
    let junk_path = dir.join("junk.gz");
    std::fs::write(&junk_path, &junk).unwrap();
    let err = read_idx_labels(&junk_path, None).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}"); // "invalid gzip header" of a second member
    // label range
    let [raw, gz] = write_both(&dir, "labels", &idx_bytes([0, 0], 8, &[4], &[0, 9, 10, 3]));
    for path in [&raw, &gz] {
        assert_eq!(read_idx_labels(path, None).unwrap(), [0, 9, 10, 3]);
        assert_eq!(read_idx_labels(path, Some(11)).unwrap(), [0, 9, 10, 3]);
        let err = read_idx_labels(path, Some(10)).unwrap_err();
        assert!(matches!(err, DataError::LabelOutOfRange { index: 2, label: 10, num_classes: 10, .. }), "{err:?}");
        names_file(&err, path);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn idx_pair_errors() {
    let dir = temp_dir("pair");
    let [img, img_gz] = write_both(&dir, "images", &idx_bytes([0, 0], 8, &[3, 28, 28], &[7; 3 * 784]));
    let [lab, _] = write_both(&dir, "labels", &idx_bytes([0, 0], 8, &[2], &[1, 3]));
    let [lab3, _] = write_both(&dir, "labels3", &idx_bytes([0, 0], 8, &[3], &[1, 3, 1]));
    for img in [&img, &img_gz] {
        let err = load_idx::<28, 28>(img, &lab, Some(10)).unwrap_err();
        assert!(matches!(err, DataError::CountMismatch { n_images: 3, n_labels: 2, .. }), "{err:?}");
        let msg = err.to_string();
        assert_eq!(msg, format!("IDX file {} has 3 images but {} has 2 labels", img.display(), lab.display()));
        let err = load_idx::<32, 32>(img, &lab3, Some(10)).unwrap_err();
        assert!(matches!(err, DataError::ImageSize { expected: (1, 32, 32), found: (1, 28, 28), .. }), "{err:?}");
        names_file(&err, img);
        let ds = load_idx::<28, 28>(img, &lab3, Some(10)).unwrap();
        assert_eq!(ds.len(), 3);
        assert!(ds.images().iter().all(|t| constnet::Flat::as_flat(t).iter().all(|&v| v == 7.0)));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn writer_rejects_inconsistent_data() {
    let dir = temp_dir("writer");
    let path = dir.join("x");
    let err = write_idx_images(&path, 2, 2, &[0; 6], IdxCompression::Raw).unwrap_err();
    assert!(matches!(err, DataError::InvalidWrite { .. }), "{err:?}");
    names_file(&err, &path);
    assert!(write_idx_images(&path, 0, 2, &[], IdxCompression::Raw).is_err());
    let err = write_idx_labels(dir.join("no/such/dir/labels"), &[1], IdxCompression::Gzip).unwrap_err();
    assert!(matches!(err, DataError::WriteIo { .. }), "{err:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A CIFAR-10 record: label, then R, G, B planes, each with its own
/// recognisable pattern.
fn cifar_record(label: u8, seed: u8) -> Vec<u8> {
    let mut r = vec![label];
    for c in 0..3u8 {
        r.extend((0..1024).map(|p| (p as u8).wrapping_mul(3).wrapping_add(c * 80).wrapping_add(seed)));
    }
    r
}

#[test]
fn cifar10_reader_and_errors() {
    let dir = temp_dir("cifar");
    let records: Vec<u8> = (0..4u8).flat_map(|k| cifar_record(9 - k, k)).collect();
    let path = dir.join("data_batch_1.bin");
    std::fs::write(&path, &records).unwrap();
    let ds = read_cifar10_batch(&path).unwrap();
    assert_eq!(ds.labels(), &[9, 8, 7, 6]);
    for (k, t) in ds.images().iter().enumerate() {
        for c in 0..3 {
            for y in [0, 5, 31] {
                for x in [0, 17, 31] {
                    let p = y * 32 + x;
                    let expected = (p as u8).wrapping_mul(3).wrapping_add(c as u8 * 80).wrapping_add(k as u8);
                    assert_eq!(t.0[c][y][x], expected as f32, "image {k} channel {c} ({y}, {x})");
                }
            }
        }
    }
    // the same bytes gzip-compressed read the same
    let gz = dir.join("batch-gz.bin");
    std::fs::write(&gz, gzip(&records)).unwrap();
    assert_eq!(read_cifar10_batch(&gz).unwrap(), ds);

    let bad = dir.join("bad.bin");
    for (bytes, check) in [
        (records[..CIFAR10_RECORD * 2 - 1].to_vec(), "not a whole number"),
        ([records.clone(), vec![0]].concat(), "not a whole number"),
        (vec![], "holds no data"),
    ] {
        for data in [bytes.clone(), gzip(&bytes)] {
            std::fs::write(&bad, &data).unwrap();
            let err = read_cifar10_batch(&bad).unwrap_err();
            assert!(err.to_string().contains(check), "{err}");
            names_file(&err, &bad);
        }
    }
    std::fs::write(&bad, &records[..CIFAR10_RECORD * 2 - 1]).unwrap();
    let err = read_cifar10_batch(&bad).unwrap_err();
    assert!(matches!(err, DataError::RecordLength { len: 6145, record: 3073, .. }), "{err:?}");
    let mut bad_label = records.clone();
    bad_label[2 * CIFAR10_RECORD] = 10;
    std::fs::write(&bad, &bad_label).unwrap();
    let err = read_cifar10_batch(&bad).unwrap_err();
    assert!(matches!(err, DataError::LabelOutOfRange { index: 2, label: 10, num_classes: 10, .. }), "{err:?}");
    let err = read_cifar10_batch(dir.join("missing.bin")).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn cifar10_load_concatenates_batches_in_order() {
    let root = temp_dir("cifar-load");
    let dir = root.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    for (n, name) in CIFAR10_TRAIN_FILES.iter().enumerate() {
        let records: Vec<u8> = (0..2u8).flat_map(|k| cifar_record(n as u8, k)).collect();
        std::fs::write(dir.join(name), records).unwrap();
    }
    std::fs::write(dir.join(CIFAR10_TEST_FILE), cifar_record(4, 0)).unwrap();
    let found = locate_cifar10(Some(&root)).unwrap();
    assert_eq!(found, dir);
    let (train, test) = Cifar10::load(&found).unwrap();
    assert_eq!(train.labels(), &[0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    assert_eq!(test.labels(), &[4]);
    std::fs::remove_file(dir.join("data_batch_3.bin")).unwrap();
    let err = Cifar10::load(&dir).unwrap_err();
    names_file(&err, &dir.join("data_batch_3.bin"));
    let err = locate_cifar10(Some(&root)).unwrap_err();
    assert!(err.to_string().contains("missing data_batch_3.bin"), "{err}");
    assert!(err.to_string().contains("https://www.cs.toronto.edu/~kriz/cifar.html"), "{err}");
    std::fs::remove_dir_all(root).unwrap();
}

/// A random dataset of `n` 2x3x4 images with labels 0..classes.
fn random_dataset(n: usize, classes: u8, seed: u64) -> Dataset<2, 3, 4> {
    let mut rng = StdRng::seed_from_u64(seed);
    let images =
        (0..n).map(|_| Tensor::from_fn(|c, y, x| rng.random_range(0..256) as f32 * (1 + c + y + x) as f32)).collect();
    let labels = (0..n).map(|_| rng.random_range(0..classes)).collect();
    Dataset::new(images, labels).unwrap()
}

#[test]
fn standardizer_gives_zero_mean_unit_std_on_train() {
    let ds = random_dataset(500, 2, 11);
    let (mut train, mut valid) = ds.split_last(100).unwrap();
    let norm = Standardizer::fit(&train).unwrap();
    // independent check of the statistics for one pixel, straight from the data
    let xs: Vec<f64> = train.images().iter().map(|t| t.0[1][2][3] as f64).collect();
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let std = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
    let p = (3 + 2) * 4 + 3; // flat index of (1, 2, 3)
    assert!((norm.mean()[p] - mean).abs() < 1e-9, "mean {} vs {mean}", norm.mean()[p]);
    assert!((norm.std()[p] - (std + 1e-7)).abs() < 1e-9, "std {} vs {}", norm.std()[p], std + 1e-7);
    let before_valid = valid.clone();
    norm.apply(&mut train);
    norm.apply(&mut valid);
    for p in 0..24 {
        let xs: Vec<f64> = train.images().iter().map(|t| constnet::Flat::as_flat(t)[p] as f64).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let s = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
        assert!(m.abs() < 1e-6, "pixel {p}: mean {m}, tolerance 1e-6");
        assert!((s - 1.0).abs() < 1e-6, "pixel {p}: std {s}, |diff| {}, tolerance 1e-6", (s - 1.0).abs());
    }
    // validation gets the training statistics, not its own
    let (v0, n0) = (&before_valid.images()[0], &valid.images()[0]);
    let expected = ((v0.0[1][2][3] as f64 - norm.mean()[p]) / norm.std()[p]) as f32;
    assert_eq!(n0.0[1][2][3], expected);
    assert!(Standardizer::fit(&Dataset::<2, 3, 4>::new(vec![], vec![]).unwrap()).is_err());
}

#[test]
fn constant_pixel_maps_to_zero_and_scaling() {
    let images = vec![Tensor::<1, 1, 2>::from_array([[[0.0, 255.0]]]), Tensor::from_array([[[0.0, 51.0]]])];
    let mut ds = Dataset::new(images, vec![0, 1]).unwrap();
    let mut scaled = ds.clone();
    let norm = Standardizer::fit(&ds).unwrap();
    assert_eq!(norm.std()[0], STD_EPSILON);
    norm.apply(&mut ds);
    assert_eq!(ds.images()[0].0[0][0][0], 0.0);
    assert_eq!(ds.images()[1].0[0][0][1], -1.0 / (1.0 + 1e-7 / 102.0) as f32);
    scaled.scale_to_unit();
    assert_eq!(scaled.images()[0].0, [[[0.0, 1.0]]]);
    assert_eq!(scaled.images()[1].0, [[[0.0, 0.2]]]);
}

#[test]
fn class_selection_and_splits() {
    let ds = random_dataset(300, 10, 5);
    let labels = ds.labels().to_vec();
    let kept: Vec<usize> = (0..300).filter(|&i| labels[i] == 1 || labels[i] == 3).collect();
    let filtered = ds.clone().filter_classes(&[3, 1]);
    assert_eq!(filtered.len(), kept.len());
    for (j, &i) in kept.iter().enumerate() {
        assert_eq!(filtered.images()[j], ds.images()[i], "order kept");
        assert_eq!(filtered.labels()[j], labels[i], "original labels kept");
    }
    let selected = ds.clone().select_classes(&[1, 3]);
    assert_eq!(selected.images(), filtered.images());
    let relabelled: Vec<u8> = filtered.labels().iter().map(|&l| (l == 3) as u8).collect();
    assert_eq!(selected.labels(), relabelled, "dress (3) is the positive class 1");
    let counts = ds.class_counts();
    assert_eq!(counts.iter().sum::<usize>(), 300);
    assert_eq!(selected.class_counts(), [counts[1], counts[3]]);

    let (train, valid) = ds.clone().split_last(100).unwrap();
    assert_eq!((train.len(), valid.len()), (200, 100));
    assert_eq!(train.images(), &ds.images()[..200]);
    assert_eq!(valid.images(), &ds.images()[200..]);
    assert_eq!(valid.labels(), &labels[200..]);
    let (first, rest) = ds.clone().split_at(10).unwrap();
    assert_eq!((first.len(), rest.len()), (10, 290));
    let err = ds.clone().split_last(301).unwrap_err();
    assert!(matches!(err, DataError::TooFewSamples { needed: 301, len: 300, .. }), "{err:?}");
    assert!(ds.clone().split_at(301).is_err());
    let (all, none) = ds.split_last(0).unwrap();
    assert_eq!((all.len(), none.len()), (300, 0));
}

#[test]
fn shuffling_is_seeded_and_a_permutation() {
    let ds = random_dataset(200, 10, 9);
    let p1 = ds.permutation(&mut StdRng::seed_from_u64(1));
    let p1_again = ds.permutation(&mut StdRng::seed_from_u64(1));
    let p2 = ds.permutation(&mut StdRng::seed_from_u64(2));
    assert_eq!(p1, p1_again);
    assert_ne!(p1, p2);
    assert_ne!(p1, (0..200).collect::<Vec<_>>());
    let mut sorted = p1.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..200).collect::<Vec<_>>());
    // shuffling the dataset applies the same permutation to images and labels
    let mut shuffled = ds.clone();
    shuffled.shuffle(&mut StdRng::seed_from_u64(1));
    for (k, &i) in p1.iter().enumerate() {
        assert_eq!(shuffled.images()[k], ds.images()[i]);
        assert_eq!(shuffled.labels()[k], ds.labels()[i]);
    }
    // reshuffling an order in place continues the generator's sequence
    let mut rng = StdRng::seed_from_u64(1);
    let mut order: Vec<usize> = (0..200).collect();
    shuffle_indices(&mut order, &mut rng);
    assert_eq!(order, p1);
    shuffle_indices(&mut order, &mut rng);
    assert_ne!(order, p1);
    // every position is about equally likely to receive every index (uniformity, loosely)
    let mut first_hits = [0usize; 4];
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..4000 {
        let mut o = [0, 1, 2, 3];
        shuffle_indices(&mut o, &mut rng);
        first_hits[o[0]] += 1;
    }
    assert!(first_hits.iter().all(|&h| (900..1100).contains(&h)), "{first_hits:?}");
}

#[test]
fn batches_copy_in_order_and_drop_the_partial_batch() {
    let ds = random_dataset(23, 10, 4);
    let order = ds.permutation(&mut StdRng::seed_from_u64(8));
    let mut x = [Tensor::<2, 3, 4>::splat(-1.0); 5];
    let mut y = [0usize; 5];
    let mut batches = ds.batches::<5>(&order);
    assert_eq!(batches.len(), 4);
    let mut seen = Vec::new();
    for (b, batch) in (&mut batches).enumerate() {
        batch.copy_into(&mut x, &mut y);
        assert_eq!(batch.indices(), &order[5 * b..5 * b + 5]);
        for k in 0..5 {
            let i = order[5 * b + k];
            assert_eq!(x[k], ds.images()[i]);
            assert_eq!(y[k], ds.labels()[i] as usize);
            seen.push(i);
        }
    }
    assert_eq!(seen, order[..20]);
    assert_eq!(batches.remainder(), &order[20..]);
    // f32 targets for the binary losses
    let mut yf = [0.0f32; 5];
    ds.batches::<5>(&order).next().unwrap().copy_into(&mut x, &mut yf);
    assert_eq!(yf[0], ds.labels()[order[0]] as f32);
    // B = 1: every sample, nothing dropped
    assert_eq!(ds.batches::<1>(&order).count(), 23);
}

#[test]
#[should_panic(expected = "index 23 in the order is out of range for 23 samples")]
fn batches_reject_out_of_range_indices() {
    let ds = random_dataset(23, 10, 4);
    let _ = ds.batches::<4>(&[0, 23]);
}

#[test]
fn shipped_seed1_subset_loads() {
    let loc = FashionMnistLocation::from_dir(FASHION_MNIST_SHIPPED_DIR.as_ref(), FashionMnistSource::Shipped).unwrap();
    assert_eq!(loc.contents, FashionMnistContents::Seed1Subset);
    assert!(loc.to_string().contains("seed-1 subset"), "{loc}");
    let (train, test) = FashionMnist::load(&loc).unwrap();
    assert_eq!((train.len(), test.len()), (12000, 2000));
    assert_eq!(train.class_counts(), [0, 6000, 0, 6000]);
    assert_eq!(test.class_counts(), [0, 1000, 0, 1000]);
    // pixels are raw bytes as f32: integers in 0..=255, not all zero
    let flat = constnet::Flat::as_flat(&train.images()[0]);
    assert!(flat.iter().all(|&v| (0.0..=255.0).contains(&v) && v.fract() == 0.0));
    assert!(flat.iter().any(|&v| v > 0.0));
    // the seed-1 pipeline on it
    let (mut train, mut valid) = train.select_classes(&[1, 3]).split_last(1000).unwrap();
    assert_eq!((train.len(), valid.len()), (11000, 1000));
    let norm = Standardizer::fit(&train).unwrap();
    norm.apply(&mut train);
    norm.apply(&mut valid);
    let n = train.len() as f64;
    let mut worst_mean = 0.0f64;
    for p in (0..784).step_by(37) {
        let m = train.images().iter().map(|t| constnet::Flat::as_flat(t)[p] as f64).sum::<f64>() / n;
        worst_mean = worst_mean.max(m.abs());
    }
    assert!(worst_mean < 1e-5, "largest |mean| of standardised pixels {worst_mean}, tolerance 1e-5");
}

#[test]
fn locate_finds_a_copy_by_default() {
    if std::env::var_os(FASHION_MNIST_ENV).is_some() {
        println!("note: {FASHION_MNIST_ENV} is set; skipping the default-search test");
        return;
    }
    // no --data and no env var: the shipped subset comes first
    let found = locate_fashion_mnist(None).unwrap();
    assert_eq!((found.source, found.contents), (FashionMnistSource::Shipped, FashionMnistContents::Seed1Subset));
    // an explicit directory wins, and must be valid
    let empty = temp_dir("locate-empty");
    let err = locate_fashion_mnist(Some(&empty)).unwrap_err();
    names_file(&err, &empty);
    let found = locate_fashion_mnist(Some(FASHION_MNIST_SHIPPED_DIR.as_ref())).unwrap();
    assert_eq!(found.source, FashionMnistSource::Explicit);
    match locate_fashion_mnist_full(None) {
        Ok(found) => {
            assert_eq!((found.source, found.contents), (FashionMnistSource::System, FashionMnistContents::Full))
        }
        Err(err) => {
            assert!(!Path::new(FULL_DIR).join("train-images-idx3-ubyte.gz").exists(), "{err}");
            let msg = err.to_string();
            assert!(msg.contains("holds only the seed-1 subset") && msg.contains(FULL_DIR), "{msg}");
        }
    }
    std::fs::remove_dir_all(empty).unwrap();
}

/// The full Fashion-MNIST if installed, else `None` after printing a note.
fn full_dataset(test: &str) -> Option<FashionMnistLocation> {
    match FashionMnistLocation::from_dir(FULL_DIR.as_ref(), FashionMnistSource::System) {
        Ok(loc) if loc.contents == FashionMnistContents::Full => Some(loc),
        Ok(loc) => panic!("{FULL_DIR} holds {loc} instead of the full dataset"),
        Err(e) => {
            println!("note: {test} skipped, full Fashion-MNIST not installed (apt install dataset-fashion-mnist): {e}");
            None
        }
    }
}

#[test]
fn real_fashion_mnist_files() {
    let Some(loc) = full_dataset("real_fashion_mnist_files") else { return };
    let (train, test) = FashionMnist::load(&loc).unwrap();
    assert_eq!((train.len(), test.len()), (60000, 10000));
    assert_eq!(train.class_counts(), [6000; 10]);
    assert_eq!(test.class_counts(), [1000; 10]);
    // the shipped subset is exactly classes 1 and 3 of the full files, in order
    let shipped =
        FashionMnistLocation::from_dir(FASHION_MNIST_SHIPPED_DIR.as_ref(), FashionMnistSource::Shipped).unwrap();
    let (sub_train, sub_test) = FashionMnist::load(&shipped).unwrap();
    assert!(train.filter_classes(&[1, 3]) == sub_train, "training subset differs from classes 1, 3 of the full file");
    assert!(test.filter_classes(&[1, 3]) == sub_test, "test subset differs from classes 1, 3 of the full file");
}

#[test]
fn shipped_subset_regenerates_byte_identical() {
    let Some(loc) = full_dataset("shipped_subset_regenerates_byte_identical") else { return };
    let out = temp_dir("regenerate");
    assert_eq!(FashionMnist::write_subset(&loc, &[1, 3], &out).unwrap(), (12000, 2000));
    for name in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        let shipped = std::fs::read(Path::new(FASHION_MNIST_SHIPPED_DIR).join(name)).unwrap();
        let regenerated = std::fs::read(out.join(name)).unwrap();
        assert!(
            shipped == regenerated,
            "{name}: regenerated {} bytes differ from the shipped {} bytes (a different miniz_oxide version changes the compressed bytes; run the example make_seed1_subset to refresh)",
            regenerated.len(),
            shipped.len()
        );
    }
    std::fs::remove_dir_all(out).unwrap();
}

/// Golden values from NumPy 2.4.6 on the shipped subset, the seed-1
/// tutorial's computation (original labels kept, training split = all but
/// the last 1000):
/// ```text
/// import gzip, numpy as np
/// X = np.frombuffer(gzip.open('data/fashion-mnist-seed1/train-images-idx3-ubyte.gz').read()[16:],
///                   np.uint8).reshape(-1, 28, 28)
/// Xt = X[:-1000]
/// m = Xt.mean(axis=0); s = Xt.std(axis=0) + 1e-7
/// for (y, x) in [(0, 0), (14, 14), (3, 20), (27, 27)]:
///     print(y, x, repr(m[y, x]), repr(s[y, x]), repr(np.float32((X[-1, y, x] - m[y, x]) / s[y, x])))
/// ```
#[test]
fn standardizer_matches_numpy_on_the_shipped_subset() {
    let loc = FashionMnistLocation::from_dir(FASHION_MNIST_SHIPPED_DIR.as_ref(), FashionMnistSource::Shipped).unwrap();
    let (train, _) = FashionMnist::load(&loc).unwrap();
    let (train, mut valid) = train.split_last(1000).unwrap();
    let norm = Standardizer::fit(&train).unwrap();
    norm.apply(&mut valid);
    let golden: [((usize, usize), f64, f64, f32); 4] = [
        ((0, 0), 0.0014545454545454545, 0.15254717984829214, -0.009535053),
        ((14, 14), 103.04081818181818, 93.55376328782194, 1.3143157),
        ((3, 20), 38.540454545454544, 69.4700080155934, -0.55477834),
        ((27, 27), 0.006545454545454545, 0.5188737689191016, -0.012614734),
    ];
    for ((y, x), mean, std, last) in golden {
        let p = y * 28 + x;
        let (m, s) = (norm.mean()[p], norm.std()[p]);
        assert!((m - mean).abs() <= 1e-12 * mean.abs(), "pixel ({y}, {x}) mean {m} vs NumPy {mean}, diff {}", m - mean);
        assert!((s - std).abs() <= 1e-12 * std, "pixel ({y}, {x}) std {s} vs NumPy {std}, diff {}", s - std);
        let v = valid.images()[999].0[0][y][x];
        assert!((v - last).abs() <= 1e-6 * last.abs(), "pixel ({y}, {x}) standardised {v} vs NumPy {last}");
    }
}

/// A FIFO, a device and a directory given as a data file are refused at
/// once with an error that names them, by every loader (reading a FIFO
/// used to block forever; `/dev/zero` never ends). Each load runs on a
/// thread the test waits for at most 30 seconds.
#[cfg(unix)]
#[test]
fn special_files_are_refused_without_blocking() {
    let dir = temp_dir("special");
    let fifo = dir.join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().map(|s| s.success()).unwrap_or(false);
    assert!(made, "mkfifo (coreutils) makes the FIFO");
    type Load = fn(&Path) -> Result<(), String>;
    let loads: [(&str, Load); 4] = [
        ("read_idx_images", |p| read_idx_images(p).map(drop).map_err(|e| e.to_string())),
        ("read_idx_labels", |p| read_idx_labels(p, None).map(drop).map_err(|e| e.to_string())),
        ("read_cifar10_batch", |p| read_cifar10_batch(p).map(drop).map_err(|e| e.to_string())),
        ("io::load_file", |p| {
            let mut net = <constnet::zoo::seed1::Params as constnet::Flat>::boxed_zeroed();
            constnet::io::load_file(&mut *net, p).map(drop).map_err(|e| e.to_string())
        }),
    ];
    for special in [fifo.clone(), PathBuf::from("/dev/zero"), dir.clone()] {
        for (name, load) in loads {
            let (tx, rx) = std::sync::mpsc::channel();
            let p = special.clone();
            std::thread::spawn(move || {
                let _ = tx.send(load(&p));
            });
            let at = format!("{name} on {}", special.display());
            let result =
                rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap_or_else(|_| panic!("{at}: blocked"));
            let err = result.expect_err(&at);
            assert!(err.contains(&special.display().to_string()) && err.contains("not a regular file"), "{at}: {err}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A writer that cannot create its file says so ("cannot write", naming
/// the path), not "cannot read" (issue 22, defect 10), and so does the
/// subset writer for a directory it cannot create; a missing data set is
/// one line naming each place looked.
#[test]
fn write_errors_say_write_and_not_found_is_one_line() {
    let bad = std::path::Path::new("/dev/null/x/labels");
    let err = write_idx_labels(bad, &[1, 2], IdxCompression::Raw).unwrap_err();
    assert!(matches!(err, DataError::WriteIo { .. }), "{err:?}");
    assert!(err.to_string().starts_with("cannot write /dev/null/x/labels"), "{err}");
    let found = locate_fashion_mnist(None).expect("the shipped subset at least");
    let err = FashionMnist::write_subset(&found, &[1, 3], std::path::Path::new("/dev/null/x")).unwrap_err();
    assert!(err.to_string().starts_with("cannot write /dev/null/x"), "{err}");
    let err = locate_fashion_mnist(Some(std::path::Path::new("/nonexistent/fashion"))).unwrap_err();
    let text = err.to_string();
    assert!(!text.contains('\n') && text.contains("/nonexistent/fashion"), "{text}");
}
