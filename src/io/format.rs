//! A `no_std`, allocation-free reader of the safetensors format (see [`SafeTensorsView`]).
//! The whole-header check is in `format/validate.rs`.

mod validate;

use super::json::{Cursor, JsonError, JsonStr};
use core::fmt;

/// The largest header the reader accepts (the reference implementation's
/// limit): 100 000 000 bytes.
pub const MAX_HEADER_LEN: usize = 100_000_000;

/// The element types of the safetensors format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum Dtype {
    /// Boolean, one byte.
    BOOL,
    /// 4-bit float (OCP MX FP4).
    F4,
    /// 6-bit float, 2 exponent bits (OCP MX FP6).
    F6_E2M3,
    /// 6-bit float, 3 exponent bits (OCP MX FP6).
    F6_E3M2,
    /// Unsigned byte.
    U8,
    /// Signed byte.
    I8,
    /// 8-bit float, 5 exponent bits.
    F8_E5M2,
    /// 8-bit float, 4 exponent bits.
    F8_E4M3,
    /// 8-bit scale (OCP MX E8M0).
    F8_E8M0,
    /// 8-bit float E4M3, finite, no negative zero.
    F8_E4M3FNUZ,
    /// 8-bit float E5M2, finite, no negative zero.
    F8_E5M2FNUZ,
    /// Signed 16-bit integer.
    I16,
    /// Unsigned 16-bit integer.
    U16,
    /// IEEE half precision.
    F16,
    /// Brain float 16.
    BF16,
    /// Signed 32-bit integer.
    I32,
    /// Unsigned 32-bit integer.
    U32,
    /// IEEE single precision: the only dtype a network loads.
    F32,
    /// Complex, two `f32` parts.
    C64,
    /// IEEE double precision.
    F64,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 64-bit integer.
    U64,
}

impl Dtype {
    /// Every dtype, in the order of the format's specification.
    pub const ALL: [Dtype; 22] = [
        Dtype::BOOL,
        Dtype::F4,
        Dtype::F6_E2M3,
        Dtype::F6_E3M2,
        Dtype::U8,
        Dtype::I8,
        Dtype::F8_E5M2,
        Dtype::F8_E4M3,
        Dtype::F8_E8M0,
        Dtype::F8_E4M3FNUZ,
        Dtype::F8_E5M2FNUZ,
        Dtype::I16,
        Dtype::U16,
        Dtype::F16,
        Dtype::BF16,
        Dtype::I32,
        Dtype::U32,
        Dtype::F32,
        Dtype::C64,
        Dtype::F64,
        Dtype::I64,
        Dtype::U64,
    ];

    /// The size of one element in bits (4 for `F4`, 32 for `F32`).
    ///
    /// ```
    /// assert_eq!(constnet::io::Dtype::F32.bits(), 32);
    /// ```
    pub const fn bits(self) -> u64 {
        match self {
            Dtype::F4 => 4,
            Dtype::F6_E2M3 | Dtype::F6_E3M2 => 6,
            Dtype::BOOL
            | Dtype::U8
            | Dtype::I8
            | Dtype::F8_E5M2
            | Dtype::F8_E4M3
            | Dtype::F8_E8M0
            | Dtype::F8_E4M3FNUZ
            | Dtype::F8_E5M2FNUZ => 8,
            Dtype::I16 | Dtype::U16 | Dtype::F16 | Dtype::BF16 => 16,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 32,
            Dtype::C64 | Dtype::F64 | Dtype::I64 | Dtype::U64 => 64,
        }
    }

