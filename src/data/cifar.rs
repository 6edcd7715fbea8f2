//! CIFAR-10, binary version: reader, locator, loader.
//!
//! # Format
//! A batch file (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`)
//! is a sequence of 3073-byte records, 10000 per file in the distributed
//! data:
//! ```text
//! 1 byte      label 0..=9
//! 1024 bytes  red plane, 32x32 row-major
//! 1024 bytes  green plane
//! 1024 bytes  blue plane
//! ```
//! which is exactly a `Tensor<3, 32, 32>` in channel-first order.

use super::budget::Budget;
use super::dataset::Dataset;
use super::error::{DataError, Measured};
use super::file::DataFile;
use super::idx::MAX_DATA_BYTES;
use crate::Tensor;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::{format, vec};

/// Bytes per CIFAR-10 record: one label byte and 3x32x32 pixel bytes.
pub const CIFAR10_RECORD: usize = 1 + 3 * 32 * 32;

/// The environment variable naming a CIFAR-10 directory.
pub const CIFAR10_ENV: &str = "CONSTNET_CIFAR10";

/// The CIFAR-10 class names, by label.
pub const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// The training batch files, in the order [`Cifar10::load`] concatenates them.
pub const CIFAR10_TRAIN_FILES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];

/// The test batch file.
pub const CIFAR10_TEST_FILE: &str = "test_batch.bin";

/// The folder the archive extracts to.
const EXTRACTED: &str = "cifar-10-batches-bin";

const HINT: &str = "CIFAR-10 is not installed by default. Download the \"CIFAR-10 binary version (suitable for C \
programs)\", cifar-10-binary.tar.gz, from https://www.cs.toronto.edu/~kriz/cifar.html, extract it \
(`tar xzf cifar-10-binary.tar.gz`) and pass the extracted directory: --data path/to/cifar-10-batches-bin \
(or set CONSTNET_CIFAR10=path/to/cifar-10-batches-bin).";

/// Reads one CIFAR-10 batch file into a [`Dataset<3, 32, 32>`]: pixels as
/// `f32` values `0.0..=255.0`, channels R, G, B.
///
/// # Errors
/// Every error names the file: [`DataError::Io`] if it is missing or
/// unreadable, [`DataError::Empty`] for an empty file,
/// [`DataError::TooLarge`] beyond [`MAX_DATA_BYTES`],
/// [`DataError::RecordLength`] if the length is not a multiple of 3073,
/// [`DataError::OverBudget`] beyond [`Budget::DEFAULT_LIMIT`] (the records
/// with their `f32` images: 15362 bytes a record),
/// [`DataError::LabelOutOfRange`] for a label above 9. The length is checked
/// before anything is allocated. A gzip-compressed batch (magic bytes
/// `1f 8b`) is decompressed, at most as far as the limits allow, and
/// checked the same way.
///
/// ```
/// use constnet::data::{read_cifar10_batch, DataError, CIFAR10_RECORD};
/// let path = std::env::temp_dir().join(format!("constnet-doc-cifar-{}.bin", std::process::id()));
/// let mut record = vec![0u8; CIFAR10_RECORD];
/// record[0] = 6;          // frog
/// record[1] = 255;        // red plane, pixel (0, 0)
/// record[1 + 1024] = 128; // green plane, pixel (0, 0)
/// std::fs::write(&path, &record).unwrap();
/// let ds = read_cifar10_batch(&path)?;
/// assert_eq!(ds.labels(), &[6]);
/// assert_eq!((ds.images()[0].0[0][0][0], ds.images()[0].0[1][0][0]), (255.0, 128.0));
/// std::fs::write(&path, &record[..3000]).unwrap();
/// assert!(matches!(read_cifar10_batch(&path), Err(DataError::RecordLength { len: 3000, .. })));
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), DataError>(())
/// ```
pub fn read_cifar10_batch(path: impl AsRef<Path>) -> Result<Dataset<3, 32, 32>, DataError> {
    read_cifar10_batch_with(path, &mut Budget::default())
}

/// Bytes a load takes per CIFAR-10 record: the record, its `f32` image and
/// its label.
const CHARGE_PER_RECORD: u64 = (CIFAR10_RECORD + size_of::<Tensor<3, 32, 32>>() + 1) as u64;

