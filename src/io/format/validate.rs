//! The whole-header check of [`SafeTensorsView`]: no two tensors share a
//! name or overlap, no metadata key appears twice, in O(H + n log n)
//! comparisons with scratch the caller gives.

use super::*;

impl<'a> SafeTensorsView<'a> {
    /// [`Self::validate_all_in`] with scratch it allocates (16 bytes a
    /// tensor or a metadata key, whichever are more): checks that no two tensors share a name or overlap and no
    /// metadata key appears twice.
    ///
    /// ```
    /// use constnet::io::{FormatError, SafeTensorsView};
    /// let header = br#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    /// let mut file = (header.len() as u64).to_le_bytes().to_vec();
    /// file.extend_from_slice(header);
    /// file.extend_from_slice(&[0; 8]);
    /// let st = SafeTensorsView::parse(&file).unwrap(); // one pass cannot see the duplicate
    /// let err = st.validate_all().unwrap_err();
    /// assert!(matches!(err, FormatError::DuplicateKey { key } if key == "w"), "{err}");
    /// ```
    ///
    /// # Errors
    /// As [`Self::validate_all_in`] (never [`FormatError::ScratchTooSmall`]).
    #[cfg(feature = "std")]
    pub fn validate_all(&self) -> Result<(), FormatError<'a>> {
        let mut scratch = std::vec![[0u64; 2]; self.tensors.max(self.metadata_keys)];
        self.validate_all_in(&mut scratch)
    }

    /// Checks what [`Self::parse`] leaves to lookups, for every entry: no
    /// two tensors share a name or overlap, no metadata key appears twice.
    /// Together with `parse`, this is the reference implementation's full
    /// validation. Nothing is allocated: `scratch` holds one slot per
    /// tensor, or per metadata key if there are more
    /// (`st.len().max(st.metadata_len())` slots).
    ///
    /// The tensor names are sorted in `scratch` and each compared with the
    /// next; then the byte ranges are sorted and swept in order; then the
    /// metadata keys as the names. Time is O(H + n log n) comparisons for a
    /// header of H bytes holding n entries (a comparison decodes two names,
    /// so names sharing long prefixes cost more): milliseconds for 1 MB, where comparing
    /// every pair took two minutes (docs/performance.md, "The header
    /// check"). Finding duplicates among n names in linear time takes
    /// memory for about n of them, so the caller gives it.
    ///
    /// ```
    /// use constnet::io::SafeTensorsView;
    /// // Two tensors on the same 4 bytes.
    /// let header = br#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"c":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}"#;
    /// let mut file = (header.len() as u64).to_le_bytes().to_vec();
    /// file.extend_from_slice(header);
    /// file.extend_from_slice(&[0; 12]);
    /// let st = SafeTensorsView::parse(&file).unwrap();
    /// let mut scratch = [[0u64; 2]; 3];
    /// let err = st.validate_all_in(&mut scratch).unwrap_err();
    /// assert_eq!(err.to_string(), r#"tensors "a" and "b" have overlapping data_offsets"#);
    /// assert!(st.validate_all_in(&mut scratch[..2]).is_err()); // too small: 3 tensors
    /// ```
    ///
    /// # Errors
    /// [`FormatError::ScratchTooSmall`] if `scratch` is too small;
    /// otherwise the first problem found: a [`FormatError::DuplicateKey`]
    /// among tensor names, a [`FormatError::Overlap`], or a
    /// [`FormatError::DuplicateKey`] among metadata keys, in that order.
    pub fn validate_all_in(&self, scratch: &mut [[u64; 2]]) -> Result<(), FormatError<'a>> {
        let needed = self.tensors.max(self.metadata_keys);
        if scratch.len() < needed {
            return Err(FormatError::ScratchTooSmall { needed, given: scratch.len() });
        }
        // Names: a slot holds the header position of a name's opening quote.
        let names = &mut scratch[..self.tensors];
        for (slot, pos) in names.iter_mut().zip(self.tensor_name_positions()) {
            *slot = [pos as u64, 0];
        }
        self.check_unique(names)?;

        // Byte ranges `[BEGIN, END]`, in order. A range conflicts with an
        // earlier one if and only if it conflicts with the earlier
        // non-empty range that reaches furthest (`reach`).
        let ranges = &mut scratch[..self.tensors];
        for (slot, t) in ranges.iter_mut().zip(self.tensors()) {
            *slot = [t.begin, t.end()];
        }
        ranges.sort_unstable();
        let mut reach: Option<[u64; 2]> = None;
        for &r in ranges.iter() {
            if let Some(w) = reach.filter(|&w| ranges_conflict(w, r))
                && let Some(e) = self.overlap_error(w, r)
            {
                return Err(e);
            }
            if r[0] < r[1] && reach.is_none_or(|w| r[1] > w[1]) {
                reach = Some(r);
            }
        }

        let keys = &mut scratch[..self.metadata_keys];
        for (slot, pos) in keys.iter_mut().zip(self.metadata_key_positions()) {
            *slot = [pos as u64, 0];
        }
        self.check_unique(keys)
    }

    /// Sorts `slots` (header positions of keys) by key and reports the
    /// first key equal to its neighbour (its later occurrence).
    fn check_unique(&self, slots: &mut [[u64; 2]]) -> Result<(), FormatError<'a>> {
        slots.sort_unstable_by(|a, b| self.key_at(a[0]).chars().cmp(self.key_at(b[0]).chars()));
        for w in slots.windows(2) {
            if self.key_at(w[0][0]).chars().eq(self.key_at(w[1][0]).chars()) {
                return Err(FormatError::DuplicateKey { key: self.key_at(w[0][0].max(w[1][0])) });
            }
        }
        Ok(())
    }

    /// The key (a JSON string) at header position `pos`, which `parse`
    /// has read, so reading it again cannot fail (if it did, the key would
    /// read as empty).
    fn key_at(&self, pos: u64) -> JsonStr<'a> {
        let pos = pos as usize;
        let header = self.header.get(pos..).unwrap_or("");
        Cursor::new(header, 8 + pos).string("a key").unwrap_or(JsonStr::from_static(""))
    }

    /// The header positions of the tensor names' opening quotes, in order.
    fn tensor_name_positions(&self) -> impl Iterator<Item = usize> + 'a {
        let st = *self;
        let mut cur = Cursor::new(self.header, 8);
        core::iter::from_fn(move || {
            loop {
                // Only whitespace and '{' or ',' come before the key.
                let before = cur.pos();
                match st.next_entry(&mut cur).ok()?? {
                    Entry::Tensor(_) => return Some(before + st.header[before..].find('"')?),
                    Entry::Metadata { .. } => continue,
                }
            }
        })
    }

    /// The header positions of the metadata keys' opening quotes, in order.
    fn metadata_key_positions(&self) -> impl Iterator<Item = usize> + 'a {
        let st = *self;
        let mut cur = Cursor::new(self.header, 8);
        let mut pairs: Option<(Cursor<'a>, usize)> = None;
        core::iter::from_fn(move || {
            loop {
                if let Some((p, start)) = &mut pairs {
                    let before = p.pos();
                    if st.next_pair(p).ok()?.is_some() {
                        return Some(*start + before + st.header[*start + before..].find('"')?);
                    }
                    pairs = None;
                }
                match st.next_entry(&mut cur).ok()?? {
                    Entry::Metadata { body, offset } => pairs = Some((Cursor::new(body, offset), offset - 8)),
                    Entry::Tensor(_) => continue,
                }
            }
        })
    }

    /// The overlap error for two conflicting ranges, naming the tensors
    /// that have them (two different tensors if the ranges are equal), the
    /// earlier in the header first. `None` if no such tensors exist, which
    /// cannot happen for ranges read from this file.
    fn overlap_error(&self, a: [u64; 2], b: [u64; 2]) -> Option<FormatError<'a>> {
        let range = |t: &TensorView<'_>| [t.begin, t.end()];
        let x = self.tensors().find(|t| range(t) == a)?;
        let y = self.tensors().find(|t| range(t) == b && t.shape.as_ptr() != x.shape.as_ptr())?;
        let (tensor, other) = if x.shape.as_ptr() < y.shape.as_ptr() { (x, y) } else { (y, x) };
        Some(FormatError::Overlap { tensor: tensor.name, other: other.name })
    }
}
