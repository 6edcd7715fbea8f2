//! Hostile inputs for the loaders (issue 22, defects 3, 8 and 10): gzip
//! bombs for IDX and CIFAR-10, PGM and PNG header bombs, a truncated copy
//! of the shipped subset, and messages that must state the rule and the
//! values received. Every file is made here, in a temporary directory, and
//! is small (a bomb is 1 MB of gzip).
//!
//! Memory is measured, not assumed: the global allocator below counts the
//! bytes each thread holds and its peak, and refuses any allocation that
//! would take a thread above [`GUARD`] (the process then aborts with
//! "memory allocation of N bytes failed"). So a loader that lets a bomb
//! through fails here quickly instead of exhausting the machine.
//!
//! The tests above the line "Through the budget API" use only the loaders'
//! older API, so they also build against the code before the fix: each of
//! them failed there, as its doc comment says. The image bombs were run
//! against the old example 08 by hand, under `ulimit -v 4194304`.
#![cfg(feature = "std")]

mod common;

use constnet::data::*;
use flate2::write::GzEncoder;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most a thread may hold: 1.5 GiB.
const GUARD: isize = 3 << 29;

/// The default budget of a load, [`Budget::DEFAULT_LIMIT`]: 1 GiB.
const DEFAULT_BUDGET: usize = 1 << 30;