/// [`read_cifar10_batch`] charging `budget` for the records, their `f32`
/// images and labels (15362 bytes a record) before reading them.
///
/// # Errors
/// As [`read_cifar10_batch`], with `budget` as the limit.
///
/// ```
/// use constnet::data::{read_cifar10_batch_with, Budget, DataError, CIFAR10_RECORD};
/// let path = std::env::temp_dir().join(format!("constnet-doc-cifar-with-{}.bin", std::process::id()));
/// std::fs::write(&path, vec![0u8; 2 * CIFAR10_RECORD]).unwrap();
/// let mut budget = Budget::new(2 * 15362);
/// assert_eq!(read_cifar10_batch_with(&path, &mut budget)?.len(), 2);
/// assert_eq!(budget.remaining(), 0);
/// let err = read_cifar10_batch_with(&path, &mut Budget::new(2 * 15362 - 1)).unwrap_err();
/// assert!(matches!(err, DataError::OverBudget { needed: 30724, .. }), "{err}");
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), DataError>(())
/// ```
pub fn read_cifar10_batch_with(path: impl AsRef<Path>, budget: &mut Budget) -> Result<Dataset<3, 32, 32>, DataError> {
    const WHAT: &str = "records with their f32 images and labels";
    let path = path.as_ref();
    let file = DataFile::open(path)?;
    let record = CIFAR10_RECORD as u64;
    let data = match file.raw_len() {
        Some(len) => {
            check_length(path, len, Measured::File)?;
            budget.charge(path, WHAT, len / record * CHARGE_PER_RECORD)?;
            file.read_rest_exact(0, len)?
        }
        None => {
            // A gzip stream declares no size: decompress at most the whole
            // records the budget can take, and one byte more to notice more.
            let limit = (budget.remaining() / CHARGE_PER_RECORD * record).min(MAX_DATA_BYTES);
            let data = file.read_rest_limited(limit + 1)?;
            let len = data.len() as u64;
            if len > MAX_DATA_BYTES {
                return Err(DataError::TooLarge {
                    path: path.to_path_buf(),
                    declared: len,
                    measured: Measured::Decompressed,
                    max: MAX_DATA_BYTES,
                });
            }
            if len > limit {
                // One more record than the budget holds: this charge fails.
                const AT_LEAST: &str = "the records decompressed (at least) with their f32 images and labels";
                budget.charge(path, AT_LEAST, len.div_ceil(record) * CHARGE_PER_RECORD)?;
            }
            check_length(path, len, Measured::Decompressed)?;
            budget.charge(path, WHAT, len / record * CHARGE_PER_RECORD)?;
            data
        }
    };
    if let Some((index, r)) = data.chunks_exact(CIFAR10_RECORD).enumerate().find(|(_, r)| r[0] > 9) {
        return Err(DataError::LabelOutOfRange { path: path.to_path_buf(), index, label: r[0], num_classes: 10 });
    }
    Ok(Dataset::from_records(&data, 1))
}

/// Checks the length of a batch's data: not empty, at most
/// [`MAX_DATA_BYTES`], whole records.
fn check_length(path: &Path, len: u64, measured: Measured) -> Result<(), DataError> {
    if len == 0 {
        return Err(DataError::Empty { path: path.to_path_buf(), measured });
    }
    if len > MAX_DATA_BYTES {
        return Err(DataError::TooLarge { path: path.to_path_buf(), declared: len, measured, max: MAX_DATA_BYTES });
    }
    if !len.is_multiple_of(CIFAR10_RECORD as u64) {
        return Err(DataError::RecordLength { path: path.to_path_buf(), len, measured, record: CIFAR10_RECORD });
    }
    Ok(())
}

/// Finds the CIFAR-10 binary batches: in `cli_dir` (`--data DIR`) if
/// given, else in the directory of the environment variable
/// `CONSTNET_CIFAR10`. A directory qualifies if it holds the six `.bin`
/// files, or if its subdirectory `cifar-10-batches-bin` does. There is no
/// default location: CIFAR-10 is not packaged.
///
/// # Errors
/// [`DataError::NotFound`] listing the places looked, what is missing
/// there, and how to get the data (the "CIFAR-10 binary version" from
/// <https://www.cs.toronto.edu/~kriz/cifar.html>).
///
/// ```
/// use constnet::data::{locate_cifar10, DataError};
/// let err = locate_cifar10(Some("/nonexistent".as_ref())).unwrap_err();
/// assert!(matches!(err, DataError::NotFound { .. }));
/// assert!(err.to_string().contains("cifar-10-binary.tar.gz"));
/// ```
pub fn locate_cifar10(cli_dir: Option<&Path>) -> Result<PathBuf, DataError> {
    locate_cifar10_in(cli_dir, std::env::var_os(CIFAR10_ENV))
}

fn locate_cifar10_in(cli_dir: Option<&Path>, env: Option<OsString>) -> Result<PathBuf, DataError> {
    let not_found = |looked| DataError::NotFound { dataset: "CIFAR-10", looked, hint: HINT };
    let env_dir = env.filter(|v| !v.is_empty()).map(PathBuf::from);
    let (dir, place) = match (cli_dir, env_dir.as_deref()) {
        (Some(dir), _) => (dir, "given directory".to_string()),
        (None, Some(dir)) => (dir, CIFAR10_ENV.to_string()),
        (None, None) => {
            return Err(not_found(vec![
                ("--data DIR".to_string(), "not given".to_string()),
                (CIFAR10_ENV.to_string(), "not set".to_string()),
            ]));
        }
    };
    let missing_in = |d: &Path| -> Option<String> {
        if !d.is_dir() {
            return Some("not a directory".to_string());
        }
        let missing: std::vec::Vec<&str> =
            CIFAR10_TRAIN_FILES.iter().chain([&CIFAR10_TEST_FILE]).copied().filter(|f| !d.join(f).is_file()).collect();
        (!missing.is_empty()).then(|| format!("missing {}", missing.join(", ")))
    };
    match missing_in(dir) {
        None => Ok(dir.to_path_buf()),
        Some(why) => {
            let inner = dir.join(EXTRACTED);
            match missing_in(&inner) {
                None => Ok(inner),
                // the archive's folder is there: say what it lacks
                Some(inner_why) if inner.is_dir() => {
                    Err(not_found(vec![(format!("{} ({place})", inner.display()), inner_why)]))
                }
                Some(_) => Err(not_found(vec![(format!("{} ({place})", dir.display()), why)])),
            }
        }
    }
}