    /// The name the header uses, e.g. `"F32"`.
    pub const fn name(self) -> &'static str {
        match self {
            Dtype::BOOL => "BOOL",
            Dtype::F4 => "F4",
            Dtype::F6_E2M3 => "F6_E2M3",
            Dtype::F6_E3M2 => "F6_E3M2",
            Dtype::U8 => "U8",
            Dtype::I8 => "I8",
            Dtype::F8_E5M2 => "F8_E5M2",
            Dtype::F8_E4M3 => "F8_E4M3",
            Dtype::F8_E8M0 => "F8_E8M0",
            Dtype::F8_E4M3FNUZ => "F8_E4M3FNUZ",
            Dtype::F8_E5M2FNUZ => "F8_E5M2FNUZ",
            Dtype::I16 => "I16",
            Dtype::U16 => "U16",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I32 => "I32",
            Dtype::U32 => "U32",
            Dtype::F32 => "F32",
            Dtype::C64 => "C64",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
            Dtype::U64 => "U64",
        }
    }

    fn from_json(s: JsonStr<'_>) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| s.eq_str(d.name()))
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A tensor shape held without allocation, for error messages: up to
/// [`Dims::CAP`] dimensions are kept, the rank always.
///
/// ```
/// use constnet::io::Dims;
/// let d = Dims::from_usizes(&[8, 1, 3, 3]);
/// assert_eq!(d.to_string(), "[8, 1, 3, 3]");
/// assert!(d.eq_usizes(&[8, 1, 3, 3]) && !d.eq_usizes(&[8, 1, 3]));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    rank: usize,
    dims: [u64; Dims::CAP],
}

impl Dims {
    /// How many dimensions are kept (networks' tensors have at most 4;
    /// kept small so errors stay small on embedded stacks).
    pub const CAP: usize = 4;

    /// An empty shape (rank 0, a scalar).
    pub const EMPTY: Dims = Dims { rank: 0, dims: [0; Dims::CAP] };

    /// A shape from dimensions.
    pub fn from_usizes(dims: &[usize]) -> Dims {
        Self::from_iter_u64(dims.iter().map(|&d| d as u64))
    }

    fn from_iter_u64(it: impl Iterator<Item = u64>) -> Dims {
        let mut d = Dims::EMPTY;
        for v in it {
            if d.rank < Dims::CAP {
                d.dims[d.rank] = v;
            }
            d.rank += 1;
        }
        d
    }

    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The kept dimensions (the first [`Dims::CAP`]).
    pub fn kept(&self) -> &[u64] {
        &self.dims[..self.rank.min(Dims::CAP)]
    }

    /// Whether this is exactly the shape `dims`.
    pub fn eq_usizes(&self, dims: &[usize]) -> bool {
        self.rank == dims.len() && self.rank <= Dims::CAP && self.kept().iter().zip(dims).all(|(&a, &b)| a == b as u64)
    }
}

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.kept().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        if self.rank > Dims::CAP {
            write!(f, ", ... ({} dimensions)", self.rank)?;
        }
        f.write_str("]")
    }
}

