//! Storage errors.

use std::path::PathBuf;

/// A failure of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An operating-system I/O error on a file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Another broker holds the data directory.
    #[error("data directory {0} is in use by another Warren process (lock file held)")]
    Locked(PathBuf),
    /// The definitions database failed.
    #[error("definitions store: {0}")]
    Definitions(String),
    /// A stored record could not be decoded.
    #[error("corrupt record in {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the record.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// No message record at this place: never written, or freed since.
    #[error("no message record in segment {segment} at offset {offset}")]
    NoRecord {
        /// Segment id.
        segment: u32,
        /// Byte offset.
        offset: u32,
    },
}

impl StoreError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, StoreError>;
