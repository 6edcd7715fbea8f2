//! A small, strict, allocation-free reader of PGM (portable graymap)
//! images: binary `P5` and plain (ASCII) `P2`, 8 or 16 bits per pixel.
//!
//! ```text
//! P5 <ws> WIDTH <ws> HEIGHT <ws> MAXVAL <one ws byte> WIDTH*HEIGHT samples
//!   samples are 1 byte if MAXVAL < 256, else 2 bytes, most significant first
//! P2 <ws> WIDTH <ws> HEIGHT <ws> MAXVAL <ws> WIDTH*HEIGHT decimal samples separated by whitespace
//! ```
//!
//! `#` starts a comment that runs to the end of the line, anywhere
//! whitespace may appear before the samples (and, in `P2`, between them).
//! `MAXVAL` is 1 to 65535, every sample at most `MAXVAL`. A `P5` file must
//! end right after its samples, a `P2` file may have only whitespace and
//! comments after them. Everything else is a [`PgmError`] naming the byte
//! offset and the rule.
//!
//! An accepted image never has more pixels than its file has bytes: a `P5`
//! file holds one or two bytes a sample, and a `P2` file's header is
//! refused if the bytes after it cannot hold `WIDTH * HEIGHT` samples (a
//! digit and a separator each, `2 * WIDTH * HEIGHT - 1` bytes at least).
//! So a buffer of [`Pgm::pixels`] values is bounded by the input's size.

use core::fmt;

/// Binary (`P5`) or plain (`P2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `P5`: one or two bytes per sample.
    Binary,
    /// `P2`: decimal numbers.
    Plain,
}

/// A parsed PGM image borrowing its bytes. Read the samples with
/// [`Pgm::read_into`].
///
/// ```
/// use constnet::io::pgm::Pgm;
/// let img = Pgm::parse(b"P2\n# a 3x2 image\n3 2\n255\n0 128 255\n255 128 0\n").unwrap();
/// assert_eq!((img.width, img.height, img.maxval), (3, 2, 255));
/// let mut px = [0.0f32; 6];
/// img.read_into(&mut px).unwrap();
/// assert_eq!(px, [0.0, 128.0 / 255.0, 1.0, 1.0, 128.0 / 255.0, 0.0]);
///
/// let bin = Pgm::parse(b"P5 2 1 255\n\x00\xff").unwrap();
/// bin.read_into(&mut px[..2]).unwrap();
/// assert_eq!(&px[..2], &[0.0, 1.0]);
/// assert!(Pgm::parse(b"P5 2 1 255\n\x00").is_err()); // one sample short
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Pgm<'a> {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// The largest sample value (white).
    pub maxval: u16,
    /// `P5` or `P2`.
    pub encoding: Encoding,
    /// The bytes after the header: the samples.
    samples: &'a [u8],
    /// File offset of `samples`.
    offset: usize,
}

/// What is wrong with a PGM file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgmError {
    /// The file does not start with `P5` or `P2`.
    Magic,
    /// The header is malformed at this byte offset.
    Header {
        /// File offset.
        offset: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// `WIDTH * HEIGHT` (times the sample size) overflows.
    TooLarge {
        /// Columns.
        width: usize,
        /// Rows.
        height: usize,
    },
    /// A `P2` file's header declares more samples than the bytes after it
    /// can hold: `n` samples take at least `2n - 1` bytes.
    PlainTooShort {
        /// `WIDTH * HEIGHT`.
        samples: usize,
        /// The bytes after the header.
        bytes: usize,
    },
    /// A `P5` file's sample bytes are not exactly `WIDTH * HEIGHT * size`.
    DataLength {
        /// The bytes needed.
        expected: usize,
        /// The bytes after the header.
        found: usize,
    },
    /// A sample is not a number, or is larger than `MAXVAL`.
    Sample {
        /// File offset.
        offset: usize,
        /// Sample index (row-major).
        index: usize,
        /// The image's `MAXVAL`.
        maxval: u16,
    },
    /// A `P2` file has fewer samples than `WIDTH * HEIGHT`.
    MissingSamples {
        /// Samples needed.
        expected: usize,
        /// Samples found.
        found: usize,
    },
    /// Something other than whitespace or a comment follows the samples of a `P2` file.
    Trailing {
        /// File offset.
        offset: usize,
    },
    /// The output buffer's length is not `WIDTH * HEIGHT`.
    OutputLength {
        /// `WIDTH * HEIGHT`.
        expected: usize,
        /// The buffer's length.
        found: usize,
    },
}