thread_local! {
    /// Bytes this thread holds (it may free what others allocated, so it
    /// can go below zero) and the most it held since [`peak_during`] reset it.
    static HELD: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// Counts each thread's bytes; refuses to take a thread above [`GUARD`].
struct Guard;

impl Guard {
    /// Records `delta` more bytes held; `false` if that would pass [`GUARD`].
    fn take(delta: isize) -> bool {
        HELD.with(|held| {
            let now = held.get() + delta;
            if delta > 0 && now > GUARD {
                return false;
            }
            held.set(now);
            PEAK.with(|peak| peak.set(peak.get().max(now)));
            true
        })
    }
}

// SAFETY: forwards every call to the system allocator; only counts, and
// returns null (an allocation failure) instead of passing the guard.
unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Guard::take(layout.size() as isize) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Guard::take(layout.size() as isize) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !Guard::take(new_size as isize - layout.size() as isize) {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        Guard::take(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Guard = Guard;

/// Runs `f`; returns its result and the most this thread held meanwhile
/// beyond what it held before, in bytes.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = HELD.with(Cell::get);
    PEAK.with(|p| p.set(before));
    let out = f();
    (out, (PEAK.with(Cell::get) - before).max(0) as usize)
}

/// A fresh, empty directory under the system temp dir, unique to this
/// process and call.
fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("constnet-test-hostile-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A gzip bomb: `head` then `members * zeros` zero bytes, as `members`
/// gzip members one after another (the decoder reads them as one stream).
/// 63 members of 16 MiB make 1 GiB from about 1 MB.
fn gzip_bomb(head: &[u8], zeros: usize, members: usize) -> Vec<u8> {
    let mut first = head.to_vec();
    first.resize(head.len() + zeros, 0);
    let mut bomb = gzip(&first);
    let member = gzip(&vec![0; zeros]);
    for _ in 1..members {
        bomb.extend_from_slice(&member);
    }
    bomb
}

/// The header of an IDX file of unsigned bytes with these dimensions.
fn idx_header(dims: &[u32]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    dims.iter().for_each(|d| b.extend_from_slice(&d.to_be_bytes()));
    b
}

/// Asserts the error's message names the file.
fn names_file(err: &DataError, path: &Path) {
    let msg = err.to_string();
    assert!(msg.contains(&*path.to_string_lossy()), "error does not name {}: {msg}", path.display());
}

/// Images per 16 MiB member of the IDX bomb (21400 x 784 bytes), and the
/// members: 1 348 200 images, 1 056 988 800 bytes, under `MAX_DATA_BYTES`.
const IDX_BOMB_CHUNK: usize = 21400;
const IDX_BOMB_MEMBERS: usize = 63;

/// A gzip IDX image file of 1 MB declaring 1 348 200 28x28 images (1.06 GB
/// of pixels, 4.2 GB as f32) and holding them, and its matching labels.
fn write_idx_bomb(dir: &Path) -> (PathBuf, PathBuf, usize) {
    let count = IDX_BOMB_CHUNK * IDX_BOMB_MEMBERS;
    let images = dir.join("train-images-idx3-ubyte.gz");
    let bomb = gzip_bomb(&idx_header(&[count as u32, 28, 28]), IDX_BOMB_CHUNK * 784, IDX_BOMB_MEMBERS);
    assert!(bomb.len() < 1_200_000, "the bomb is {} bytes", bomb.len());
    std::fs::write(&images, bomb).unwrap();
    let labels = dir.join("train-labels-idx1-ubyte.gz");
    let mut label_file = idx_header(&[count as u32]);
    label_file.resize(label_file.len() + count, 0);
    std::fs::write(&labels, gzip(&label_file)).unwrap();
    (images, labels, count)
}

/// Fashion-MNIST's four files as one load, the training images a 1 MB
/// gzip bomb: refused from its header, before anything is decompressed.
/// Before the fix: decompressed to 1.06 GB, then asked for 4.2 GB for the
/// f32 images (the guard aborted the process; unguarded, 5.2 GB resident).
#[test]
fn gzip_idx_bomb_is_refused_from_its_header() {
    let dir = temp_dir("idx-bomb");
    let (images, labels, count) = write_idx_bomb(&dir);
    let test_images = dir.join("t10k-images-idx3-ubyte");
    let test_labels = dir.join("t10k-labels-idx1-ubyte");
    write_idx_images(&test_images, 28, 28, &[0; 784], IdxCompression::Raw).unwrap();
    write_idx_labels(&test_labels, &[0], IdxCompression::Raw).unwrap();
    let found = FashionMnistLocation {
        dir: dir.clone(),
        source: FashionMnistSource::Explicit,
        contents: FashionMnistContents::Other { train: count, test: 1 },
        train_images: images.clone(),
        train_labels: labels.clone(),
        test_images,
        test_labels,
    };
    let (result, peak) = peak_during(|| FashionMnist::load(&found));
    let err = result.expect_err("a 1 MB file declaring 4.2 GB of images was loaded");
    names_file(&err, &images);
    let msg = err.to_string();
    assert!(msg.contains("memory budget") && msg.contains(&format!("{DEFAULT_BUDGET} bytes")), "{msg}");
    println!("the IDX bomb's load held at most {peak} bytes");
    // the labels (1.3 MB) were read, the images not
    assert!(peak < 8 << 20, "held {peak} bytes at the peak, more than 8 MiB");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Records per 16 MiB member of the CIFAR bomb (5460 x 3073 bytes), and the
/// members: 343 980 records, 1 057 050 540 bytes, under `MAX_DATA_BYTES`.
const CIFAR_BOMB_CHUNK: usize = 5460;
const CIFAR_BOMB_MEMBERS: usize = 63;

/// CIFAR-10's six files as one load, each a 1 MB gzip bomb of 1.06 GB of
/// records: a gzip stream declares no size, so the first file's
/// decompression stops where the default budget is spent (214 787 336
/// bytes), and nothing more is held. Before the fix: each file was read to
/// 1.06 GB and then 4.2 GB of f32 images were asked for (the guard aborted
/// the process; unguarded, the six files aborted it).
#[test]
fn gzip_cifar_bombs_in_one_load_stay_within_the_budget() {
    let root = temp_dir("cifar-bomb");
    let bomb = gzip_bomb(&[], CIFAR_BOMB_CHUNK * CIFAR10_RECORD, CIFAR_BOMB_MEMBERS);
    assert!(bomb.len() < 1_200_000, "the bomb is {} bytes", bomb.len());
    for name in CIFAR10_TRAIN_FILES.iter().chain([&CIFAR10_TEST_FILE]) {
        std::fs::write(root.join(name), &bomb).unwrap();
    }
    let (result, peak) = peak_during(|| Cifar10::load(&root));
    let err = result.expect_err("six 1 MB files of 6.3 GB of records were loaded");
    names_file(&err, &root.join(CIFAR10_TRAIN_FILES[0]));
    assert!(err.to_string().contains("memory budget"), "{err}");
    println!("the six CIFAR bombs' load held at most {peak} bytes");
    assert!(peak <= DEFAULT_BUDGET, "held {peak} bytes at the peak, more than the budget {DEFAULT_BUDGET}");
    // the records decompressed before stopping: whole records the budget holds, plus one byte
    assert!(peak < 230 << 20, "held {peak} bytes at the peak, more than 230 MiB");
    std::fs::remove_dir_all(root).unwrap();
}

/// Copies the shipped seed-1 subset into a fresh directory.
fn copy_of_shipped(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    for entry in std::fs::read_dir(FASHION_MNIST_SHIPPED_DIR).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    dir
}

/// A copy of the shipped subset whose training images were cut short (as a
/// killed writer leaves them), emptied, grown or replaced by a truncated
/// raw file is not called valid by the locator: the error names the file.
/// Before the fix the locator read only the image files' headers and
/// accepted the cut, grown and raw-truncated copies as the seed-1 subset.
#[test]
fn locator_refuses_a_damaged_copy_of_the_shipped_subset() {
    let good = copy_of_shipped("locate-good");
    let loc = FashionMnistLocation::from_dir(&good, FashionMnistSource::Explicit).unwrap();
    assert_eq!(loc.contents, FashionMnistContents::Seed1Subset);

    let images = "train-images-idx3-ubyte.gz";
    let shipped = std::fs::read(good.join(images)).unwrap();
    type Damage = fn(&Path, &[u8]) -> PathBuf;
    let damages: [(&str, Damage); 5] = [
        ("cut in half", |dir, gz| write(dir.join("train-images-idx3-ubyte.gz"), &gz[..gz.len() / 2])),
        ("cut by 8 bytes", |dir, gz| write(dir.join("train-images-idx3-ubyte.gz"), &gz[..gz.len() - 8])),
        ("emptied", |dir, _| write(dir.join("train-images-idx3-ubyte.gz"), &[])),
        ("a second gzip member appended", |dir, gz| {
            write(dir.join("train-images-idx3-ubyte.gz"), &[gz, &gzip(&[0; 784])[..]].concat())
        }),
        ("raw, one image short", |dir, gz| {
            let raw = decompress(gz);
            std::fs::remove_file(dir.join("train-images-idx3-ubyte.gz")).unwrap();
            write(dir.join("train-images-idx3-ubyte"), &raw[..raw.len() - 784])
        }),
    ];
    for (what, damage) in damages {
        let dir = copy_of_shipped("locate-damaged");
        let damaged = damage(&dir, &shipped);
        let found = FashionMnistLocation::from_dir(&dir, FashionMnistSource::Explicit);
        let err = found.map(|loc| loc.contents).expect_err(&format!("the locator accepted a copy {what}"));
        names_file(&err, &damaged);
        let err = locate_fashion_mnist(Some(&dir)).expect_err(&format!("locate_fashion_mnist accepted a copy {what}"));
        names_file(&err, &damaged);
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::remove_dir_all(good).unwrap();
}

fn write(path: PathBuf, bytes: &[u8]) -> PathBuf {
    std::fs::write(&path, bytes).unwrap();
    path
}

fn decompress(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(gz), &mut out).unwrap();
    out
}

/// Messages state the rule and the values received, and never contradict
/// the file: a gzip file is not called empty or "N bytes long" for its
/// decompressed size, and a CIFAR-10 file, which has no header, does not
/// "declare" its size. Before the fix: "X is empty" for a 20-byte gzip
/// file, "X is 3000 bytes long" for a 33-byte one, "the file has 3" for a
/// 23-byte one, "X declares 1073741825 bytes of data" for a headerless file.
#[test]
fn messages_do_not_contradict_the_file() {
    let dir = temp_dir("messages");
    let path = dir.join("batch.bin");
    let cifar: [(Vec<u8>, &str); 4] = [
        (gzip(&[]), "holds no data: its gzip stream decompresses to 0 bytes"),
        (vec![], "holds no data: the file is 0 bytes"),
        (
            gzip(&[0; 3000]),
            "decompresses to 3000 bytes, not a whole number of 3073-byte records (0 records and 3000 bytes left over)",
        ),
        (vec![0; 3074], "is 3074 bytes, not a whole number of 3073-byte records (1 records and 1 bytes left over)"),
    ];
    for (bytes, expected) in cifar {
        std::fs::write(&path, &bytes).unwrap();
        let err = read_cifar10_batch(&path).unwrap_err();
        assert_eq!(err.to_string(), format!("{} {expected}", path.display()), "{} bytes", bytes.len());
    }
    // 1 GiB + 1 bytes, sparse: refused by its length, and not said to "declare" it
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(MAX_DATA_BYTES + 1).unwrap();
    drop(file);
    let err = read_cifar10_batch(&path).unwrap_err();
    let expected = "is 1073741825 bytes; a data file may hold at most 1073741824 bytes (MAX_DATA_BYTES)";
    assert_eq!(err.to_string(), format!("{} {expected}", path.display()));

    let idx = dir.join("labels-idx1-ubyte.gz");
    std::fs::write(&idx, gzip(&[0, 0, 8])).unwrap();
    let err = read_idx_labels(&idx, None).unwrap_err();
    let expected = "is too short for its header: the header needs 4 bytes, its decompressed data has 3";
    assert_eq!(err.to_string(), format!("{} {expected}", idx.display()));
    std::fs::write(&idx, gzip(&idx_header(&[u32::MAX, u32::MAX, 2]))).unwrap();
    let err = read_idx_images(&idx).unwrap_err();
    // 4294967295 x 4294967295 x 2 overflows 64 bits
    let expected = "declares 18446744073709551615 or more bytes of data in its header; \
                    a data file may hold at most 1073741824 bytes (MAX_DATA_BYTES)";
    assert_eq!(err.to_string(), format!("{} {expected}", idx.display()));
    std::fs::remove_dir_all(dir).unwrap();
}

// Through the budget API ------------------------------------------------

/// What a load of `n` 28x28 samples is charged: a label byte, 784 pixel
/// bytes and 784 f32 a sample.
const IDX_SAMPLE: u64 = 1 + 784 + 4 * 784;

/// A Fashion-MNIST-like directory: `train` and `test` 28x28 samples, gzip.
fn small_fashion(dir: &Path, train: usize, test: usize) -> FashionMnistLocation {
    for (prefix, n) in [("train", train), ("t10k", test)] {
        let images = dir.join(format!("{prefix}-images-idx3-ubyte.gz"));
        write_idx_images(images, 28, 28, &vec![9; n * 784], IdxCompression::Gzip).unwrap();
        let labels = dir.join(format!("{prefix}-labels-idx1-ubyte.gz"));
        write_idx_labels(labels, &vec![3; n], IdxCompression::Gzip).unwrap();
    }
    FashionMnistLocation::from_dir(dir, FashionMnistSource::Explicit).unwrap()
}

/// The budget is one for the four files of a Fashion-MNIST load: each pair
/// fits alone, both do not, and the refusal names the test images, whose
/// header asked for more than was left, before any of their data is read.
#[test]
fn one_budget_covers_the_four_idx_files_of_a_load() {
    assert_eq!(Budget::DEFAULT_LIMIT, DEFAULT_BUDGET as u64);
    let dir = temp_dir("idx-four");
    let found = small_fashion(&dir, 100, 20);
    let mut exact = Budget::new(120 * IDX_SAMPLE);
    let (train, test) = FashionMnist::load_with(&found, &mut exact).unwrap();
    assert_eq!((train.len(), test.len(), exact.remaining()), (100, 20, 0));
    for limit in [120 * IDX_SAMPLE - 1, 100 * IDX_SAMPLE + 20] {
        let mut budget = Budget::new(limit);
        let err = FashionMnist::load_with(&found, &mut budget).unwrap_err();
        let DataError::OverBudget { path, needed, used, limit: l, .. } = &err else { panic!("{err}") };
        assert_eq!((path, *needed, *used, *l), (&found.test_images, 20 * (784 + 3136), 100 * IDX_SAMPLE + 20, limit));
        assert_eq!(budget.used(), 100 * IDX_SAMPLE + 20, "a refused charge is not kept");
        let msg = err.to_string();
        assert!(msg.contains(&format!("{limit} bytes")) && msg.contains(&needed.to_string()), "{msg}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A raw IDX file is charged nothing when its length contradicts its
/// header: a 16-byte file declaring 1.06 GB of pixels is truncated, which is
/// the error, not the memory the header asks for.
#[test]
fn raw_idx_header_bomb_is_truncated_not_over_budget() {
    let dir = temp_dir("idx-raw-bomb");
    let images = dir.join("images-idx3-ubyte");
    let count = (IDX_BOMB_CHUNK * IDX_BOMB_MEMBERS) as u32;
    std::fs::write(&images, idx_header(&[count, 28, 28])).unwrap();
    let labels = dir.join("labels-idx1-ubyte");
    write_idx_labels(&labels, &vec![0; count as usize], IdxCompression::Raw).unwrap();
    let mut budget = Budget::default();
    let err = load_idx_with::<28, 28>(&images, &labels, None, &mut budget).unwrap_err();
    assert!(matches!(err, DataError::Truncated { expected: 1_056_988_800, found: 0, .. }), "{err}");
    assert_eq!(budget.used(), count as u64, "only the labels are charged");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The same for CIFAR-10's six files, and a gzip batch's decompression
/// stops at what the budget has left: with 1 MiB left, a 1 MB bomb of
/// 1.06 GB of records takes at most 1 MiB.
#[test]
fn one_budget_covers_the_six_cifar_files_and_stops_gzip() {
    let dir = temp_dir("cifar-six");
    let record = CIFAR10_RECORD as u64 + 4 * 3072 + 1;
    for name in CIFAR10_TRAIN_FILES.iter().chain([&CIFAR10_TEST_FILE]) {
        std::fs::write(dir.join(name), gzip(&[0; 2 * CIFAR10_RECORD])).unwrap();
    }
    let mut budget = Budget::new(12 * record);
    let (train, test) = Cifar10::load_with(&dir, &mut budget).unwrap();
    assert_eq!((train.len(), test.len(), budget.remaining()), (10, 2, 0));
    let err = Cifar10::load_with(&dir, &mut Budget::new(12 * record - 1)).unwrap_err();
    assert!(matches!(&err, DataError::OverBudget { path, .. } if path.ends_with(CIFAR10_TEST_FILE)), "{err}");

    let bomb = dir.join(CIFAR10_TRAIN_FILES[0]);
    std::fs::write(&bomb, gzip_bomb(&[], CIFAR_BOMB_CHUNK * CIFAR10_RECORD, CIFAR_BOMB_MEMBERS)).unwrap();
    let (result, peak) = peak_during(|| read_cifar10_batch_with(&bomb, &mut Budget::new(1 << 20)));
    let err = result.unwrap_err();
    assert!(matches!(err, DataError::OverBudget { limit: 1048576, .. }), "{err}");
    names_file(&err, &bomb);
    assert!(peak <= 1 << 20, "held {peak} bytes, more than the 1 MiB budget");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The full Fashion-MNIST, when installed, fits the default budget with
/// the charge its documentation gives.
#[test]
fn the_default_budget_holds_full_fashion_mnist() {
    let Ok(found) = locate_fashion_mnist_full(Some("/usr/share/datasets/fashion-mnist".as_ref())) else {
        println!("note: full Fashion-MNIST not installed (apt install dataset-fashion-mnist); skipped");
        return;
    };
    let mut budget = Budget::default();
    let (train, test) = FashionMnist::load_with(&found, &mut budget).unwrap();
    assert_eq!((train.len(), test.len()), (60000, 10000));
    assert_eq!(budget.used(), 274_470_000);
    assert_eq!(budget.used(), 70000 * IDX_SAMPLE);
}

use constnet::image::{DEFAULT_DECODE_BYTES, DecodeError, ReadImageError, decode_gray, read_gray};
use constnet::io::pgm::PgmError;

/// The PGM header bombs, plain and binary, as example 08 reads them
/// (`image::read_gray`): refused from the header, before anything is
/// allocated for the pixels. Before the fix (example 08's own decoder) the
/// 25-byte plain one asked for 1 PiB of f32 and aborted; the binary one was
/// already refused by its data length.
#[test]
fn pgm_header_bombs_are_refused_before_allocating() {
    let dir = temp_dir("pgm-bomb");
    for (name, bytes) in
        [("plain.pgm", &b"P2 16777216 16777216 255\n"[..]), ("binary.pgm", b"P5 16777216 16777216 255\n")]
    {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let (result, peak) = peak_during(|| read_gray(&path, DEFAULT_DECODE_BYTES));
        let err = result.unwrap_err();
        assert!(err.to_string().starts_with(&format!("{}: PGM", path.display())), "{err}");
        assert!(peak < 1 << 10, "{name}: held {peak} bytes (the file is {})", bytes.len());
    }
    let err = decode_gray(b"P2 16777216 16777216 255\n", DEFAULT_DECODE_BYTES).unwrap_err();
    assert_eq!(err, DecodeError::Pgm(PgmError::PlainTooShort { samples: 1 << 48, bytes: 0 }));
    assert_eq!(
        err.to_string(),
        "PGM (P2) header declares 281474976710656 samples (WIDTH*HEIGHT) but only 0 bytes follow it; \
         281474976710656 samples take at least 562949953421311 bytes (a digit and a separator each)"
    );
    // A binary image whose data is all there (1 MiB) but whose f32 pixels (4 MiB) pass the bound.
    let mut p5 = b"P5 1024 1024 255\n".to_vec();
    p5.resize(p5.len() + (1 << 20), 200);
    let (result, peak) = peak_during(|| decode_gray(&p5, 4 << 20).map(|img| img.pixels.len()));
    assert_eq!(result, Ok(1 << 20));
    assert!(peak <= 4 << 20, "held {peak} bytes");
    let (result, peak) = peak_during(|| decode_gray(&p5, (4 << 20) - 1));
    let expected = DecodeError::TooLarge { width: 1024, height: 1024, needed: 4 << 20, limit: (4 << 20) - 1 };
    assert_eq!(result.unwrap_err(), expected);
    assert_eq!(peak, 0, "refused, yet {peak} bytes were allocated");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A PNG chunk: length, type, data, CRC-32 of type and data.
fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    [&(data.len() as u32).to_be_bytes()[..], kind, data, &crc.sum().to_be_bytes()].concat()
}

/// A small PNG whose header declares `width x height` 8-bit RGBA pixels and
/// whose data is `rows` rows of zeros (compressed).
fn png_bomb(width: u32, height: u32, rows: usize) -> Vec<u8> {
    let mut ihdr = [width.to_be_bytes(), height.to_be_bytes()].concat();
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8 bits, RGBA, deflate, no filter, no interlace
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&vec![0; rows * (1 + 4 * width as usize)]).unwrap();
    let idat = z.finish().unwrap();
    [&b"\x89PNG\r\n\x1a\n"[..], &png_chunk(b"IHDR", &ihdr), &png_chunk(b"IDAT", &idat), &png_chunk(b"IEND", &[])]
        .concat()
}

/// A 1 KB PNG declaring 50000 x 50000 RGBA pixels (10 GB decoded, 10 GB as
/// f32) is refused from its header, before anything is allocated for it.
/// Before the fix example 08 asked for the 10 GB buffer (the PNG decoder's
/// limit does not bound it; under `ulimit -v 4194304` it aborted).
#[test]
fn png_header_bomb_is_refused_before_allocating() {
    let dir = temp_dir("png-bomb");
    let bomb = png_bomb(50_000, 50_000, 4);
    assert!(bomb.len() < 2048, "the bomb is {} bytes", bomb.len());
    let path = dir.join("bomb.png");
    std::fs::write(&path, &bomb).unwrap();
    let (result, peak) = peak_during(|| read_gray(&path, DEFAULT_DECODE_BYTES));
    let err = result.unwrap_err();
    let ReadImageError::Decode { source, .. } = &err else { panic!("{err}") };
    let expected = DecodeError::TooLarge { width: 50_000, height: 50_000, needed: 10_000_000_000, limit: 256 << 20 };
    assert_eq!(source, &expected);
    assert!(err.to_string().starts_with(&path.display().to_string()), "{err}");
    assert!(peak < 64 << 10, "held {peak} bytes");
    // The second check: the f32 pixels (4 MB) fit, with the decoded buffer
    // (4 MB and a filter byte a row) they do not.
    let png = png_bomb(1000, 1000, 1000);
    let img = decode_gray(&png, 9_000_000).unwrap();
    assert_eq!((img.width, img.height, img.pixels.len()), (1000, 1000, 1_000_000));
    let (result, peak) = peak_during(|| decode_gray(&png, 7_999_999));
    let DecodeError::TooLarge { needed, .. } = result.unwrap_err() else { panic!() };
    assert!(needed >= 8_000_000, "needed {needed}");
    assert!(peak < 1 << 20, "held {peak} bytes");
    // Truncated data: an error, not a panic.
    let err = decode_gray(&png_bomb(1000, 1000, 10), DEFAULT_DECODE_BYTES).unwrap_err();
    assert!(matches!(err, DecodeError::Png(_)), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The std safetensors loader holds memory in proportion to the tensors
/// it checks, not to a JSON parse of the header: a 20 MB header (333 k
/// tensors) is refused holding under 16 MB (16 bytes a tensor of scratch).
/// The reference crate's parse, which the loader ran for the metadata,
/// held about 280 MB for it (1.4 GB for a 100 MB header).
#[test]
fn a_huge_safetensors_header_is_refused_within_its_bound() {
    let bytes = common::crafted_header(20_000_000);
    let mut net = <constnet::zoo::seed1::Params as constnet::Flat>::zeroed();
    let (result, peak) = peak_during(|| constnet::io::load_bytes(&mut net, &bytes));
    let err = result.expect_err("none of the network's tensors");
    assert!(err.to_string().contains("conv.weight"), "{err}");
    assert!(peak < 16 << 20, "load_bytes held {peak} bytes for a 20 MB header");
}

/// A header of 100 000 short metadata keys (1 MB) is refused before it is
/// checked: the check's scratch (16 bytes a key) and the map of strings
/// the loader returns stay small; 100 MB of such keys would have held
/// about 267 MB of scratch and 1 GB of strings.
#[test]
fn a_header_of_many_metadata_keys_is_refused_small() {
    let mut h = String::from(r#"{"__metadata__":{"#);
    for i in 0..100_000 {
        h += &format!(r#"{}"k{i}":"""#, if i > 0 { "," } else { "" });
    }
    h += "}}";
    let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(h.as_bytes());
    let mut net = <constnet::zoo::seed1::Params as constnet::Flat>::zeroed();
    let (result, peak) = peak_during(|| constnet::io::load_bytes(&mut net, &bytes));
    let err = result.expect_err("too many metadata keys");
    assert!(err.to_string().contains("100000 keys"), "{err}");
    assert!(peak < 1 << 20, "load_bytes held {peak} bytes");
}