impl fmt::Debug for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What is wrong with a safetensors file. Names borrow from the file's
/// bytes (`'static` for `include_bytes!` data).
#[derive(Clone, Copy, Debug)]
pub enum FormatError<'a> {
    /// Fewer than the 8 bytes of the header length.
    TooShort {
        /// The file's length.
        len: usize,
    },
    /// The header length is over [`MAX_HEADER_LEN`].
    HeaderTooLarge {
        /// The header length the file gives.
        header_len: u64,
    },
    /// The header length runs past the end of the file.
    HeaderBeyondFile {
        /// The header length the file gives.
        header_len: u64,
        /// The bytes after the 8-byte length.
        available: usize,
    },
    /// The header is not valid UTF-8.
    HeaderNotUtf8 {
        /// File offset of the first invalid byte.
        offset: usize,
    },
    /// The header is not JSON of the expected form.
    Json {
        /// File offset where reading failed.
        offset: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// A key appears twice (two tensors of one name, or two `__metadata__`).
    DuplicateKey {
        /// The key.
        key: JsonStr<'a>,
    },
    /// A tensor entry has an unknown key.
    UnknownField {
        /// The tensor.
        tensor: JsonStr<'a>,
        /// The key.
        field: JsonStr<'a>,
    },
    /// A tensor entry lacks `dtype`, `shape` or `data_offsets`.
    MissingField {
        /// The tensor.
        tensor: JsonStr<'a>,
        /// The missing key.
        field: &'static str,
    },
    /// A tensor's dtype is not one of the format's.
    UnknownDtype {
        /// The tensor.
        tensor: JsonStr<'a>,
        /// The dtype string found.
        dtype: JsonStr<'a>,
    },
    /// `data_offsets` is not two integers.
    BadOffsets {
        /// The tensor.
        tensor: JsonStr<'a>,
    },
    /// `product(shape) * bits` overflows 64 bits.
    SizeOverflow {
        /// The tensor.
        tensor: JsonStr<'a>,
    },
    /// `product(shape) * bits` is not a whole number of bytes.
    Misaligned {
        /// The tensor.
        tensor: JsonStr<'a>,
    },
    /// `END < BEGIN`.
    OffsetsReversed {
        /// The tensor.
        tensor: JsonStr<'a>,
        /// BEGIN.
        begin: u64,
        /// END.
        end: u64,
    },
    /// `END - BEGIN` differs from the size the dtype and shape give.
    SizeMismatch {
        /// The tensor.
        tensor: JsonStr<'a>,
        /// `END - BEGIN`.
        len: u64,
        /// `product(shape) * dtype size` in bytes.
        expected: u64,
    },
    /// `END` is past the end of the data buffer.
    OutOfRange {
        /// The tensor.
        tensor: JsonStr<'a>,
        /// END.
        end: u64,
        /// The data buffer's length.
        data_len: usize,
    },
    /// The tensors' byte ranges do not add up to the data buffer's length:
    /// some ranges overlap (more) or bytes are left over (fewer).
    DataLength {
        /// The sum of all tensors' lengths.
        indexed: u64,
        /// The data buffer's length.
        data_len: usize,
    },
    /// Two tensors' byte ranges overlap (a range that is empty overlaps one
    /// that strictly contains its position).
    Overlap {
        /// One tensor.
        tensor: JsonStr<'a>,
        /// The other.
        other: JsonStr<'a>,
    },
    /// The scratch given to [`SafeTensorsView::validate_all_in`] has fewer
    /// slots than the file has tensors or metadata keys: a fault of the
    /// caller, not of the file.
    ScratchTooSmall {
        /// The slots needed: the larger of the tensor and metadata key counts.
        needed: usize,
        /// The slots given.
        given: usize,
    },
}

impl fmt::Display for FormatError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FormatError::*;
        match self {
            TooShort { len } => write!(f, "file is {len} bytes, shorter than the 8-byte header length"),
            HeaderTooLarge { header_len } => {
                write!(f, "header length {header_len} is over the limit of {MAX_HEADER_LEN} bytes")
            }
            HeaderBeyondFile { header_len, available } => write!(
                f,
                "header length {header_len} runs past the end of the file ({available} bytes follow the length)"
            ),
            HeaderNotUtf8 { offset } => write!(f, "header is not valid UTF-8 (byte offset {offset})"),
            Json { offset, expected } => write!(f, "invalid header at byte offset {offset}: expected {expected}"),
            DuplicateKey { key } => write!(f, "key {key:?} appears more than once in the header"),
            UnknownField { tensor, field } => {
                write!(f, "tensor {tensor:?} has an unknown key {field:?} (expected dtype, shape, data_offsets)")
            }
            MissingField { tensor, field } => write!(f, "tensor {tensor:?} has no {field:?}"),
            UnknownDtype { tensor, dtype } => write!(f, "tensor {tensor:?} has an unknown dtype {dtype:?}"),
            BadOffsets { tensor } => write!(f, "tensor {tensor:?}: data_offsets must be two integers [BEGIN, END]"),
            SizeOverflow { tensor } => write!(f, "tensor {tensor:?}: its size in bits overflows 64 bits"),
            Misaligned { tensor } => write!(f, "tensor {tensor:?}: its size is not a whole number of bytes"),
            OffsetsReversed { tensor, begin, end } => {
                write!(f, "tensor {tensor:?}: data_offsets [{begin}, {end}] end before they begin")
            }
            SizeMismatch { tensor, len, expected } => {
                write!(f, "tensor {tensor:?}: data_offsets span {len} bytes but its dtype and shape need {expected}")
            }
            OutOfRange { tensor, end, data_len } => {
                write!(f, "tensor {tensor:?}: data_offsets end at {end}, past the {data_len}-byte data buffer")
            }
            DataLength { indexed, data_len } => {
                if *indexed > *data_len as u64 {
                    write!(f, "tensors index {indexed} bytes of a {data_len}-byte data buffer: their ranges overlap")
                } else {
                    write!(
                        f,
                        "tensors index {indexed} bytes of a {data_len}-byte data buffer: {} bytes belong to no tensor",
                        *data_len as u64 - indexed
                    )
                }
            }
            Overlap { tensor, other } => write!(f, "tensors {tensor:?} and {other:?} have overlapping data_offsets"),
            ScratchTooSmall { needed, given } => write!(
                f,
                "validate_all_in needs {needed} scratch slots (one per tensor, or per metadata key if more), given {given}"
            ),
        }
    }
}

