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

/// A message as stored: where it was published and its raw content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Store-wide message id.
    pub id: u64,
    /// Exchange name.
    pub exchange: Bytes,
    /// Routing key.
    pub routing_key: Bytes,
    /// Raw AMQP basic properties.
    pub properties: Bytes,
    /// Body.
    pub body: Bytes,
}

impl StoredMessage {
    /// Appends the framed record for this message to `out`; returns its length.
    pub fn encode(&self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        let id = self.id.to_le_bytes();
        let ex_len = [self.exchange.len().min(255) as u8];
        let rk_len = [self.routing_key.len().min(255) as u8];
        let props_len = (self.properties.len() as u32).to_le_bytes();
        record::encode(
            out,
            &[
                &id,
                &ex_len,
                &self.exchange[..ex_len[0] as usize],
                &rk_len,
                &self.routing_key[..rk_len[0] as usize],
                &props_len,
                &self.properties,
                &self.body,
            ],
        );
        out.len() - start
    }

    /// The framed size [`StoredMessage::encode`] will produce.
    pub fn encoded_len(&self) -> usize {
        record::framed_len(
            8 + 1
                + self.exchange.len().min(255)
                + 1
                + self.routing_key.len().min(255)
                + 4
                + self.properties.len()
                + self.body.len(),
        )
    }

    /// Decodes a message record's payload.
    pub fn decode(payload: &[u8]) -> Option<StoredMessage> {
        let bytes = Bytes::copy_from_slice(payload);
        let id = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
        let mut pos = 8;
        let mut short_str = || {
            let len = *payload.get(pos)? as usize;
            let start = pos + 1;
            payload.get(start..start + len)?;
            pos = start + len;
            Some(bytes.slice(start..start + len))
        };
        let exchange = short_str()?;
        let routing_key = short_str()?;
        let props_len = u32::from_le_bytes(payload.get(pos..pos + 4)?.try_into().ok()?) as usize;
        let start = pos + 4;
        payload.get(start..start + props_len)?;
        Some(StoredMessage {
            id,
            exchange,
            routing_key,
            properties: bytes.slice(start..start + props_len),
            body: bytes.slice(start + props_len..),
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

    #[test]
    fn message_record_round_trip() {
        let m = StoredMessage {
            id: 42,
            exchange: Bytes::from_static(b"ex"),
            routing_key: Bytes::from_static(b"rk.1"),
            properties: Bytes::from_static(&[0x10, 0, 2]),
            body: Bytes::from(vec![7u8; 1000]),
        };
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