/// Loader of CIFAR-10 (32x32 colour images, 10 classes; see [`CIFAR10_CLASSES`]).
#[derive(Clone, Copy, Debug)]
pub struct Cifar10;

impl Cifar10 {
    /// Loads the training set (the five `data_batch_N.bin`, concatenated in
    /// order: 50000 images) and the test set (`test_batch.bin`: 10000) from
    /// a directory found by [`locate_cifar10`].
    ///
    /// The six files are one load: together they may take at most
    /// [`Budget::DEFAULT_LIMIT`] bytes (the full dataset takes 921 720 000).
    ///
    /// # Errors
    /// Any error of [`read_cifar10_batch`] (a missing file is
    /// [`DataError::Io`] naming it); [`DataError::OverBudget`] if the six
    /// files exceed the budget.
    pub fn load(dir: &Path) -> Result<(Dataset<3, 32, 32>, Dataset<3, 32, 32>), DataError> {
        Self::load_with(dir, &mut Budget::default())
    }

    /// [`Cifar10::load`] charging the six files to `budget`.
    ///
    /// # Errors
    /// As [`Cifar10::load`], with `budget` as the limit.
    ///
    /// ```
    /// use constnet::data::{Budget, Cifar10, DataError, CIFAR10_RECORD, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES};
    /// let dir = std::env::temp_dir().join(format!("constnet-doc-cifar-load-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// for name in CIFAR10_TRAIN_FILES.iter().chain([&CIFAR10_TEST_FILE]) {
    ///     std::fs::write(dir.join(name), vec![0u8; CIFAR10_RECORD]).unwrap(); // one record each
    /// }
    /// let mut budget = Budget::new(6 * 15362);
    /// let (train, test) = Cifar10::load_with(&dir, &mut budget)?;
    /// assert_eq!((train.len(), test.len(), budget.remaining()), (5, 1, 0));
    /// // each file fits alone, but not all six: the test batch is refused
    /// let err = Cifar10::load_with(&dir, &mut Budget::new(5 * 15362)).unwrap_err();
    /// assert!(err.to_string().contains(CIFAR10_TEST_FILE), "{err}");
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), DataError>(())
    /// ```
    pub fn load_with(dir: &Path, budget: &mut Budget) -> Result<(Dataset<3, 32, 32>, Dataset<3, 32, 32>), DataError> {
        let mut train = read_cifar10_batch_with(dir.join(CIFAR10_TRAIN_FILES[0]), budget)?;
        for name in &CIFAR10_TRAIN_FILES[1..] {
            train.append(read_cifar10_batch_with(dir.join(name), budget)?);
        }
        let test = read_cifar10_batch_with(dir.join(CIFAR10_TEST_FILE), budget)?;
        Ok((train, test))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locator_accepts_the_dir_or_its_extracted_subdir() {
        let root = std::env::temp_dir().join(format!("constnet-cifar-locate-{}", std::process::id()));
        let inner = root.join(EXTRACTED);
        std::fs::create_dir_all(&inner).unwrap();
        let err = locate_cifar10_in(Some(&root), None).unwrap_err();
        assert!(err.to_string().contains("missing data_batch_1.bin"), "{err}");
        for f in CIFAR10_TRAIN_FILES.iter().chain([&CIFAR10_TEST_FILE]) {
            std::fs::write(inner.join(f), [0u8; CIFAR10_RECORD]).unwrap();
        }
        assert_eq!(locate_cifar10_in(Some(&root), None).unwrap(), inner);
        assert_eq!(locate_cifar10_in(None, Some(inner.clone().into())).unwrap(), inner);
        assert_eq!(locate_cifar10_in(Some(&inner), Some("/nonexistent".into())).unwrap(), inner);
        let err = locate_cifar10_in(None, None).unwrap_err();
        assert!(err.to_string().contains("CONSTNET_CIFAR10: not set"), "{err}");
        let err = locate_cifar10_in(None, Some("".into())).unwrap_err();
        assert!(err.to_string().contains("--data DIR: not given"), "{err}");
        std::fs::remove_dir_all(root).unwrap();
    }
}
