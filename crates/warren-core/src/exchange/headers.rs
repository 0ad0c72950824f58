//! Headers exchange matching: x-match all, any, all-with-x and any-with-x, with
//! RabbitMQ's value comparison (numbers compare across integer widths; a void
//! binding value only asks for the header's presence).

use crate::value::{Table, Value};

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
    pub fn from_arguments(args: &Table) -> Option<MatchMode> {
        match args.get("x-match") {
            None => Some(MatchMode::All),
            Some(Value::Str(s)) => Self::parse(s),
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
    Other(&'a Value),
}

fn comparable(v: &Value) -> Comparable<'_> {
    match v {
        Value::I8(x) => Comparable::Int(*x as i128),
        Value::U8(x) => Comparable::Int(*x as i128),
        Value::I16(x) => Comparable::Int(*x as i128),
        Value::U16(x) => Comparable::Int(*x as i128),
        Value::I32(x) => Comparable::Int(*x as i128),
        Value::U32(x) => Comparable::Int(*x as i128),
        Value::I64(x) => Comparable::Int(*x as i128),
        Value::F32(x) => Comparable::Float(*x as f64),
        Value::F64(x) => Comparable::Float(*x),
        Value::Str(s) => Comparable::Bytes(s),
        other => Comparable::Other(other),
    }
}

/// Whether a message with `headers` matches a binding with `args`.
pub fn headers_match(args: &Table, mode: MatchMode, headers: Option<&Table>) -> bool {
    let with_x = matches!(mode, MatchMode::AllWithX | MatchMode::AnyWithX);
    let want_all = matches!(mode, MatchMode::All | MatchMode::AllWithX);
    let mut criteria = args
        .iter()
        .filter(|(k, _)| *k != "x-match" && (with_x || !k.starts_with("x-")))
        .peekable();
    if criteria.peek().is_none() {
        return want_all;
    }
    let one_matches = |(key, expected): (&str, &Value)| {
        let Some(actual) = headers.and_then(|h| h.get(key)) else {
            return false;
        };
        matches!(expected, Value::Void) || comparable(expected) == comparable(actual)
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

    fn table(pairs: &[(&str, Value)]) -> Table {
        let mut t = Table::new();
        for (k, v) in pairs {
            t.insert(*k, v.clone());
        }
        t
    }

    #[test]
    fn all_any_and_with_x() {
        let s = |v: &str| Value::from(v);
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
        assert!(headers_match(&Table::new(), MatchMode::All, None));
    }

    #[test]
    fn integers_compare_across_widths_and_void_means_present() {
        let binding = table(&[("n", Value::I8(1)), ("p", Value::Void)]);
        let msg = table(&[("n", Value::I64(1)), ("p", Value::Bool(true))]);
        assert!(headers_match(&binding, MatchMode::All, Some(&msg)));
    }
}
