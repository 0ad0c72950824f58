//! The AMQP 0-9-1 content format: a message's content is its raw basic
//! properties. At ingress [`annotate`] computes the broker's annotations in
//! one walk of the property list; at delivery [`render`] gives the
//! properties back byte for byte, or, for a dead-lettered message, with the
//! death history written as RabbitMQ 3.10's `rabbit_dead_letter` writes it.
//!
//! The `x-death` header is an array of tables, most recent first, one per
//! (queue, reason): `count` (long), `reason`, `queue`, `time` (timestamp,
//! seconds), `exchange`, `routing-keys` (array of longstr) and
//! `original-expiration` when the message had a per-message TTL (the
//! `expiration` property itself is removed). An entry written once keeps
//! RabbitMQ's field order (as listed); one written again (count incremented,
//! or added to an existing history) has its fields sorted by name. The first
//! death also sets `x-first-death-reason`, `x-first-death-queue` and
//! `x-first-death-exchange`; the top-level headers end up sorted by key
//! (RabbitMQ's `set_table_value` sorts them); every other value stays byte
//! for byte as published.

use bytes::Bytes;
use warren_codec::properties::{decode_properties, RawProperties, Scan};
use warren_codec::table::{
    as_integer, as_long_string, join_array, join_table, long_string, split_array, split_table,
    RawField,
};
use warren_core::message::{
    parse_expiration, register_format, Annotations, ContentFormat, Death, Extra, FormatId,
};
use warren_core::value::Table;

/// The AMQP 0-9-1 content format.
pub struct Amqp091;

/// The format instance registered with the core.
pub static AMQP_091: Amqp091 = Amqp091;

/// Registers the AMQP 0-9-1 content format with the core (idempotent).
pub fn register() {
    register_format(&AMQP_091);
}

impl ContentFormat for Amqp091 {
    fn id(&self) -> FormatId {
        FormatId::AMQP_091
    }

    fn headers(&self, content: &Bytes) -> Option<Table> {
        let props = decode_properties(content).ok()?;
        props.headers().as_ref().map(crate::value::to_table)
    }

    fn annotate(&self, content: &Bytes) -> Annotations {
        annotate(content)
    }

    fn render(&self, content: &Bytes, ann: &Annotations) -> Bytes {
        render(content, ann)
    }
}

/// RabbitMQ's field order of an x-death entry written once.
const ENTRY_ORDER: [&[u8]; 7] = [
    b"count",
    b"reason",
    b"queue",
    b"time",
    b"exchange",
    b"routing-keys",
    b"original-expiration",
];

/// The annotations of raw basic properties: delivery mode, priority,
/// expiration and timestamp from one walk, and the CC keys and death history
/// when the headers may hold them. A plain message allocates nothing.
pub fn annotate(properties: &[u8]) -> Annotations {
    match RawProperties::new(properties).scan() {
        Some(scan) => annotate_scan(&scan),
        None => Annotations::default(),
    }
}

/// [`annotate`] from a walk already made.
pub fn annotate_scan(scan: &Scan<'_>) -> Annotations {
    Annotations {
        expiry_ms: scan.expiration.and_then(|e| parse_expiration(e).ok()),
        timestamp: scan.timestamp,
        durable: scan.delivery_mode == Some(2),
        priority: scan.priority,
        extra: scan.headers.and_then(annotate_headers).map(Box::new),
    }
}

/// Whether `haystack` contains `needle`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The CC keys and death history in a raw headers table, if it has any.
fn annotate_headers(table: &[u8]) -> Option<Extra> {
    if !contains(table, b"\x02CC") && !contains(table, b"\x07x-death") {
        return None;
    }
    let fields = split_table(table)?;
    let cc = lookup(&fields, b"CC").map(strings).unwrap_or_default();
    let deaths: Vec<Death> = lookup(&fields, b"x-death")
        .and_then(|v| v.strip_prefix(b"A"))
        .and_then(split_array)
        .map(|entries| entries.into_iter().filter_map(parse_death).collect())
        .unwrap_or_default();
    (!cc.is_empty() || !deaths.is_empty()).then(|| Extra {
        cc,
        deaths,
        ..Extra::default()
    })
}

/// The long strings in an array value (other elements are skipped).
fn strings(value: &[u8]) -> Vec<Bytes> {
    value
        .strip_prefix(b"A")
        .and_then(split_array)
        .map(|items| {
            items
                .into_iter()
                .filter_map(as_long_string)
                .map(Bytes::copy_from_slice)
                .collect()
        })
        .unwrap_or_default()
}

