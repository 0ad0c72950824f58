//! A guard against hostile nesting: amq-protocol parses field tables and
//! arrays recursively, so a frame of nested tables could exhaust the stack.
//! Before a table is handed to it, [`check_table`] walks it with a bounded
//! depth and without building anything.

use crate::error::CodecError;

/// Deepest nesting of tables and arrays accepted inside a field table (the
/// table itself is depth 1). Real clients use two or three levels.
pub const MAX_TABLE_DEPTH: usize = 64;

/// Checks the nesting of the length-prefixed field table at the start of
/// `buf`. Malformed bytes are left for the real parser to reject: only depth
/// is reported here.
pub fn check_table(buf: &[u8]) -> Result<(), CodecError> {
    match container(buf, 1, true) {
        Err(Deep) => Err(CodecError::TableTooDeep(MAX_TABLE_DEPTH)),
        Ok(_) => Ok(()),
    }
}

struct Deep;

/// Walks a table (keys and values) or an array (values) starting with its
/// length; returns the bytes it spans (or None if malformed).
fn container(buf: &[u8], depth: usize, table: bool) -> Result<Option<usize>, Deep> {
    if depth > MAX_TABLE_DEPTH {
        return Err(Deep);
    }
    let Some(len) = long(buf, 0) else {
        return Ok(None);
    };
    let Some(body) = buf.get(4..4 + len) else {
        return Ok(None);
    };
    let mut pos = 0;
    while pos < body.len() {
        if table {
            let Some(&key_len) = body.get(pos) else {
                return Ok(None);
            };
            pos += 1 + key_len as usize;
        }
        let Some(&kind) = body.get(pos) else {
            return Ok(None);
        };
        let Some(size) = value(kind, body.get(pos + 1..).unwrap_or(&[]), depth)? else {
            return Ok(None);
        };
        pos += 1 + size;
    }
    Ok(Some(4 + len))
}

/// Size of a value of type `kind` at the start of `rest` (None: malformed or unknown).
fn value(kind: u8, rest: &[u8], depth: usize) -> Result<Option<usize>, Deep> {
    Ok(match kind {
        b't' | b'b' | b'B' => Some(1),
        b's' | b'U' | b'u' => Some(2),
        b'I' | b'i' | b'f' => Some(4),
        b'L' | b'l' | b'd' | b'T' => Some(8),
        b'D' => Some(5),
        b'V' => Some(0),
        b'S' | b'x' => long(rest, 0).map(|n| 4 + n),
        b'F' => container(rest, depth + 1, true)?,
        b'A' => container(rest, depth + 1, false)?,
        _ => None,
    })
}

/// Size of a value of type `kind` at the start of `rest` (None if malformed,
/// unknown or nested deeper than [`MAX_TABLE_DEPTH`]).
pub(crate) fn value_len(kind: u8, rest: &[u8]) -> Option<usize> {
    value(kind, rest, 1).ok().flatten()
}

fn long(buf: &[u8], at: usize) -> Option<usize> {
    let b = buf.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// What precedes the field table in every method that carries one (the
/// methods a peer may send, whichever side they belong to), so its start can be
/// found without parsing the rest.
enum Skip {
    /// A fixed number of octets.
    Octets(usize),
    /// A short string.
    ShortStr,
}

fn table_offset(class_id: u16, method_id: u16) -> Option<&'static [Skip]> {
    use Skip::*;
    Some(match (class_id, method_id) {
        // connection.start is the server's, but a client may send it anyway and
        // it is decoded before anyone looks at who sent it.
        (10, 10) => &[Octets(2)],
        (10, 11) => &[],
        (40, 10) => &[Octets(2), ShortStr, ShortStr, Octets(1)],
        (40, 30) | (40, 40) | (50, 20) => &[Octets(2), ShortStr, ShortStr, ShortStr, Octets(1)],
        (50, 10) => &[Octets(2), ShortStr, Octets(1)],
        (50, 50) => &[Octets(2), ShortStr, ShortStr, ShortStr],
        (60, 20) => &[Octets(2), ShortStr, ShortStr, Octets(1)],
        _ => return None,
    })
}

/// Checks the nesting of the field table in a method's arguments (`args`
/// follows the class and method ids), if the method carries one.
pub fn check_method(class_id: u16, method_id: u16, args: &[u8]) -> Result<(), CodecError> {
    let Some(skips) = table_offset(class_id, method_id) else {
        return Ok(());
    };
    let mut pos = 0;
    for skip in skips {
        pos += match skip {
            Skip::Octets(n) => *n,
            Skip::ShortStr => 1 + *args.get(pos).unwrap_or(&0) as usize,
        };
    }
    match args.get(pos..) {
        Some(table) => check_table(table),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table nesting `depth` tables: {"a": {"a": ... {}}}.
    pub(crate) fn nested(depth: usize) -> Vec<u8> {
        let mut inner: Vec<u8> = 0u32.to_be_bytes().to_vec();
        for _ in 1..depth {
            let mut t = Vec::with_capacity(inner.len() + 7);
            t.extend_from_slice(&((inner.len() + 3) as u32).to_be_bytes());
            t.extend_from_slice(&[1, b'a', b'F']);
            t.extend_from_slice(&inner);
            inner = t;
        }
        inner
    }

    #[test]
    fn depth_up_to_the_limit_passes_and_beyond_fails() {
        assert!(check_table(&nested(MAX_TABLE_DEPTH)).is_ok());
        assert_eq!(
            check_table(&nested(MAX_TABLE_DEPTH + 1)),
            Err(CodecError::TableTooDeep(MAX_TABLE_DEPTH))
        );
        assert!(check_table(&nested(100_000)).is_err());
    }

    #[test]
    fn arrays_count_as_nesting_and_garbage_is_left_to_the_parser() {
        let mut arr: Vec<u8> = 0u32.to_be_bytes().to_vec();
        for _ in 0..MAX_TABLE_DEPTH + 1 {
            let mut a = ((arr.len() + 1) as u32).to_be_bytes().to_vec();
            a.push(b'A');
            a.extend_from_slice(&arr);
            arr = a;
        }
        let mut table = ((arr.len() + 3) as u32).to_be_bytes().to_vec();
        table.extend_from_slice(&[1, b'k', b'A']);
        table.extend_from_slice(&arr);
        assert!(check_table(&table).is_err());
        assert!(check_table(&[0, 0, 0, 9, 1]).is_ok());
        assert!(check_table(&[]).is_ok());
    }
}