impl core::error::Error for FormatError<'_> {}

impl From<JsonError> for FormatError<'_> {
    fn from(e: JsonError) -> Self {
        FormatError::Json { offset: e.offset, expected: e.expected }
    }
}

/// One tensor of a file: its name, dtype, shape and bytes.
#[derive(Clone, Copy, Debug)]
pub struct TensorView<'a> {
    /// The tensor's name, e.g. `conv1.weight`.
    pub name: JsonStr<'a>,
    /// Its element type.
    pub dtype: Dtype,
    /// Its bytes (`data[BEGIN..END]`), not aligned.
    pub data: &'a [u8],
    /// `BEGIN`, its offset in the data buffer.
    pub begin: u64,
    shape: &'a str,
}

impl<'a> TensorView<'a> {
    /// Its dimensions, outermost first.
    pub fn shape(&self) -> ShapeIter<'a> {
        ShapeIter { rest: self.shape }
    }

    /// Its shape as a [`Dims`] (for messages and comparisons).
    pub fn dims(&self) -> Dims {
        Dims::from_iter_u64(self.shape())
    }

    /// Whether its shape is exactly `dims`.
    pub fn shape_is(&self, dims: &[usize]) -> bool {
        let mut it = self.shape();
        dims.iter().all(|&d| it.next() == Some(d as u64)) && it.next().is_none()
    }

    /// Its values, read as little-endian `f32`s (byte by byte: the data need
    /// not be aligned). `None` unless the dtype is `F32`.
    pub fn f32s(&self) -> Option<impl Iterator<Item = f32> + 'a> {
        (self.dtype == Dtype::F32)
            .then(|| self.data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    }

    /// The values of an `I64` tensor (`None` for another dtype).
    pub fn i64s(&self) -> Option<impl Iterator<Item = i64> + 'a> {
        (self.dtype == Dtype::I64).then(|| {
            self.data.chunks_exact(8).map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        })
    }

    /// Whether every value is an `f32` exactly: an `F32` tensor, or an
    /// `I64` one of integers within ±2^24 (PyTorch's
    /// `num_batches_tracked`).
    pub fn is_f32_exact(&self) -> bool {
        self.dtype == Dtype::F32 || self.i64s().is_some_and(|mut v| v.all(|v| v.unsigned_abs() <= 1 << 24))
    }

    /// The values as `f32`s: an `F32` tensor's, or an `I64` one's
    /// converted (exact where [`is_f32_exact`](Self::is_f32_exact)); none
    /// for another dtype.
    pub fn numbers(&self) -> impl Iterator<Item = f32> + 'a {
        let ints = self.i64s().into_iter().flatten().map(|v| v as f32);
        self.f32s().into_iter().flatten().chain(ints)
    }

    fn end(&self) -> u64 {
        self.begin + self.data.len() as u64
    }

    /// Whether the byte ranges of two tensors conflict: non-empty ranges
    /// that intersect, or an empty range strictly inside a non-empty one
    /// (the reference implementation requires every range, empty or not,
    /// to start where the previous one ends).
    fn overlaps(&self, o: &TensorView<'_>) -> bool {
        ranges_conflict([self.begin, self.end()], [o.begin, o.end()])
    }
}

/// Whether byte ranges `[a0, a1)` and `[b0, b1)` conflict, as
/// [`TensorView::overlaps`] defines it.
fn ranges_conflict([a0, a1]: [u64; 2], [b0, b1]: [u64; 2]) -> bool {
    match (a0 == a1, b0 == b1) {
        (true, true) => false,
        (true, false) => b0 < a0 && a0 < b1,
        (false, true) => a0 < b0 && b0 < a1,
        (false, false) => a0 < b1 && b0 < a1,
    }
}

