//! Short strings built by the broker. Reply texts often embed names a client
//! chose (a queue, a consumer tag, a mechanism, a vhost), so a text may be
//! longer than the 255 bytes a short string holds: [`reply_text`] truncates
//! it the way RabbitMQ does. Anything else goes through [`short_string`],
//! which refuses an oversized value instead of panicking.

use warren_codec::ShortString;
use warren_core::BrokerError;

/// The most bytes a short string holds.
const MAX: usize = 255;
/// What marks a truncated reply text.
const ELLIPSIS: &str = "...";

/// A reply text for connection.close, channel.close or connection.blocked:
/// the text itself when it fits, otherwise its first 252 bytes (cut back to
/// a character boundary) followed by "...", as RabbitMQ's
/// `rabbit_binary_generator` truncates explanations.
pub(crate) fn reply_text(text: &str) -> ShortString {
    if let Ok(short) = ShortString::try_new(text) {
        return short;
    }
    let mut cut = MAX - ELLIPSIS.len();
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let truncated = format!("{}{ELLIPSIS}", &text[..cut]);
    // At most 255 bytes by construction; the fallback cannot happen.
    ShortString::try_new(truncated).unwrap_or_default()
}

/// A name the broker sends back (a queue name, a consumer tag) as a short
/// string; one longer than 255 bytes is an internal error, never a panic.
pub(crate) fn short_string(what: &str, value: &str) -> Result<ShortString, BrokerError> {
    ShortString::try_new(value).map_err(|_| {
        BrokerError::InternalError(format!(
            "{what} is {} bytes long; AMQP short strings are at most {MAX} bytes",
            value.len()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_are_kept() {
        assert_eq!(reply_text("").as_str(), "");
        let fits = "a".repeat(255);
        assert_eq!(reply_text(&fits).as_str(), fits);
    }

    #[test]
    fn long_texts_are_truncated_like_rabbitmq() {
        let text = format!("NOT_FOUND - no queue '{}' in vhost '/'", "q".repeat(240));
        let got = reply_text(&text);
        assert_eq!(got.as_str().len(), 255);
        assert_eq!(got.as_str(), format!("{}...", &text[..252]));
    }

    #[test]
    fn truncation_never_splits_a_character() {
        // 'é' is two bytes: byte 252 falls inside one for an odd prefix.
        for prefix in ["", "a"] {
            let text = format!("{prefix}{}", "é".repeat(200));
            let got = reply_text(&text);
            let s = got.as_str();
            assert!(s.len() <= 255 && s.ends_with("..."), "{}", s.len());
            assert!(text.starts_with(&s[..s.len() - 3]));
        }
        // A four-byte character straddling the cut.
        let text = format!("{}{}", "a".repeat(250), "😀".repeat(10));
        assert_eq!(
            reply_text(&text).as_str(),
            format!("{}...", "a".repeat(250))
        );
    }

    #[test]
    fn oversized_names_are_errors() {
        assert_eq!(short_string("tag", "t").unwrap().as_str(), "t");
        let e = short_string("consumer tag", &"t".repeat(256)).unwrap_err();
        assert_eq!(e.reply_code(), 541);
    }
}
