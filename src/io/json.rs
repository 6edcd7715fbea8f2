//! A strict, allocation-free reader for the small JSON subset of a
//! safetensors header: objects, strings, arrays of non-negative integers.
//!
//! Strings are validated (escapes, surrogate pairs, no control characters)
//! and kept as borrowed [`JsonStr`]s, decoded lazily; numbers are integers
//! without sign, fraction, exponent or leading zeros that fit in a `u64`.
//! Anything else is an error that gives the byte offset and what was
//! expected there.

use core::fmt;

/// A JSON syntax error: the byte offset in the header and what the reader
/// expected there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JsonError {
    pub offset: usize,
    pub expected: &'static str,
}

/// A JSON string as it appears in the header (between the quotes, escapes
/// not yet decoded). Compare it with [`JsonStr::eq_str`]; print it with
/// `Display` (decoded) or `Debug` (quoted).
///
/// ```
/// use constnet::io::SafeTensorsView;
/// // A header whose only tensor name is written with an escape: "a\u002eb" is "a.b".
/// let header = br#"{"a\u002eb":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
/// let mut file = (header.len() as u64).to_le_bytes().to_vec();
/// file.extend_from_slice(header);
/// file.extend_from_slice(&1.5f32.to_le_bytes());
/// let st = SafeTensorsView::parse(&file).unwrap();
/// let t = st.tensors().next().unwrap();
/// assert!(t.name.eq_str("a.b"));
/// assert_eq!(t.name.as_str(), None); // escaped: no borrowed &str
/// assert_eq!(format!("{}", t.name), "a.b");
/// ```
#[derive(Clone, Copy)]
pub struct JsonStr<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> JsonStr<'a> {
    /// A string with no escapes.
    pub(crate) const fn from_static(raw: &'static str) -> JsonStr<'static> {
        JsonStr { raw, escaped: false }
    }

    /// The string as a borrowed `&str`, if it contains no escape sequence.
    pub fn as_str(&self) -> Option<&'a str> {
        if self.escaped { None } else { Some(self.raw) }
    }

    /// The decoded characters.
    pub fn chars(&self) -> JsonChars<'a> {
        JsonChars { rest: self.raw }
    }

    /// Whether the decoded string equals `s`.
    pub fn eq_str(&self, s: &str) -> bool {
        match self.as_str() {
            Some(raw) => raw == s,
            None => self.chars().eq(s.chars()),
        }
    }

    /// Whether the decoded string equals the concatenation of `parts`
    /// (e.g. `["conv1", ".", "weight"]`), without building it.
    pub fn eq_parts(&self, parts: &[&str]) -> bool {
        match self.as_str() {
            Some(raw) => {
                let mut rest = raw;
                for p in parts {
                    match rest.strip_prefix(p) {
                        Some(r) => rest = r,
                        None => return false,
                    }
                }
                rest.is_empty()
            }
            None => self.chars().eq(parts.iter().flat_map(|p| p.chars())),
        }
    }
}

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.as_str() {
            return f.write_str(s);
        }
        self.chars().try_for_each(|c| fmt::Write::write_char(f, c))
    }
}

impl fmt::Debug for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        self.chars().try_for_each(|c| c.escape_debug().try_for_each(|e| fmt::Write::write_char(f, e)))?;
        f.write_str("\"")
    }
}

impl PartialEq<str> for JsonStr<'_> {
    fn eq(&self, other: &str) -> bool {
        self.eq_str(other)
    }
}

impl PartialEq<&str> for JsonStr<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.eq_str(other)
    }
}

/// The decoded characters of a [`JsonStr`] (escapes resolved).
#[derive(Clone)]
pub struct JsonChars<'a> {
    rest: &'a str,
}

impl Iterator for JsonChars<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let mut it = self.rest.chars();
        let c = it.next()?;
        if c != '\\' {
            self.rest = it.as_str();
            return Some(c);
        }
        // The string was validated when it was read, so every escape here
        // is well formed; should one not be, it decodes to U+FFFD rather
        // than panicking.
        let e = it.next().unwrap_or('\u{fffd}');
        let out = match e {
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let s = it.as_str();
                let hi = s.get(..4).and_then(|h| u32::from_str_radix(h, 16).ok()).unwrap_or(0xfffd);
                let mut rest = s.get(4..).unwrap_or("");
                let code = if (0xd800..0xdc00).contains(&hi) {
                    let lo = rest
                        .strip_prefix("\\u")
                        .and_then(|r| r.get(..4))
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .unwrap_or(0xfffd);
                    rest = rest.get(6..).unwrap_or("");
                    0x10000 + ((hi - 0xd800) << 10) + (lo.wrapping_sub(0xdc00) & 0x3ff)
                } else {
                    hi
                };
                self.rest = rest;
                return Some(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            other => other, // '"', '\\', '/'
        };
        self.rest = it.as_str();
        Some(out)
    }
}

/// A position in a header being read.
pub(crate) struct Cursor<'a> {
    s: &'a str,
    pos: usize,
    /// Added to positions in errors (the header's offset in the file).
    base: usize,
    /// Set once the object being read has been closed.
    done: bool,
}

impl<'a> Cursor<'a> {
    pub fn new(s: &'a str, base: usize) -> Self {
        Cursor { s, pos: 0, base, done: false }
    }