impl fmt::Display for PgmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgmError::Magic => write!(f, "not a PGM file: it must start with \"P5\" (binary) or \"P2\" (plain)"),
            PgmError::Header { offset, expected } => write!(f, "PGM header at byte {offset}: expected {expected}"),
            PgmError::TooLarge { width, height } => write!(f, "PGM image {width}x{height} is too large"),
            PgmError::PlainTooShort { samples, bytes } => write!(
                f,
                "PGM (P2) header declares {samples} samples (WIDTH*HEIGHT) but only {bytes} bytes follow it; \
                 {samples} samples take at least {} bytes (a digit and a separator each)",
                samples.saturating_mul(2).saturating_sub(1)
            ),
            PgmError::DataLength { expected, found } => {
                write!(f, "PGM (P5) data is {found} bytes, expected exactly {expected} (WIDTH*HEIGHT samples)")
            }
            PgmError::Sample { offset, index, maxval } => {
                write!(f, "PGM sample {index} at byte {offset} is not an integer from 0 to MAXVAL {maxval}")
            }
            PgmError::MissingSamples { expected, found } => {
                write!(f, "PGM (P2) has {found} samples, expected {expected} (WIDTH*HEIGHT)")
            }
            PgmError::Trailing { offset } => {
                write!(f, "PGM (P2): unexpected data at byte {offset} after the last sample")
            }
            PgmError::OutputLength { expected, found } => {
                write!(f, "output buffer holds {found} values, the image has {expected} pixels")
            }
        }
    }
}

impl core::error::Error for PgmError {}

/// Reads whitespace-separated tokens, skipping `#` comments.
struct Tokens<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Tokens<'a> {
    /// Skips whitespace and comments; returns whether any was skipped.
    fn skip(&mut self) -> bool {
        let start = self.pos;
        loop {
            match self.b.get(self.pos) {
                Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') => self.pos += 1,
                Some(b'#') => {
                    while let Some(&c) = self.b.get(self.pos) {
                        self.pos += 1;
                        if c == b'\n' || c == b'\r' {
                            break;
                        }
                    }
                }
                _ => return self.pos > start,
            }
        }
    }

    /// A decimal number, or `None` (position unchanged) if there is none or
    /// it exceeds `max`.
    fn number(&mut self, max: u32) -> Option<u32> {
        let start = self.pos;
        let mut v: u32 = 0;
        while let Some(&c @ b'0'..=b'9') = self.b.get(self.pos) {
            v = match v.checked_mul(10).and_then(|v| v.checked_add((c - b'0') as u32)) {
                Some(v) if v <= max => v,
                _ => {
                    self.pos = start;
                    return None;
                }
            };
            self.pos += 1;
        }
        if self.pos == start { None } else { Some(v) }
    }

    fn header_number(&mut self, max: u32, expected: &'static str) -> Result<u32, PgmError> {
        if !self.skip() {
            return Err(PgmError::Header { offset: self.pos, expected: "whitespace between header fields" });
        }
        let offset = self.pos;
        match self.number(max) {
            Some(v) if v > 0 => Ok(v),
            _ => Err(PgmError::Header { offset, expected }),
        }
    }
}

impl<'a> Pgm<'a> {
    /// The largest width or height accepted: 2^24.
    pub const MAX_SIDE: u32 = 1 << 24;

