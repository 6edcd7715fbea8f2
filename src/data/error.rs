//! [`DataError`]: everything that can go wrong reading, locating or
//! preparing a dataset, each case naming the file and the rule broken.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;

/// An error of the data layer. Every variant that comes from a file names
/// that file; every variant states the rule and the values received.
///
/// ```
/// use constnet::data::{read_idx_labels, DataError};
/// let err = read_idx_labels("/no/such/dir/labels-idx1-ubyte", None).unwrap_err();
/// assert!(matches!(err, DataError::Io { .. }));
/// assert!(err.to_string().contains("/no/such/dir/labels-idx1-ubyte"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A file or directory could not be created or written.
    WriteIo {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file starts with gzip's magic bytes but its gzip stream is
    /// corrupt or cut short.
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decompressor's error.
        source: io::Error,
    },
    /// The file is shorter than the header its format requires.
    ShortHeader {
        /// The file.
        path: PathBuf,
        /// Bytes the header needs.
        needed: usize,
        /// Bytes the file (or its decompressed data) has.
        found: usize,
        /// Whether `found` counts the file or its decompressed data.
        measured: Measured,
    },
    /// An IDX file whose first two bytes are not zero.
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first four bytes of the (decompressed) file.
        found: [u8; 4],
    },
    /// An IDX file whose element type is not 0x08 (unsigned byte).
    BadElementType {
        /// The file.
        path: PathBuf,
        /// The type code found (0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64).
        found: u8,
    },
    /// An IDX file with the wrong number of dimensions (3 for images, 1 for labels).
    BadDimensions {
        /// The file.
        path: PathBuf,
        /// Dimensions expected.
        expected: u8,
        /// Dimensions declared by the file.
        found: u8,
    },
    /// The file holds more data than a reader accepts from one file
    /// ([`MAX_DATA_BYTES`](crate::data::MAX_DATA_BYTES)).
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Bytes of data: declared by an IDX header (the product of the
        /// dimensions, saturating), the length of a raw file, or, for a
        /// gzip stream, the `max + 1` bytes decompressed before stopping.
        declared: u64,
        /// Where `declared` comes from.
        measured: Measured,
        /// The limit.
        max: u64,
    },
    /// The file holds fewer data bytes than its header declares.
    Truncated {
        /// The file.
        path: PathBuf,
        /// Data bytes the header declares.
        expected: u64,
        /// Data bytes present.
        found: u64,
    },
    /// The file holds more data bytes than its header declares.
    TrailingData {
        /// The file.
        path: PathBuf,
        /// Data bytes the header declares.
        expected: u64,
        /// Data bytes present (at least).
        found: u64,
    },
    /// An image file and its label file disagree on the number of samples.
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// Images it holds.
        n_images: usize,
        /// The label file.
        labels: PathBuf,
        /// Labels it holds.
        n_labels: usize,
    },
    /// A label is not below the number of classes.
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// Index of the sample.
        index: usize,
        /// The label found.
        label: u8,
        /// Number of classes (labels must be `< num_classes`).
        num_classes: u8,
    },
    /// The images in a file do not have the size the caller's tensor type needs.
    ImageSize {
        /// The file.
        path: PathBuf,
        /// `(channels, rows, columns)` the caller expects.
        expected: (usize, usize, usize),
        /// `(channels, rows, columns)` in the file.
        found: (usize, usize, usize),
    },
    /// A CIFAR-10 file whose length is not a whole number of 3073-byte records.
    RecordLength {
        /// The file.
        path: PathBuf,
        /// Its length (or its decompressed data's) in bytes.
        len: u64,
        /// Whether `len` counts the file or its decompressed data.
        measured: Measured,
        /// The record size (3073 for CIFAR-10).
        record: usize,
    },
    /// A file with no data at all.
    Empty {
        /// The file.
        path: PathBuf,
        /// Whether the file is 0 bytes or its gzip stream decompresses to 0 bytes.
        measured: Measured,
    },
    /// A load would take more memory than its [`Budget`](crate::data::Budget)
    /// has left; nothing was allocated for it.
    OverBudget {
        /// The file being read.
        path: PathBuf,
        /// What the memory is for ("pixel bytes and their f32 images", ...).
        what: &'static str,
        /// Bytes needed (for a gzip stream, at least this many).
        needed: u64,
        /// Bytes already charged by this load.
        used: u64,
        /// The budget's limit.
        limit: u64,
    },
    /// A dataset could not be found in any of the places searched.
    NotFound {
        /// Which dataset ("Fashion-MNIST", "CIFAR-10").
        dataset: &'static str,
        /// Every place looked, with why it was not used.
        looked: Vec<(String, String)>,
        /// How to get the data.
        hint: &'static str,
    },
    /// An operation got a sample count larger than the dataset.
    TooFewSamples {
        /// What was asked ("split_last", "Standardizer::fit").
        operation: &'static str,
        /// Samples needed.
        needed: usize,
        /// Samples in the dataset.
        len: usize,
    },
    /// A writer was given data it cannot store.
    InvalidWrite {
        /// The file to be written.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Images and labels of different lengths passed to [`Dataset::new`](crate::data::Dataset::new).
    LengthMismatch {
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DataError::*;
        match self {
            Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            WriteIo { path, source } => write!(f, "cannot write {}: {source}", path.display()),
            Gzip { path, source } => {
                write!(
                    f,
                    "{} starts like a gzip file but its gzip stream is corrupt or truncated: {source}",
                    path.display()
                )
            }
            ShortHeader { path, needed, found, measured } => write!(
                f,
                "{} is too short for its header: the header needs {needed} bytes, {} {found}",
                path.display(),
                match measured {
                    Measured::Decompressed => "its decompressed data has",
                    _ => "the file has",
                }
            ),
            BadMagic { path, found } => write!(
                f,
                "{} is not an IDX file: an IDX file starts with two zero bytes, this one starts with {:02x} {:02x} {:02x} {:02x}",
                path.display(),
                found[0],
                found[1],
                found[2],
                found[3]
            ),
            BadElementType { path, found } => write!(
                f,
                "IDX file {} has element type 0x{found:02x}; only 0x08 (unsigned byte) is supported",
                path.display()
            ),
            BadDimensions { path, expected, found } => write!(
                f,
                "IDX file {} has {found} dimensions; expected {expected} ({})",
                path.display(),
                if *expected == 3 { "images: count, rows, columns" } else { "labels: count" }
            ),
            TooLarge { path, declared, measured, max } => {
                let path = path.display();
                match measured {
                    // the product of the dimensions saturates at u64::MAX
                    Measured::Header if *declared == u64::MAX => {
                        write!(f, "{path} declares {declared} or more bytes of data in its header")?
                    }
                    Measured::Header => write!(f, "{path} declares {declared} bytes of data in its header")?,
                    Measured::File => write!(f, "{path} is {declared} bytes")?,
                    Measured::Decompressed => write!(f, "{path} decompresses to more than {max} bytes")?,
                }
                write!(f, "; a data file may hold at most {max} bytes (MAX_DATA_BYTES)")
            }
            Truncated { path, expected, found } => write!(
                f,
                "{} is truncated: its header declares {expected} bytes of data but only {found} follow",
                path.display()
            ),
            TrailingData { path, expected, found } => write!(
                f,
                "{} has trailing data: its header declares {expected} bytes of data but {found} or more follow",
                path.display()
            ),
            CountMismatch { images, n_images, labels, n_labels } => write!(
                f,
                "IDX file {} has {n_images} images but {} has {n_labels} labels",
                images.display(),
                labels.display()
            ),
            LabelOutOfRange { path, index, label, num_classes } => write!(
                f,
                "{}: label {label} of sample {index} is out of range; labels must be below {num_classes}",
                path.display()
            ),
            ImageSize { path, expected, found } => write!(
                f,
                "{} holds {}x{}x{} (channels x rows x columns) images but {}x{}x{} were asked for",
                path.display(),
                found.0,
                found.1,
                found.2,
                expected.0,
                expected.1,
                expected.2
            ),
            RecordLength { path, len, measured, record } => write!(
                f,
                "{} {} {len} bytes, not a whole number of {record}-byte records ({} records and {} bytes left over)",
                path.display(),
                match measured {
                    Measured::Decompressed => "decompresses to",
                    _ => "is",
                },
                len / *record as u64,
                len % *record as u64
            ),
            Empty { path, measured } => match measured {
                Measured::Decompressed => {
                    write!(f, "{} holds no data: its gzip stream decompresses to 0 bytes", path.display())
                }
                _ => write!(f, "{} holds no data: the file is 0 bytes", path.display()),
            },
            OverBudget { path, what, needed, used, limit } => write!(
                f,
                "{}: {what} need {needed} bytes, more than the {} bytes left of this load's memory budget \
                 ({used} of {limit} bytes used); give the loader's *_with variant a larger data::Budget",
                path.display(),
                limit.saturating_sub(*used)
            ),
            NotFound { dataset, looked, hint } => {
                // One line, as the examples print errors: places joined by "; ".
                write!(f, "{dataset} not found; looked in")?;
                for (i, (place, why)) in looked.iter().enumerate() {
                    write!(f, "{} {place}: {why}", if i == 0 { "" } else { ";" })?;
                }
                write!(f, ". {hint}")
            }
            TooFewSamples { operation, needed, len } => {
                write!(f, "{operation} needs {needed} samples but the dataset has {len}")
            }
            InvalidWrite { path, problem } => write!(f, "cannot write {}: {problem}", path.display()),
            LengthMismatch { images, labels } => {
                write!(f, "a dataset needs one label per image, received {images} images and {labels} labels")
            }
        }
    }
}

/// What a byte count in a [`DataError`] measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measured {
    /// A size the file's header declares.
    Header,
    /// The file as stored (a raw file).
    File,
    /// What the file's gzip stream decompresses to.
    Decompressed,
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Io { source, .. } | DataError::WriteIo { source, .. } | DataError::Gzip { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}
