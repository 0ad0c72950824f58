//! Headers exchange matching: x-match all, any, all-with-x and any-with-x, with
//! RabbitMQ's value comparison (numbers compare across integer widths; a void
//! binding value only asks for the header's presence).

use warren_codec::{AMQPValue, FieldTable};

/// How the binding's headers must match the message's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMode {
    /// Every binding header present with an equal value (x- keys ignored).
    All,
    /// At least one binding header matches (x- keys ignored).
    Any,
    /// Like `All`, but x- keys take part.
    AllWithX,
    /// Like `Any`, but x- keys take part.
    AnyWithX,
}

impl MatchMode {
    /// Reads `x-match` from binding arguments; `None` for an invalid value.
    pub fn from_arguments(args: &FieldTable) -> Option<MatchMode> {
        match args.inner().get("x-match") {
            None => Some(MatchMode::All),
            Some(AMQPValue::LongString(s)) => Self::parse(s.as_bytes()),
            Some(AMQPValue::ShortString(s)) => Self::parse(s.as_str().as_bytes()),
            Some(_) => None,
        }
    }

    fn parse(s: &[u8]) -> Option<MatchMode> {
        match s {
            b"all" => Some(MatchMode::All),
            b"any" => Some(MatchMode::Any),
            b"all-with-x" => Some(MatchMode::AllWithX),
            b"any-with-x" => Some(MatchMode::AnyWithX),
            _ => None,
        }
    }
}

/// Values compared by class, as RabbitMQ's `type_class` does.
#[derive(PartialEq)]
enum Comparable<'a> {
    Int(i128),
    Float(f64),
    Bytes(&'a [u8]),
    Other(&'a AMQPValue),
}

fn comparable(v: &AMQPValue) -> Comparable<'_> {
    match v {
        AMQPValue::ShortShortInt(x) => Comparable::Int(*x as i128),
        AMQPValue::ShortShortUInt(x) => Comparable::Int(*x as i128),
        AMQPValue::ShortInt(x) => Comparable::Int(*x as i128),
        AMQPValue::ShortUInt(x) => Comparable::Int(*x as i128),
        AMQPValue::LongInt(x) => Comparable::Int(*x as i128),
        AMQPValue::LongUInt(x) => Comparable::Int(*x as i128),
        AMQPValue::LongLongInt(x) => Comparable::Int(*x as i128),
        AMQPValue::Float(x) => Comparable::Float(*x as f64),
        AMQPValue::Double(x) => Comparable::Float(*x),
        AMQPValue::ShortString(s) => Comparable::Bytes(s.as_str().as_bytes()),
        AMQPValue::LongString(s) => Comparable::Bytes(s.as_bytes()),
        other => Comparable::Other(other),
    }
}

/// Whether a message with `headers` matches a binding with `args`.
pub fn headers_match(args: &FieldTable, mode: MatchMode, headers: Option<&FieldTable>) -> bool {
    let with_x = matches!(mode, MatchMode::AllWithX | MatchMode::AnyWithX);
    let want_all = matches!(mode, MatchMode::All | MatchMode::AllWithX);
    let mut criteria = args
        .inner()
        .iter()
        .filter(|(k, _)| k.as_str() != "x-match" && (with_x || !k.as_str().starts_with("x-")))
        .peekable();
    if criteria.peek().is_none() {
        return want_all;
    }
    let one_matches = |(key, expected): (&warren_codec::ShortString, &AMQPValue)| {
        let Some(actual) = headers.and_then(|h| h.inner().get(key)) else {
            return false;
        };
        matches!(expected, AMQPValue::Void) || comparable(expected) == comparable(actual)
    };
    if want_all {
        criteria.all(one_matches)
    } else {
        criteria.any(one_matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_codec::{LongString, ShortString};

    fn table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
        let mut t = FieldTable::default();
        for (k, v) in pairs {
            t.insert(ShortString::from(*k), v.clone());
        }
        t
    }

    #[test]
    fn all_any_and_with_x() {
        let s = |v: &str| AMQPValue::LongString(LongString::from(v.as_bytes().to_vec()));
        let binding = table(&[
            ("format", s("pdf")),
            ("type", s("report")),
            ("x-tag", s("a")),
        ]);
        let both = table(&[("format", s("pdf")), ("type", s("report"))]);
        let one = table(&[("format", s("pdf"))]);
        assert!(headers_match(&binding, MatchMode::All, Some(&both)));
        assert!(!headers_match(&binding, MatchMode::All, Some(&one)));
        assert!(headers_match(&binding, MatchMode::Any, Some(&one)));
        assert!(!headers_match(&binding, MatchMode::AllWithX, Some(&both)));
        assert!(!headers_match(&binding, MatchMode::Any, None));
        assert!(headers_match(&FieldTable::default(), MatchMode::All, None));
    }

    #[test]
    fn integers_compare_across_widths_and_void_means_present() {
        let binding = table(&[("n", AMQPValue::ShortShortInt(1)), ("p", AMQPValue::Void)]);
        let msg = table(&[
            ("n", AMQPValue::LongLongInt(1)),
            ("p", AMQPValue::Boolean(true)),
        ]);
        assert!(headers_match(&binding, MatchMode::All, Some(&msg)));
    }
}
