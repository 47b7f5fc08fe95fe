//! A bounded cursor over received bytes.
//!
//! Every read is checked against the remaining length and returns `None` instead of slicing
//! past the end, so no length field taken from the wire can make the decoder read out of
//! bounds or panic. The cursor remembers its absolute offset in the message so that errors
//! can name the byte where they were found.

/// Read-only cursor over a byte slice with an absolute base offset.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, whose first byte sits at absolute offset `base`.
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// Absolute offset of the next byte to be read.
    pub(crate) fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub(crate) fn peek_rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Takes `n` bytes, or `None` if fewer remain.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    /// Takes all remaining bytes.
    pub(crate) fn take_rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// Splits off the next `n` bytes as a child reader that keeps absolute offsets.
    pub(crate) fn sub(&mut self, n: usize) -> Option<Reader<'a>> {
        let base = self.offset();
        let bytes = self.take(n)?;
        Some(Reader::new(bytes, base))
    }

    /// Takes a fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Some(out)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array::<2>().map(u16::from_be_bytes)
    }

    pub(crate) fn u24(&mut self) -> Option<u32> {
        let [a, b, c] = self.array::<3>()?;
        Some(u32::from_be_bytes([0, a, b, c]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array::<4>().map(u32::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded_and_offsets_absolute() {
        let data = [1u8, 2, 3, 4, 5];
        let mut r = Reader::new(&data, 100);
        assert_eq!(r.u8(), Some(1));
        assert_eq!(r.offset(), 101);
        let mut child = r.sub(2).unwrap();
        assert_eq!(child.offset(), 101);
        assert_eq!(child.u16(), Some(0x0203));
        assert_eq!(child.u8(), None);
        assert_eq!(r.take(3), None, "must not read past the end");
        assert_eq!(r.take(usize::MAX), None, "overflowing lengths are refused");
        assert_eq!(r.u16(), Some(0x0405));
        assert!(r.is_empty());
    }
}