/// A published x-death entry (a table value); None without queue or reason.
fn parse_death(entry: &[u8]) -> Option<Death> {
    let fields = split_table(entry.strip_prefix(b"F")?)?;
    let text = |k: &[u8]| {
        lookup(&fields, k)
            .and_then(as_long_string)
            .map(Bytes::copy_from_slice)
    };
    let keys: Vec<&[u8]> = fields.iter().map(|f| f.key).collect();
    let in_order = ENTRY_ORDER.iter().filter(|k| keys.contains(k));
    Some(Death {
        queue: text(b"queue")?,
        reason: text(b"reason")?,
        count: lookup(&fields, b"count").and_then(as_integer).unwrap_or(0),
        time: lookup(&fields, b"time")
            .and_then(as_integer)
            .and_then(|t| u64::try_from(t).ok())
            .unwrap_or(0),
        exchange: text(b"exchange").unwrap_or_default(),
        routing_keys: lookup(&fields, b"routing-keys")
            .map(strings)
            .unwrap_or_default(),
        original_expiration: text(b"original-expiration"),
        rewritten: !keys.iter().copied().eq(in_order.copied()),
    })
}

/// The first value under `key`, as Erlang's `lists:keyfind`.
fn lookup<'a>(fields: &[RawField<'a>], key: &[u8]) -> Option<&'a [u8]> {
    fields.iter().find(|f| f.key == key).map(|f| f.value)
}

/// Replaces the first value under `key`, or appends it (`lists:keystore`).
fn store<'a>(fields: &mut Vec<RawField<'a>>, key: &'a [u8], value: &'a [u8]) {
    match fields.iter_mut().find(|f| f.key == key) {
        Some(f) => f.value = value,
        None => fields.push(RawField { key, value }),
    }
}

/// The properties as delivered: `properties` itself unless the broker
/// changed the message (dead-lettered it, removed its TTL).
pub fn render(properties: &Bytes, ann: &Annotations) -> Bytes {
    let Some(extra) = ann.extra.as_deref().filter(|_| ann.changes_content()) else {
        return properties.clone();
    };
    let props = RawProperties::new(properties);
    if !extra.dead_lettered {
        let stripped = extra
            .expiration_removed
            .then(|| props.without_expiration())
            .flatten();
        return stripped.unwrap_or_else(|| properties.clone());
    }
    let published = props
        .headers_table()
        .and_then(split_table)
        .unwrap_or_default();
    let table = dead_letter_headers(published, extra);
    props
        .with_headers_without_expiration(&table)
        .unwrap_or_else(|| properties.clone())
}

/// The headers table of a dead-lettered message: the published headers with
/// the death history and first-death values set, CC dropped if it was, sorted
/// by key.
fn dead_letter_headers(published: Vec<RawField<'_>>, extra: &Extra) -> Vec<u8> {
    let entries: Vec<Vec<u8>> = extra.deaths.iter().map(death_entry).collect();
    let mut x_death = vec![b'A'];
    x_death.extend(join_array(entries.iter().map(Vec::as_slice)).unwrap_or_else(|| vec![0; 4]));
    let first: Vec<(&[u8], Vec<u8>)> = extra
        .first_death
        .iter()
        .flat_map(|f| {
            [
                (&b"x-first-death-reason"[..], longstr(&f.reason)),
                (b"x-first-death-queue", longstr(&f.queue)),
                (b"x-first-death-exchange", longstr(&f.exchange)),
            ]
        })
        .collect();
    let mut headers: Vec<RawField<'_>> = published;
    for (key, value) in &first {
        store(&mut headers, key, value);
    }
    store(&mut headers, b"x-death", &x_death);
    if extra.cc_removed {
        headers.retain(|f| f.key != b"CC");
    }
    headers.sort_by(|a, b| a.key.cmp(b.key));
    join_table(headers.iter().map(|f| (f.key, f.value))).unwrap_or_else(|| vec![0; 4])
}

/// One x-death entry as a table value (`F`).
fn death_entry(death: &Death) -> Vec<u8> {
    let mut count = vec![b'l'];
    count.extend_from_slice(&death.count.to_be_bytes());
    let mut time = vec![b'T'];
    time.extend_from_slice(&death.time.to_be_bytes());
    let keys: Vec<Vec<u8>> = death.routing_keys.iter().map(|k| longstr(k)).collect();
    let mut routing_keys = vec![b'A'];
    routing_keys.extend(join_array(keys.iter().map(Vec::as_slice)).unwrap_or_default());
    let mut fields: Vec<(&'static [u8], Vec<u8>)> = vec![
        (b"count", count),
        (b"reason", longstr(&death.reason)),
        (b"queue", longstr(&death.queue)),
        (b"time", time),
        (b"exchange", longstr(&death.exchange)),
        (b"routing-keys", routing_keys),
    ];
    if let Some(exp) = &death.original_expiration {
        fields.push((b"original-expiration", longstr(exp)));
    }
    if death.rewritten {
        fields.sort_by(|a, b| a.0.cmp(b.0));
    }
    let mut out = vec![b'F'];
    out.extend(
        join_table(fields.iter().map(|(k, v)| (*k, v.as_slice()))).unwrap_or_else(|| vec![0; 4]),
    );
    out
}

/// A long-string value, type octet included (empty if above 4 GiB, which no
/// name or key can be).
fn longstr(s: &[u8]) -> Vec<u8> {
    long_string(s).unwrap_or_default()
}

#[cfg(test)]
#[path = "content_tests.rs"]
mod tests;
