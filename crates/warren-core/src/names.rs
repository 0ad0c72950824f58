//! The 255-byte limit on names. AMQP 0-9-1 carries queue, exchange and vhost
//! names, consumer tags, routing keys and field-table keys as short strings
//! (one length octet), so a longer name could never be declared, addressed or
//! delivered over AMQP. Every entry point that does not go through the AMQP
//! codec (the HTTP API, definitions import, a definitions file loaded at
//! start) is checked here, in the core, before anything is created.

/// The longest name, in bytes (UTF-8), that AMQP can carry.
pub const MAX_NAME_BYTES: usize = 255;

/// A name longer than [`MAX_NAME_BYTES`]. The text follows RabbitMQ's
/// management API answer for a long queue name ("queue should be less than
/// 255 bytes, actually was 256").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} should be less than {MAX_NAME_BYTES} bytes, actually was {len}")]
pub struct NameTooLong {
    /// What was named: "queue", "exchange", "vhost", "user", "routing key".
    pub kind: &'static str,
    /// The name's length in bytes.
    pub len: usize,
}

/// Checks that `name` (a `kind`) fits in an AMQP short string.
pub fn check_name(kind: &'static str, name: &str) -> Result<(), NameTooLong> {
    if name.len() > MAX_NAME_BYTES {
        return Err(NameTooLong {
            kind,
            len: name.len(),
        });
    }
    Ok(())
}

/// A name too long for AMQP is a precondition failure (406) of the operation
/// that tried to create or use it. Over AMQP itself it cannot happen (the
/// codec's short strings are at most 255 bytes); the HTTP API answers 400.
impl From<NameTooLong> for crate::BrokerError {
    fn from(e: NameTooLong) -> Self {
        crate::BrokerError::PreconditionFailed(e.to_string())
    }
}

/// The first few characters of a long `text`, for error messages that must
/// stay readable (and short) while naming the offender.
pub fn preview(text: &str) -> String {
    const CHARS: usize = 32;
    match text.char_indices().nth(CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_up_to_255_bytes_pass() {
        assert!(check_name("queue", "").is_ok());
        assert!(check_name("queue", &"a".repeat(255)).is_ok());
        // 127 two-byte characters and one byte: 255 bytes.
        assert!(check_name("queue", &format!("a{}", "é".repeat(127))).is_ok());
        let e = check_name("queue", &"é".repeat(128)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "queue should be less than 255 bytes, actually was 256"
        );
        assert_eq!(crate::BrokerError::from(e).reply_code(), 406);
    }

    #[test]
    fn previews_cut_on_characters() {
        assert_eq!(preview("short"), "short");
        let long = "é".repeat(40);
        assert_eq!(preview(&long), format!("{}...", "é".repeat(32)));
    }
}