    /// The file offset of position 0.
    pub fn base_offset(&self) -> usize {
        self.base
    }

    /// Moves `n` bytes forward (past text another cursor has read).
    pub fn advance(&mut self, n: usize) {
        self.pos += n;
    }

    /// Marks the object being read as closed.
    pub fn done(&mut self) {
        self.done = true;
    }

    /// Whether [`Cursor::done`] was called.
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn err(&self, expected: &'static str) -> JsonError {
        JsonError { offset: self.base + self.pos, expected }
    }

    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    /// Skips JSON whitespace and returns the next byte, if any.
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
        self.bytes().get(self.pos).copied()
    }

    /// Consumes `b` if it is the next byte after whitespace.
    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, b: u8, expected: &'static str) -> Result<(), JsonError> {
        if self.eat(b) { Ok(()) } else { Err(self.err(expected)) }
    }

    /// Whether only whitespace remains.
    pub fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// Reads a string, validating its escapes.
    pub fn string(&mut self, expected: &'static str) -> Result<JsonStr<'a>, JsonError> {
        if self.peek() != Some(b'"') {
            return Err(self.err(expected));
        }
        self.pos += 1;
        let start = self.pos;
        let b = self.bytes();
        let mut escaped = false;
        loop {
            let Some(&c) = b.get(self.pos) else {
                return Err(self.err("a closing '\"' before the end of the header"));
            };
            match c {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.pos += 1;
                    match b.get(self.pos) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 1,
                        Some(b'u') => {
                            self.pos += 1;
                            let hi = self.hex4()?;
                            if (0xdc00..0xe000).contains(&hi) {
                                return Err(self.err("no lone low surrogate (\\uDC00-\\uDFFF) in a string"));
                            }
                            if (0xd800..0xdc00).contains(&hi) {
                                if b.get(self.pos) != Some(&b'\\') || b.get(self.pos + 1) != Some(&b'u') {
                                    return Err(self.err("a low surrogate \\uDC00-\\uDFFF after a high surrogate"));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.err("a low surrogate \\uDC00-\\uDFFF after a high surrogate"));
                                }
                            }
                        }
                        _ => return Err(self.err("a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")),
                    }
                }
                0..=0x1f => return Err(self.err("no control character (U+0000-U+001F) inside a string")),
                _ => self.pos += 1,
            }
        }
        let raw = &self.s[start..self.pos];
        self.pos += 1; // the closing quote
        Ok(JsonStr { raw, escaped })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0;
        for _ in 0..4 {
            let d = match self.bytes().get(self.pos) {
                Some(&c @ b'0'..=b'9') => c - b'0',
                Some(&c @ b'a'..=b'f') => c - b'a' + 10,
                Some(&c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err("four hex digits after \\u")),
            };
            v = v * 16 + d as u32;
            self.pos += 1;
        }
        Ok(v)
    }

    /// Reads a non-negative integer that fits in a `u64`.
    pub fn uint(&mut self) -> Result<u64, JsonError> {
        let first = self.peek();
        if !matches!(first, Some(b'0'..=b'9')) {
            return Err(self.err("a non-negative integer"));
        }
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(&c @ b'0'..=b'9') = self.bytes().get(self.pos) {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add((c - b'0') as u64))
                .ok_or_else(|| self.err("an integer below 2^64"))?;
            self.pos += 1;
        }
        if first == Some(b'0') && self.pos - start > 1 {
            self.pos = start;
            return Err(self.err("an integer without leading zeros"));
        }
        if let Some(b'.' | b'e' | b'E') = self.bytes().get(self.pos) {
            return Err(self.err("an integer (no fraction or exponent)"));
        }
        Ok(v)
    }

    /// The raw text from byte `start` to the current position.
    pub fn since(&self, start: usize) -> &'a str {
        &self.s[start..self.pos]
    }

    pub fn pos(&self) -> usize {
        self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Result<JsonStr<'_>, JsonError> {
        Cursor::new(s, 0).string("a string")
    }

    #[test]
    fn strings_decode_escapes() {
        let s = read(r#""a\"b\\c\/d\n\u0041\ud83d\ude00""#).unwrap();
        assert!(s.eq_str("a\"b\\c/d\nA\u{1f600}"), "{s:?}");
        assert_eq!(s.as_str(), None);
        assert_eq!(read(r#""plain""#).unwrap().as_str(), Some("plain"));
        assert!(read(r#""x.y""#).unwrap().eq_parts(&["x", ".", "y"]));
        assert!(!read(r#""x.yz""#).unwrap().eq_parts(&["x", ".", "y"]));
        assert!(read(r#""x\u002ey""#).unwrap().eq_parts(&["x", ".", "y"]));
    }

    #[test]
    fn bad_strings_are_errors() {
        for bad in
            [r#""abc"#, r#""\x""#, r#""\u12""#, r#""\ud800""#, r#""\udc00""#, r#""\ud800\u0041""#, "\"a\u{1}\"", "abc"]
        {
            assert!(read(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn integers_are_strict() {
        let n = |s: &str| Cursor::new(s, 0).uint();
        assert_eq!(n("0"), Ok(0));
        assert_eq!(n(" 18446744073709551615"), Ok(u64::MAX));
        for bad in ["18446744073709551616", "-1", "01", "1.0", "1e3", "+1", ""] {
            assert!(n(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
