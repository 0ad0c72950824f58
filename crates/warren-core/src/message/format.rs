//! Content formats: how each protocol adapter tells the core about the
//! encoding of the content it stored in a [`super::Message`], and a
//! process-wide registry of them (RabbitMQ's `mc` protocol modules).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use bytes::Bytes;

use super::{Annotations, Content, FormatId};
use crate::value::Table;

/// A protocol's content encoding, implemented by its adapter.
pub trait ContentFormat: Send + Sync {
    /// The format's id, as stored in [`Content::format`].
    fn id(&self) -> FormatId;

    /// The application headers in `content`, for headers-exchange routing.
    fn headers(&self, content: &Bytes) -> Option<Table>;

    /// The annotations of `content` as the adapter computes them at ingress
    /// (used to recover store records written before annotations were
    /// stored).
    fn annotate(&self, content: &Bytes) -> Annotations;

    /// The content as delivered: `content` itself when `ann` changes nothing,
    /// else with the death history and removals applied.
    fn render(&self, content: &Bytes, ann: &Annotations) -> Bytes;
}

/// The registered formats, by id.
static FORMATS: [OnceLock<&'static dyn ContentFormat>; 256] = [const { OnceLock::new() }; 256];

/// Whether a missing format was already reported, by id.
static WARNED: [AtomicBool; 256] = [const { AtomicBool::new(false) }; 256];

/// Registers a content format; registering the same id again is a no-op.
pub fn register_format(format: &'static dyn ContentFormat) {
    let id = usize::from(format.id().0);
    if FORMATS[id].set(format).is_err() {
        tracing::debug!("content format {id} already registered");
    }
}

/// The registered format with `id`; a missing one is reported once.
pub fn content_format(id: FormatId) -> Option<&'static dyn ContentFormat> {
    let found = FORMATS[usize::from(id.0)].get().copied();
    if found.is_none() && !WARNED[usize::from(id.0)].swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "content format {} is not registered: its messages are routed and \
             delivered without headers or annotations from their content",
            id.0
        );
    }
    found
}

impl Content {
    /// The content as delivered with `ann` applied (the content itself when
    /// its format is not registered).
    pub fn render(&self, ann: &Annotations) -> Bytes {
        if !ann.changes_content() {
            return self.bytes.clone();
        }
        match content_format(self.format) {
            Some(format) => format.render(&self.bytes, ann),
            None => self.bytes.clone(),
        }
    }

    /// The application headers as delivered with `ann` applied.
    pub fn headers(&self, ann: &Annotations) -> Option<Table> {
        let format = content_format(self.format)?;
        if ann.changes_content() {
            format.headers(&format.render(&self.bytes, ann))
        } else {
            format.headers(&self.bytes)
        }
    }

    /// The annotations recomputed from the content (empty when its format is
    /// not registered).
    pub fn annotate(&self) -> Annotations {
        content_format(self.format)
            .map(|f| f.annotate(&self.bytes))
            .unwrap_or_default()
    }
}
