//! Message segment files: `msgs/<id>.seg`, each a sequence of framed message
//! records. A message record is written once, however many queues hold it.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::error::{Result, StoreError};
use crate::record::{self, Read};

/// A message as stored: where it was published, its content in its
/// protocol's own encoding, and the broker's annotations (opaque here).
///
/// Two record types exist. The current one marks the id's top bit and
/// carries the content format and the annotations; the original one (id
/// without the mark, raw AMQP 0-9-1 properties) still decodes, with
/// `format` [`LEGACY_FORMAT`] and no annotations, which the broker then
/// recomputes from the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Store-wide message id.
    pub id: u64,
    /// Exchange name.
    pub exchange: Bytes,
    /// Routing key.
    pub routing_key: Bytes,
    /// Which protocol's encoding `content` is in (the broker's format id).
    pub format: u8,
    /// The broker's encoded annotations; None for a record of the original
    /// type, written before annotations were stored.
    pub annotations: Option<Bytes>,
    /// The content in its protocol's encoding (for AMQP 0-9-1 the raw basic
    /// properties).
    pub content: Bytes,
    /// Body.
    pub body: Bytes,
}

/// The format id records of the original type are in (AMQP 0-9-1).
pub const LEGACY_FORMAT: u8 = 1;

/// Set in a record's id to mark the record type with format and annotations.
const ANNOTATED: u64 = 1 << 63;

impl StoredMessage {
    /// Appends the framed record for this message to `out`; returns its length.
    /// A message without annotations is written as a record of the original
    /// type.
    pub fn encode(&self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        let ex_len = [self.exchange.len().min(255) as u8];
        let rk_len = [self.routing_key.len().min(255) as u8];
        let content_len = (self.content.len() as u32).to_le_bytes();
        let annotated = self.annotations.is_some();
        let id = if annotated {
            self.id | ANNOTATED
        } else {
            self.id
        }
        .to_le_bytes();
        let ann: &[u8] = self.annotations.as_deref().unwrap_or_default();
        let format_and_len = [&[self.format][..], &(ann.len() as u32).to_le_bytes()].concat();
        let format_and_len: &[u8] = if annotated { &format_and_len } else { &[] };
        record::encode(
            out,
            &[
                &id,
                format_and_len,
                ann,
                &ex_len,
                &self.exchange[..ex_len[0] as usize],
                &rk_len,
                &self.routing_key[..rk_len[0] as usize],
                &content_len,
                &self.content,
                &self.body,
            ],
        );
        out.len() - start
    }

    /// The framed size [`StoredMessage::encode`] will produce.
    pub fn encoded_len(&self) -> usize {
        let annotations = self.annotations.as_ref().map_or(0, |a| 1 + 4 + a.len());
        record::framed_len(
            8 + annotations
                + 1
                + self.exchange.len().min(255)
                + 1
                + self.routing_key.len().min(255)
                + 4
                + self.content.len()
                + self.body.len(),
        )
    }

    /// Decodes a message record's payload (either record type).
    pub fn decode(payload: &[u8]) -> Option<StoredMessage> {
        let bytes = Bytes::copy_from_slice(payload);
        let marked = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
        let mut pos = 8;
        let (format, annotations) = if marked & ANNOTATED != 0 {
            let format = *payload.get(pos)?;
            let len = u32::from_le_bytes(payload.get(pos + 1..pos + 5)?.try_into().ok()?) as usize;
            let start = pos + 5;
            payload.get(start..start.checked_add(len)?)?;
            pos = start + len;
            (format, Some(bytes.slice(start..start + len)))
        } else {
            (LEGACY_FORMAT, None)
        };
        let mut short_str = || {
            let len = *payload.get(pos)? as usize;
            let start = pos + 1;
            payload.get(start..start + len)?;
            pos = start + len;
            Some(bytes.slice(start..start + len))
        };
        let exchange = short_str()?;
        let routing_key = short_str()?;
        let content_len = u32::from_le_bytes(payload.get(pos..pos + 4)?.try_into().ok()?) as usize;
        let start = pos + 4;
        payload.get(start..start.checked_add(content_len)?)?;
        Some(StoredMessage {
            id: marked & !ANNOTATED,
            exchange,
            routing_key,
            format,
            annotations,
            content: bytes.slice(start..start + content_len),
            body: bytes.slice(start + content_len..),
        })
    }
}

