//! A callback slot for "something changed": the user database and the policy
//! registry fire it after every change, and the broker's persistence installs
//! the callback that saves them. A leaf: it knows neither side.

use std::sync::OnceLock;

/// A callback run after a definition changes, so it can be persisted.
#[derive(Default)]
pub struct ChangeHook(OnceLock<Box<dyn Fn() + Send + Sync>>);

impl ChangeHook {
    /// Installs the callback (only the first call has an effect).
    pub fn set(&self, f: impl Fn() + Send + Sync + 'static) {
        let _ = self.0.set(Box::new(f));
    }

    /// Runs the callback, if any.
    pub fn fire(&self) {
        if let Some(f) = self.0.get() {
            f();
        }
    }
}
