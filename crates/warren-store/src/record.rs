//! Record framing shared by segment and index files: a little-endian u32 length
//! of the payload, a CRC32 of the payload, then the payload.

/// Bytes before each payload.
pub const HEADER: usize = 8;

/// Appends one framed record to `out`.
pub fn encode(out: &mut Vec<u8>, payload_parts: &[&[u8]]) {
    let len: usize = payload_parts.iter().map(|p| p.len()).sum();
    let mut crc = crc32fast::Hasher::new();
    for part in payload_parts {
        crc.update(part);
    }
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    for part in payload_parts {
        out.extend_from_slice(part);
    }
}

/// The framed size of a payload of `len` bytes.
pub fn framed_len(len: usize) -> usize {
    HEADER + len
}

/// What reading one record found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read<'a> {
    /// A valid record: its payload and the offset of the next record.
    Record(&'a [u8], usize),
    /// The bytes end inside a record: a torn write at the tail.
    Torn,
    /// The record is complete but its CRC does not match; the next record
    /// would start at the given offset if the length is to be trusted.
    Corrupt(usize),
}

/// Reads the record starting at `offset` in `data`. `None` at the end of data.
pub fn read_at(data: &[u8], offset: usize) -> Option<Read<'_>> {
    if offset >= data.len() {
        return None;
    }
    let Some(header) = data.get(offset..offset + HEADER) else {
        return Some(Read::Torn);
    };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let start = offset + HEADER;
    let Some(payload) = data.get(start..start + len) else {
        return Some(Read::Torn);
    };
    if crc32fast::hash(payload) != crc {
        return Some(Read::Corrupt(start + len));
    }
    Some(Read::Record(payload, start + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_torn_and_corrupt() {
        let mut buf = Vec::new();
        encode(&mut buf, &[b"hello", b" world"]);
        encode(&mut buf, &[b"second"]);
        let Some(Read::Record(p, next)) = read_at(&buf, 0) else {
            panic!()
        };
        assert_eq!(p, b"hello world");
        let Some(Read::Record(p2, end)) = read_at(&buf, next) else {
            panic!()
        };
        assert_eq!(p2, b"second");
        assert_eq!(read_at(&buf, end), None);
        assert_eq!(read_at(&buf[..buf.len() - 1], next), Some(Read::Torn));
        assert_eq!(read_at(&buf[..next + 3], next), Some(Read::Torn));
        let mut flipped = buf.clone();
        flipped[HEADER + 2] ^= 0xFF;
        assert_eq!(read_at(&flipped, 0), Some(Read::Corrupt(next)));
    }
}