/// The dimensions of a tensor, decoded from the header as they are read.
#[derive(Clone, Debug)]
pub struct ShapeIter<'a> {
    rest: &'a str,
}

impl Iterator for ShapeIter<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let s = self.rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        if end == 0 {
            self.rest = "";
            return None;
        }
        self.rest = &s[end..];
        s[..end].parse().ok()
    }
}

/// One entry of the header, as it is read.
enum Entry<'a> {
    Metadata { body: &'a str, offset: usize },
    Tensor(TensorView<'a>),
}

/// A parsed safetensors file, borrowing its bytes: nothing is copied or
/// allocated.
///
/// ```text
/// bytes 0..8        N, the header length: u64, little endian
/// bytes 8..8+N      the header: UTF-8 JSON, one object
///                     { "__metadata__": { "key": "value", ... },       (optional)
///                       "conv1.weight": { "dtype": "F32",
///                                         "shape": [8, 1, 3, 3],
///                                         "data_offsets": [BEGIN, END] },
///                       ... }
///                   possibly padded with trailing spaces
/// bytes 8+N..       the data buffer; a tensor's bytes are data[BEGIN..END],
///                   row-major, little endian
/// ```
///
/// The reader follows the format as the reference implementation (the
/// `safetensors` crate) validates it: `N` at most 100 000 000 and within the
/// file; the header valid UTF-8 and valid JSON; every tensor's byte length
/// `END - BEGIN` equal to `product(shape) * dtype size`; and the tensors'
/// ranges tiling the data buffer exactly, with no hole, no overlap and no
/// trailing byte. It is stricter than that implementation in a few places a
/// well-formed file never reaches: a key may not appear twice, a tensor
/// entry may have no key besides `dtype`, `shape` and `data_offsets`, and
/// `__metadata__` must be an object of strings (not `null`).
///
/// [`SafeTensorsView::parse`] checks everything that one pass over the header
/// can check; lookups ([`SafeTensorsView::tensor`], [`SafeTensorsView::metadata`])
/// check that the entry they return is unique and overlaps no other, and
/// [`SafeTensorsView::validate_all_in`] (with std, also
/// `validate_all`) runs those checks for every entry.
///
/// ```
/// use constnet::io::{Dtype, SafeTensorsView};
/// let header = br#"{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
/// let mut file = (header.len() as u64).to_le_bytes().to_vec();
/// file.extend_from_slice(header);
/// file.extend_from_slice(&1.0f32.to_le_bytes());
/// file.extend_from_slice(&(-2.0f32).to_le_bytes());
///
/// let st = SafeTensorsView::parse(&file).unwrap();
/// assert_eq!(st.len(), 1);
/// assert!(st.metadata("format").unwrap().unwrap().eq_str("pt"));
/// let w = st.tensor("w").unwrap().unwrap();
/// assert_eq!(w.dtype, Dtype::F32);
/// assert!(w.shape_is(&[2]));
/// assert!(w.f32s().unwrap().eq([1.0, -2.0]));
/// // A truncated file is an error, not a panic.
/// assert!(SafeTensorsView::parse(&file[..file.len() - 1]).is_err());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SafeTensorsView<'a> {
    header: &'a str,
    data: &'a [u8],
    tensors: usize,
    metadata_keys: usize,
}

impl<'a> SafeTensorsView<'a> {
    /// Parses a whole file: header length, header, data buffer.
    ///
    /// Time is linear in the file's header length; nothing is allocated.
    ///
    /// # Errors
    /// A [`FormatError`] for anything the [type's documentation](Self)
    /// lists (duplicate tensor names and overlapping ranges whose lengths
    /// still add up are reported by lookups and [`Self::validate_all_in`]).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError<'a>> {
        let Some((len, rest)) = bytes.split_first_chunk::<8>() else {
            return Err(FormatError::TooShort { len: bytes.len() });
        };
        let header_len = u64::from_le_bytes(*len);
        if header_len > MAX_HEADER_LEN as u64 {
            return Err(FormatError::HeaderTooLarge { header_len });
        }
        if header_len > rest.len() as u64 {
            return Err(FormatError::HeaderBeyondFile { header_len, available: rest.len() });
        }
        let (header, data) = rest.split_at(header_len as usize);
        let header =
            core::str::from_utf8(header).map_err(|e| FormatError::HeaderNotUtf8 { offset: 8 + e.valid_up_to() })?;
        let mut st = SafeTensorsView { header, data, tensors: 0, metadata_keys: 0 };