    /// Parses the header and checks the samples' length (`P5`).
    ///
    /// # Errors
    /// A [`PgmError`] for a bad magic number, a malformed header, a size
    /// that overflows, a `P5` data length other than `WIDTH * HEIGHT`
    /// samples, or a `P2` file too short for `WIDTH * HEIGHT` samples
    /// ([`PgmError::PlainTooShort`]; the samples themselves are checked by
    /// [`Pgm::read_into`]). Nothing is allocated.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, PgmError> {
        let encoding = match bytes.get(..2) {
            Some(b"P5") => Encoding::Binary,
            Some(b"P2") => Encoding::Plain,
            _ => return Err(PgmError::Magic),
        };
        let mut t = Tokens { b: bytes, pos: 2 };
        let width = t.header_number(Self::MAX_SIDE, "a width from 1 to 16777216")? as usize;
        let height = t.header_number(Self::MAX_SIDE, "a height from 1 to 16777216")? as usize;
        let maxval = t.header_number(65535, "a MAXVAL from 1 to 65535")? as u16;
        let too_large = PgmError::TooLarge { width, height };
        let pixels = width.checked_mul(height).ok_or(too_large)?;
        let offset;
        match encoding {
            Encoding::Binary => {
                // Exactly one whitespace byte separates MAXVAL from the samples.
                match bytes.get(t.pos) {
                    Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') => offset = t.pos + 1,
                    _ => return Err(PgmError::Header { offset: t.pos, expected: "one whitespace byte after MAXVAL" }),
                }
                let size = if maxval < 256 { 1 } else { 2 };
                let expected = pixels.checked_mul(size).ok_or(too_large)?;
                let found = bytes.len() - offset;
                if found != expected {
                    return Err(PgmError::DataLength { expected, found });
                }
            }
            Encoding::Plain => {
                if !t.skip() && t.pos < bytes.len() {
                    return Err(PgmError::Header { offset: t.pos, expected: "whitespace after MAXVAL" });
                }
                offset = t.pos;
                let room = bytes.len() - offset;
                // n samples take 2n - 1 bytes at least: n <= (room + 1) / 2
                if pixels > room.div_ceil(2) {
                    return Err(PgmError::PlainTooShort { samples: pixels, bytes: room });
                }
            }
        }
        Ok(Pgm { width, height, maxval, encoding, samples: &bytes[offset..], offset })
    }

    /// Number of pixels, `WIDTH * HEIGHT`.
    pub fn pixels(&self) -> usize {
        self.width * self.height
    }

    /// Writes every sample divided by `MAXVAL` (0.0 black to 1.0 white)
    /// into `out`, row-major. No allocation.
    ///
    /// # Errors
    /// [`PgmError::OutputLength`] if `out.len()` is not `WIDTH * HEIGHT`;
    /// [`PgmError::Sample`] for a sample above `MAXVAL`; for `P2` also
    /// [`PgmError::MissingSamples`] or [`PgmError::Trailing`] (`out` may
    /// then be partly written).
    pub fn read_into(&self, out: &mut [f32]) -> Result<(), PgmError> {
        if out.len() != self.pixels() {
            return Err(PgmError::OutputLength { expected: self.pixels(), found: out.len() });
        }
        let scale = 1.0 / self.maxval as f32;
        match self.encoding {
            Encoding::Binary if self.maxval < 256 => {
                for (i, (o, &b)) in out.iter_mut().zip(self.samples).enumerate() {
                    if b as u16 > self.maxval {
                        return Err(PgmError::Sample { offset: self.offset + i, index: i, maxval: self.maxval });
                    }
                    *o = b as f32 * scale;
                }
            }
            Encoding::Binary => {
                for (i, (o, b)) in out.iter_mut().zip(self.samples.chunks_exact(2)).enumerate() {
                    let v = u16::from_be_bytes([b[0], b[1]]);
                    if v > self.maxval {
                        let offset = self.offset + 2 * i;
                        return Err(PgmError::Sample { offset, index: i, maxval: self.maxval });
                    }
                    *o = v as f32 * scale;
                }
            }
            Encoding::Plain => {
                let mut t = Tokens { b: self.samples, pos: 0 };
                for (i, o) in out.iter_mut().enumerate() {
                    t.skip();
                    if t.pos == t.b.len() {
                        return Err(PgmError::MissingSamples { expected: self.pixels(), found: i });
                    }
                    let offset = self.offset + t.pos;
                    let sample = PgmError::Sample { offset, index: i, maxval: self.maxval };
                    let v = t.number(self.maxval as u32).ok_or(sample)?;
                    // A number must end at whitespace, a comment or the end.
                    if !matches!(t.b.get(t.pos), None | Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' | b'#')) {
                        return Err(sample);
                    }
                    *o = v as f32 * scale;
                }
                t.skip();
                if t.pos != t.b.len() {
                    return Err(PgmError::Trailing { offset: self.offset + t.pos });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_binary() {
        let img = Pgm::parse(b"P5\n2 1\n# comment\n1000\n\x00\x00\x03\xe8").unwrap();
        let mut px = [9.0; 2];
        img.read_into(&mut px).unwrap();
        assert_eq!(px, [0.0, 1.0]);
        let img = Pgm::parse(b"P5 1 1 1000\n\x03\xe9").unwrap();
        assert!(matches!(img.read_into(&mut px[..1]), Err(PgmError::Sample { index: 0, .. })));
        // Found by the fuzz target: an 8-bit sample above MAXVAL.
        let img = Pgm::parse(b"P5 2 1 12 1 ").unwrap();
        assert_eq!(img.read_into(&mut px), Err(PgmError::Sample { offset: 10, index: 0, maxval: 12 }));
    }

    #[test]
    fn malformed_files_are_errors() {
        let mut px = [0.0; 4];
        for bad in [
            &b"P6 1 1 255\n\x00"[..],
            b"P5",
            b"P5 0 1 255\n",
            b"P5 1 1 0\n\x00",
            b"P5 1 1 65536\n\x00\x00",
            b"P5 1 1 255",
            b"P5 1 1 255\n",
            b"P5 1 1 255\n\x00\x00",
            b"P51 1 255\n\x00",
            b"P5 99999999999999999999 1 255\n",
            b"P5 16777217 1 255\n",
            b"P2 2 2 255\n1 2 3",
        ] {
            assert!(Pgm::parse(bad).is_err(), "{:?} was accepted", core::str::from_utf8(bad));
        }
        for bad in [&b"P2 2 2 9\n1 2 3 10"[..], b"P2 2 2 9\n1 2 3 4 5", b"P2 2 2 9\n1 2 3 4x", b"P2 2 2 9\n1 -2 3 4"] {
            let img = Pgm::parse(bad).unwrap();
            assert!(img.read_into(&mut px).is_err(), "{:?} was accepted", core::str::from_utf8(bad));
        }
        // The header bomb of issue 22: 2^48 samples declared in 25 bytes.
        let bomb = b"P2 16777216 16777216 255\n";
        let samples = 1usize << 48;
        assert_eq!(Pgm::parse(bomb).unwrap_err(), PgmError::PlainTooShort { samples, bytes: 0 });
        assert_eq!(Pgm::parse(b"P2 3 1 9\n1 2").unwrap_err(), PgmError::PlainTooShort { samples: 3, bytes: 3 });
        assert!(Pgm::parse(b"P2 3 1 9\n1 2 3").is_ok()); // 2n - 1 bytes: just enough room
        let img = Pgm::parse(b"P2 2 2 9\n1 2 3 4 # done\n").unwrap();
        assert_eq!(img.read_into(&mut px[..3]), Err(PgmError::OutputLength { expected: 4, found: 3 }));
        img.read_into(&mut px).unwrap();
    }
}