/// Path of segment `id` in `dir`.
pub fn segment_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:010}.seg"))
}

/// Segment ids present in `dir`, ascending.
pub fn list_segments(dir: &Path) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name
            .strip_suffix(".seg")
            .and_then(|n| n.parse::<u32>().ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Read access to segments, with open file handles cached.
pub struct SegmentReader {
    dir: PathBuf,
    files: Mutex<HashMap<u32, Arc<File>>>,
}

impl SegmentReader {
    /// A reader for the segments in `dir`.
    pub fn new(dir: &Path) -> Self {
        SegmentReader {
            dir: dir.to_path_buf(),
            files: Mutex::new(HashMap::new()),
        }
    }

    fn file(&self, segment: u32) -> Result<Arc<File>> {
        if let Some(f) = self.files.lock().get(&segment) {
            return Ok(f.clone());
        }
        let path = segment_path(&self.dir, segment);
        let file = Arc::new(File::open(&path).map_err(|e| StoreError::io(&path, e))?);
        let mut files = self.files.lock();
        if files.len() > 64 {
            files.clear();
        }
        files.insert(segment, file.clone());
        Ok(file)
    }

    /// Forgets a deleted segment's handle.
    pub fn forget(&self, segment: u32) {
        self.files.lock().remove(&segment);
    }

    /// Reads and checks the message record at (segment, offset, len).
    pub fn read(&self, segment: u32, offset: u32, len: u32) -> Result<StoredMessage> {
        let path = segment_path(&self.dir, segment);
        let corrupt = |reason: &str| StoreError::Corrupt {
            path: path.clone(),
            offset: offset as u64,
            reason: reason.into(),
        };
        let file = self.file(segment)?;
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, offset as u64)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    corrupt("record extends past the end of the segment")
                }
                _ => StoreError::io(&path, e),
            })?;
        match record::read_at(&buf, 0) {
            Some(Read::Record(payload, end)) if end == buf.len() => {
                StoredMessage::decode(payload).ok_or_else(|| corrupt("undecodable message record"))
            }
            Some(Read::Corrupt(_)) => Err(corrupt("checksum mismatch")),
            _ => Err(corrupt("record length does not match the index")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(annotations: Option<Bytes>) -> StoredMessage {
        StoredMessage {
            id: 42,
            exchange: Bytes::from_static(b"ex"),
            routing_key: Bytes::from_static(b"rk.1"),
            format: if annotations.is_some() {
                7
            } else {
                LEGACY_FORMAT
            },
            annotations,
            content: Bytes::from_static(&[0x10, 0, 2]),
            body: Bytes::from(vec![7u8; 1000]),
        }
    }

    #[test]
    fn message_record_round_trip() {
        for m in [sample(None), sample(Some(Bytes::from_static(b"\x01ann")))] {
            let mut buf = Vec::new();
            let n = m.encode(&mut buf);
            assert_eq!(n, m.encoded_len());
            let Some(Read::Record(payload, _)) = record::read_at(&buf, 0) else {
                panic!()
            };
            assert_eq!(StoredMessage::decode(payload), Some(m));
            assert_eq!(StoredMessage::decode(&payload[..10]), None);
        }
    }

    #[test]
    fn original_record_type_still_decodes() {
        // Written by hand in the original layout: id, exchange, routing key,
        // properties length, properties, body.
        let mut payload = 42u64.to_le_bytes().to_vec();
        payload.extend_from_slice(b"\x02ex\x04rk.1");
        payload.extend_from_slice(&3u32.to_le_bytes());
        payload.extend_from_slice(&[0x10, 0, 2]);
        payload.extend_from_slice(&[7u8; 1000]);
        assert_eq!(StoredMessage::decode(&payload), Some(sample(None)));
    }
}