        let mut cur = Cursor::new(header, 8);
        let mut indexed: u64 = 0;
        let mut seen_metadata = false;
        while let Some(entry) = st.next_entry(&mut cur)? {
            match entry {
                Entry::Metadata { body, offset } => {
                    if seen_metadata {
                        return Err(FormatError::DuplicateKey { key: METADATA_KEY });
                    }
                    seen_metadata = true;
                    // Reading every pair validates them.
                    let mut pairs = Cursor::new(body, offset);
                    while st.next_pair(&mut pairs)?.is_some() {
                        st.metadata_keys += 1;
                    }
                }
                Entry::Tensor(t) => {
                    st.tensors += 1;
                    indexed = indexed.saturating_add(t.data.len() as u64);
                }
            }
        }
        if indexed != data.len() as u64 {
            return Err(FormatError::DataLength { indexed, data_len: data.len() });
        }
        Ok(st)
    }

    /// The number of tensors (not counting `__metadata__`).
    pub fn len(&self) -> usize {
        self.tensors
    }

    /// Whether the file holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors == 0
    }

    /// The number of `__metadata__` keys (0 without `__metadata__`).
    pub fn metadata_len(&self) -> usize {
        self.metadata_keys
    }

    /// The data buffer (everything after the header).
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The header's JSON text, as in the file (with its padding).
    #[cfg(feature = "std")]
    pub(crate) fn header(&self) -> &'a str {
        self.header
    }

    /// The tensors, in header order. Lookups by name go through
    /// [`Self::tensor`], which also checks uniqueness and overlaps.
    pub fn tensors(&self) -> impl Iterator<Item = TensorView<'a>> + 'a {
        let st = *self;
        let mut cur = Cursor::new(self.header, 8);
        // `parse` validated the header, so reading it again cannot fail.
        core::iter::from_fn(move || {
            loop {
                match st.next_entry(&mut cur).ok()?? {
                    Entry::Tensor(t) => return Some(t),
                    Entry::Metadata { .. } => continue,
                }
            }
        })
    }

    /// The tensor named `name`, if there is one.
    ///
    /// # Errors
    /// [`FormatError::DuplicateKey`] if two tensors have that name,
    /// [`FormatError::Overlap`] if its bytes overlap another tensor's.
    pub fn tensor(&self, name: &str) -> Result<Option<TensorView<'a>>, FormatError<'a>> {
        self.find(|n| n.eq_str(name))
    }

    /// The tensor whose name is `parts` concatenated (e.g. `["conv1", ".",
    /// "weight"]`); as [`Self::tensor`].
    ///
    /// # Errors
    /// As [`Self::tensor`].
    pub fn tensor_parts(&self, parts: &[&str]) -> Result<Option<TensorView<'a>>, FormatError<'a>> {
        self.find(|n| n.eq_parts(parts))
    }

    fn find(&self, mut is: impl FnMut(&JsonStr<'a>) -> bool) -> Result<Option<TensorView<'a>>, FormatError<'a>> {
        let mut found: Option<TensorView<'a>> = None;
        for t in self.tensors() {
            if is(&t.name) {
                if found.is_some() {
                    return Err(FormatError::DuplicateKey { key: t.name });
                }
                found = Some(t);
            }
        }
        if let Some(t) = found {
            self.check_overlaps(&t)?;
        }
        Ok(found)
    }

    fn check_overlaps(&self, t: &TensorView<'a>) -> Result<(), FormatError<'a>> {
        // Entries are told apart by where their bytes start in the header.
        for o in self.tensors() {
            if o.shape.as_ptr() != t.shape.as_ptr() && t.overlaps(&o) {
                return Err(FormatError::Overlap { tensor: t.name, other: o.name });
            }
        }
        Ok(())
    }

    /// The `__metadata__` value for `key`, if there is one.
    ///
    /// # Errors
    /// [`FormatError::DuplicateKey`] if the key appears twice.
    pub fn metadata(&self, key: &str) -> Result<Option<JsonStr<'a>>, FormatError<'a>> {
        let mut found = None;
        for (k, v) in self.metadata_pairs() {
            if k.eq_str(key) {
                if found.is_some() {
                    return Err(FormatError::DuplicateKey { key: k });
                }
                found = Some(v);
            }
        }
        Ok(found)
    }

    /// Every `(key, value)` pair of `__metadata__`, in header order.
    pub fn metadata_pairs(&self) -> impl Iterator<Item = (JsonStr<'a>, JsonStr<'a>)> + 'a {
        let st = *self;
        let mut cur = Cursor::new(self.header, 8);
        let mut pairs: Option<Cursor<'a>> = None;
        core::iter::from_fn(move || {
            loop {
                if let Some(p) = &mut pairs {
                    if let Some(kv) = st.next_pair(p).ok()? {
                        return Some(kv);
                    }
                    pairs = None;
                }
                match st.next_entry(&mut cur).ok()?? {
                    Entry::Metadata { body, offset } => pairs = Some(Cursor::new(body, offset)),
                    Entry::Tensor(_) => continue,
                }
            }
        })
    }

    /// Reads the next top-level entry; `None` after the closing brace.
    fn next_entry(&self, cur: &mut Cursor<'a>) -> Result<Option<Entry<'a>>, FormatError<'a>> {
        if cur.is_done() {
            return Ok(None);
        }
        if cur.pos() == 0 {
            cur.expect(b'{', "'{' opening the header")?;
            if cur.eat(b'}') {
                return self.finish(cur);
            }
        } else if cur.eat(b'}') {
            return self.finish(cur);
        } else {
            cur.expect(b',', "',' or '}' after a header entry")?;
        }
        let key = cur.string("a tensor name or \"__metadata__\"")?;
        cur.expect(b':', "':' after a key")?;
        if key.eq_str("__metadata__") {
            if cur.peek() != Some(b'{') {
                return Err(cur.err("an object of strings for \"__metadata__\"").into());
            }
            let start = cur.pos();
            let offset = cur.base_offset() + start;
            // Skip over the object, validating its syntax.
            let mut pairs = Cursor::new(&self.header[start..], offset);
            while self.next_pair(&mut pairs)?.is_some() {}
            cur.advance(pairs.pos());
            return Ok(Some(Entry::Metadata { body: cur.since(start), offset }));
        }
        self.tensor_entry(cur, key).map(|t| Some(Entry::Tensor(t)))
    }

    /// After the header's closing brace only whitespace may follow.
    fn finish(&self, cur: &mut Cursor<'a>) -> Result<Option<Entry<'a>>, FormatError<'a>> {
        if !cur.at_end() {
            return Err(cur.err("only whitespace after the header's closing '}'").into());
        }
        cur.done();
        Ok(None)
    }

    /// Reads one `"key": "value"` pair of a metadata object (which starts
    /// at the cursor's position 0); `None` after its closing brace.
    fn next_pair(&self, cur: &mut Cursor<'a>) -> Result<Option<(JsonStr<'a>, JsonStr<'a>)>, FormatError<'a>> {
        if cur.pos() == 0 {
            cur.expect(b'{', "'{' opening \"__metadata__\"")?;
            if cur.eat(b'}') {
                cur.done();
                return Ok(None);
            }
        } else if cur.eat(b'}') {
            cur.done();
            return Ok(None);
        } else if cur.is_done() {
            return Ok(None);
        } else {
            cur.expect(b',', "',' or '}' in \"__metadata__\"")?;
        }
        let k = cur.string("a metadata key")?;
        cur.expect(b':', "':' after a metadata key")?;
        let v = cur.string("a string value in \"__metadata__\"")?;
        Ok(Some((k, v)))
    }

    /// Reads and checks one tensor entry's object.
    fn tensor_entry(&self, cur: &mut Cursor<'a>, name: JsonStr<'a>) -> Result<TensorView<'a>, FormatError<'a>> {
        cur.expect(b'{', "'{' opening a tensor entry")?;
        let (mut dtype, mut shape, mut offsets) = (None, None, None);
        let mut first = true;
        while !cur.eat(b'}') {
            if !first {
                cur.expect(b',', "',' or '}' in a tensor entry")?;
            }
            first = false;
            let key = cur.string("\"dtype\", \"shape\" or \"data_offsets\"")?;
            cur.expect(b':', "':' after a key")?;
            if key.eq_str("dtype") {
                let d = cur.string("a dtype string such as \"F32\"")?;
                let d = Dtype::from_json(d).ok_or(FormatError::UnknownDtype { tensor: name, dtype: d })?;
                if dtype.replace(d).is_some() {
                    return Err(FormatError::DuplicateKey { key });
                }
            } else if key.eq_str("shape") {
                let (raw, numel) = shape_array(cur)?;
                if shape.replace((raw, numel)).is_some() {
                    return Err(FormatError::DuplicateKey { key });
                }
            } else if key.eq_str("data_offsets") {
                let o = offsets_array(cur).map_err(|e| match e {
                    Some(e) => e.into(),
                    None => FormatError::BadOffsets { tensor: name },
                })?;
                if offsets.replace(o).is_some() {
                    return Err(FormatError::DuplicateKey { key });
                }
            } else {
                return Err(FormatError::UnknownField { tensor: name, field: key });
            }
        }
        let missing = |field| FormatError::MissingField { tensor: name, field };
        let dtype = dtype.ok_or(missing("dtype"))?;
        let (shape, numel) = shape.ok_or(missing("shape"))?;
        let (begin, end) = offsets.ok_or(missing("data_offsets"))?;
        let numel = numel.ok_or(FormatError::SizeOverflow { tensor: name })?;
        let bits = numel.checked_mul(dtype.bits()).ok_or(FormatError::SizeOverflow { tensor: name })?;
        if bits % 8 != 0 {
            return Err(FormatError::Misaligned { tensor: name });
        }
        if end < begin {
            return Err(FormatError::OffsetsReversed { tensor: name, begin, end });
        }
        if end - begin != bits / 8 {
            return Err(FormatError::SizeMismatch { tensor: name, len: end - begin, expected: bits / 8 });
        }
        if end > self.data.len() as u64 {
            return Err(FormatError::OutOfRange { tensor: name, end, data_len: self.data.len() });
        }
        Ok(TensorView { name, dtype, data: &self.data[begin as usize..end as usize], begin, shape })
    }
}

const METADATA_KEY: JsonStr<'static> = JsonStr::from_static("__metadata__");

/// Reads `[d0, d1, ...]`: the raw text between the brackets and the
/// product of the dimensions (`None` on overflow).
fn shape_array<'a>(cur: &mut Cursor<'a>) -> Result<(&'a str, Option<u64>), JsonError> {
    cur.expect(b'[', "'[' opening a shape")?;
    let start = cur.pos();
    let mut numel = Some(1u64);
    if !cur.eat(b']') {
        loop {
            let d = cur.uint()?;
            numel = numel.and_then(|n| n.checked_mul(d));
            if cur.eat(b']') {
                break;
            }
            cur.expect(b',', "',' or ']' in a shape")?;
        }
    }
    Ok((cur.since(start), numel))
}

/// Reads `[BEGIN, END]`; `Err(None)` if it is an array of another length.
fn offsets_array(cur: &mut Cursor<'_>) -> Result<(u64, u64), Option<JsonError>> {
    cur.expect(b'[', "'[' opening data_offsets")?;
    if cur.eat(b']') {
        return Err(None);
    }
    let begin = cur.uint()?;
    if cur.eat(b']') {
        return Err(None);
    }
    cur.expect(b',', "',' in data_offsets")?;
    let end = cur.uint()?;
    if cur.eat(b']') {
        return Ok((begin, end));
    }
    cur.expect(b',', "',' or ']' in data_offsets")?;
    Err(None)
}
