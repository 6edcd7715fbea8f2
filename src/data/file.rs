//! [`DataFile`]: a data file opened for reading, raw or gzip, whose reads
//! never allocate more than the caller allowed.

use super::error::{DataError, Measured};
use flate2::read::MultiGzDecoder;
use std::boxed::Box;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::vec::Vec;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The first capacity a growing read asks for: 64 KiB.
const FIRST_CHUNK: usize = 1 << 16;

/// An open data file: raw, or decompressed on the fly if it starts with
/// gzip's magic bytes. Read errors are mapped to [`DataError::Io`] or
/// [`DataError::Gzip`] accordingly.
pub(crate) struct DataFile {
    path: PathBuf,
    reader: Box<dyn Read>,
    /// `Some(file length)` for a raw file, `None` for gzip.
    raw_len: Option<u64>,
}

impl DataFile {
    /// Opens `path` (a regular file, see
    /// [`open_regular_file`](crate::io::open_regular_file)) and detects
    /// gzip by its first two bytes.
    pub(crate) fn open(path: &Path) -> Result<Self, DataError> {
        let io_err = |source| DataError::Io { path: path.to_path_buf(), source };
        let mut file = crate::io::open_regular_file(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let mut magic = [0u8; 2];
        let n = read_up_to(&mut file, &mut magic).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let (reader, raw_len): (Box<dyn Read>, _) = if n == 2 && magic == GZIP_MAGIC {
            (Box::new(MultiGzDecoder::new(BufReader::new(file))), None)
        } else {
            (Box::new(BufReader::new(file)), Some(len))
        };
        Ok(Self { path: path.to_path_buf(), reader, raw_len })
    }

    /// The file length for a raw file, `None` for gzip.
    pub(crate) fn raw_len(&self) -> Option<u64> {
        self.raw_len
    }

    /// What the byte counts of this file measure: the file, or its
    /// decompressed data.
    pub(crate) fn measured(&self) -> Measured {
        if self.raw_len.is_some() { Measured::File } else { Measured::Decompressed }
    }

    fn err(&self, source: io::Error) -> DataError {
        let path = self.path.clone();
        if self.raw_len.is_some() { DataError::Io { path, source } } else { DataError::Gzip { path, source } }
    }

    /// Fills `buf` as far as the data goes; returns the bytes read.
    pub(crate) fn read_up_to(&mut self, buf: &mut [u8]) -> Result<usize, DataError> {
        read_up_to(&mut self.reader, buf).map_err(|e| self.err(e))
    }

    /// Reads the rest of the data, at most `limit` bytes; the buffer's
    /// capacity grows with the data and never exceeds `limit`.
    pub(crate) fn read_rest_limited(mut self, limit: u64) -> Result<Vec<u8>, DataError> {
        read_capped(&mut *self.reader, limit).map_err(|e| self.err(e))
    }

    /// Reads exactly `expected` more bytes (which the caller has checked
    /// against [`MAX_DATA_BYTES`](crate::data::MAX_DATA_BYTES) and charged
    /// to its budget), `consumed` bytes having been read already; fails with
    /// [`DataError::Truncated`] or [`DataError::TrailingData`] if the file
    /// holds fewer or more. A raw file's length is checked before
    /// allocating; a gzip stream is decompressed into a buffer that grows
    /// with the data, to at most `expected + 1` bytes.
    pub(crate) fn read_rest_exact(mut self, consumed: u64, expected: u64) -> Result<Vec<u8>, DataError> {
        let path = self.path.clone();
        if let Some(len) = self.raw_len {
            check_exact(&path, expected, len.saturating_sub(consumed))?;
        }
        let data = read_capped(&mut *self.reader, expected + 1).map_err(|e| self.err(e))?;
        check_exact(&path, expected, data.len() as u64)?;
        Ok(data)
    }

    /// Counts the rest of the data, up to `expected + 1` bytes, without
    /// keeping it; fails as [`DataFile::read_rest_exact`] does.
    pub(crate) fn skip_rest_exact(mut self, expected: u64) -> Result<(), DataError> {
        let found = io::copy(&mut (&mut self.reader).take(expected + 1), &mut io::sink()).map_err(|e| self.err(e))?;
        check_exact(&self.path, expected, found)
    }
}

/// [`DataError::Truncated`] if `found < expected`, [`DataError::TrailingData`]
/// if more.
pub(crate) fn check_exact(path: &Path, expected: u64, found: u64) -> Result<(), DataError> {
    if found < expected {
        return Err(DataError::Truncated { path: path.to_path_buf(), expected, found });
    }
    if found > expected {
        return Err(DataError::TrailingData { path: path.to_path_buf(), expected, found });
    }
    Ok(())
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(crate) fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads to the end of `r`, at most `limit` bytes. The buffer doubles as
/// the data comes (from 64 KiB) but its capacity never exceeds `limit`, so
/// a stream that ends early holds little and one that goes on holds
/// `limit` bytes at most.
fn read_capped(r: &mut dyn Read, limit: u64) -> io::Result<Vec<u8>> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut data = Vec::new();
    while data.len() < limit {
        let chunk = data.len().max(FIRST_CHUNK).min(limit - data.len());
        data.try_reserve_exact(chunk).map_err(io::Error::other)?;
        // `take` stops at the reserved capacity, so `read_to_end` fills it
        // without growing the buffer.
        let n = Read::take(&mut *r, chunk as u64).read_to_end(&mut data)?;
        if n < chunk {
            break;
        }
    }
    Ok(data)
}

/// The size a gzip file's last member declares for its data (ISIZE, the
/// last 4 bytes: the length modulo 2^32), or `None` for a raw file or one
/// too short to hold a gzip trailer.
pub(crate) fn gzip_declared_size(path: &Path) -> Result<Option<u32>, DataError> {
    let io_err = |source| DataError::Io { path: path.to_path_buf(), source };
    let mut file: File = crate::io::open_regular_file(path).map_err(io_err)?;
    let mut magic = [0u8; 2];
    if read_up_to(&mut file, &mut magic).map_err(io_err)? < 2 || magic != GZIP_MAGIC {
        return Ok(None);
    }
    // a gzip member is at least an 18-byte header and trailer
    if file.metadata().map_err(io_err)?.len() < 18 {
        return Ok(None);
    }
    let mut isize = [0u8; 4];
    file.seek(SeekFrom::End(-4)).map_err(io_err)?;
    file.read_exact(&mut isize).map_err(io_err)?;
    Ok(Some(u32::from_le_bytes(isize)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that yields `n` bytes, in reads of at most 1000.
    struct Bytes(usize);
    impl Read for Bytes {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let k = self.0.min(buf.len()).min(1000);
            buf[..k].fill(7);
            self.0 -= k;
            Ok(k)
        }
    }

    #[test]
    fn capped_reads_never_hold_more_than_the_limit() {
        for (n, limit) in [(0, 10), (5, 10), (10, 10), (11, 10), (200_000, 1_000_000), (1_000_001, 1_000_000)] {
            let data = read_capped(&mut Bytes(n), limit as u64).unwrap();
            assert_eq!(data.len(), n.min(limit), "{n} bytes, limit {limit}");
            assert!(data.capacity() <= limit, "{n} bytes, limit {limit}: capacity {}", data.capacity());
        }
        // a short stream holds little
        let data = read_capped(&mut Bytes(10), 1 << 30).unwrap();
        assert!(data.capacity() <= FIRST_CHUNK, "capacity {}", data.capacity());
    }
}
