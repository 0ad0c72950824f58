//! The AMQP 0-9-1 method table (with RabbitMQ's extensions) that the golden
//! harness encodes requests and decodes replies with. It is written out here,
//! independently of `warren-codec`, so that the harness checks Warren's codec
//! instead of sharing its mistakes, and so that recorded replies are rendered
//! as stable `field=value` text.

/// The wire type of one method field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Octet,
    Short,
    Long,
    LongLong,
    ShortStr,
    LongStr,
    Bit,
    Table,
}

/// One method: its dotted name, ids and fields in wire order.
#[derive(Debug)]
pub struct MethodSpec {
    pub name: &'static str,
    pub class_id: u16,
    pub method_id: u16,
    pub fields: Vec<(&'static str, FieldType)>,
    /// Whether a content header and body follow the method.
    pub has_content: bool,
}

/// `name class method field:type ...`; a trailing `+content` marks content.
const TABLE: &[&str] = &[
    "connection.start 10 10 version-major:octet version-minor:octet server-properties:table mechanisms:longstr locales:longstr",
    "connection.start-ok 10 11 client-properties:table mechanism:shortstr response:longstr locale:shortstr",
    "connection.secure 10 20 challenge:longstr",
    "connection.secure-ok 10 21 response:longstr",
    "connection.tune 10 30 channel-max:short frame-max:long heartbeat:short",
    "connection.tune-ok 10 31 channel-max:short frame-max:long heartbeat:short",
    "connection.open 10 40 virtual-host:shortstr reserved-1:shortstr reserved-2:bit",
    "connection.open-ok 10 41 reserved-1:shortstr",
    "connection.close 10 50 reply-code:short reply-text:shortstr class-id:short method-id:short",
    "connection.close-ok 10 51",
    "connection.blocked 10 60 reason:shortstr",
    "connection.unblocked 10 61",
    "connection.update-secret 10 70 new-secret:longstr reason:shortstr",
    "connection.update-secret-ok 10 71",
    "channel.open 20 10 reserved-1:shortstr",
    "channel.open-ok 20 11 reserved-1:longstr",
    "channel.flow 20 20 active:bit",
    "channel.flow-ok 20 21 active:bit",
    "channel.close 20 40 reply-code:short reply-text:shortstr class-id:short method-id:short",
    "channel.close-ok 20 41",
    "access.request 30 10 realm:shortstr exclusive:bit passive:bit active:bit write:bit read:bit",
    "access.request-ok 30 11 reserved-1:short",
    "exchange.declare 40 10 reserved-1:short exchange:shortstr type:shortstr passive:bit durable:bit auto-delete:bit internal:bit no-wait:bit arguments:table",
    "exchange.declare-ok 40 11",
    "exchange.delete 40 20 reserved-1:short exchange:shortstr if-unused:bit no-wait:bit",
    "exchange.delete-ok 40 21",
    "exchange.bind 40 30 reserved-1:short destination:shortstr source:shortstr routing-key:shortstr no-wait:bit arguments:table",
    "exchange.bind-ok 40 31",
    "exchange.unbind 40 40 reserved-1:short destination:shortstr source:shortstr routing-key:shortstr no-wait:bit arguments:table",
    "exchange.unbind-ok 40 51",
    "queue.declare 50 10 reserved-1:short queue:shortstr passive:bit durable:bit exclusive:bit auto-delete:bit no-wait:bit arguments:table",
    "queue.declare-ok 50 11 queue:shortstr message-count:long consumer-count:long",
    "queue.bind 50 20 reserved-1:short queue:shortstr exchange:shortstr routing-key:shortstr no-wait:bit arguments:table",
    "queue.bind-ok 50 21",
    "queue.purge 50 30 reserved-1:short queue:shortstr no-wait:bit",
    "queue.purge-ok 50 31 message-count:long",
    "queue.delete 50 40 reserved-1:short queue:shortstr if-unused:bit if-empty:bit no-wait:bit",
    "queue.delete-ok 50 41 message-count:long",
    "queue.unbind 50 50 reserved-1:short queue:shortstr exchange:shortstr routing-key:shortstr arguments:table",
    "queue.unbind-ok 50 51",
    "basic.qos 60 10 prefetch-size:long prefetch-count:short global:bit",
    "basic.qos-ok 60 11",
    "basic.consume 60 20 reserved-1:short queue:shortstr consumer-tag:shortstr no-local:bit no-ack:bit exclusive:bit no-wait:bit arguments:table",
    "basic.consume-ok 60 21 consumer-tag:shortstr",
    "basic.cancel 60 30 consumer-tag:shortstr no-wait:bit",
    "basic.cancel-ok 60 31 consumer-tag:shortstr",
    "basic.publish 60 40 reserved-1:short exchange:shortstr routing-key:shortstr mandatory:bit immediate:bit +content",
    "basic.return 60 50 reply-code:short reply-text:shortstr exchange:shortstr routing-key:shortstr +content",
    "basic.deliver 60 60 consumer-tag:shortstr delivery-tag:longlong redelivered:bit exchange:shortstr routing-key:shortstr +content",
    "basic.get 60 70 reserved-1:short queue:shortstr no-ack:bit",
    "basic.get-ok 60 71 delivery-tag:longlong redelivered:bit exchange:shortstr routing-key:shortstr message-count:long +content",
    "basic.get-empty 60 72 reserved-1:shortstr",
    "basic.ack 60 80 delivery-tag:longlong multiple:bit",
    "basic.reject 60 90 delivery-tag:longlong requeue:bit",
    "basic.recover-async 60 100 requeue:bit",
    "basic.recover 60 110 requeue:bit",
    "basic.recover-ok 60 111",
    "basic.nack 60 120 delivery-tag:longlong multiple:bit requeue:bit",
    "confirm.select 85 10 no-wait:bit",
    "confirm.select-ok 85 11",
    "tx.select 90 10",
    "tx.select-ok 90 11",
    "tx.commit 90 20",
    "tx.commit-ok 90 21",
    "tx.rollback 90 30",
    "tx.rollback-ok 90 31",
];

/// Every method of the table, parsed.
pub fn methods() -> Vec<MethodSpec> {
    TABLE.iter().map(|line| parse_line(line)).collect()
}

fn parse_line(line: &'static str) -> MethodSpec {
    let mut words = line.split(' ');
    let name = words.next().expect("name");
    let class_id = words.next().and_then(|w| w.parse().ok()).expect("class");
    let method_id = words.next().and_then(|w| w.parse().ok()).expect("method");
    let mut fields = Vec::new();
    let mut has_content = false;
    for word in words {
        if word == "+content" {
            has_content = true;
            continue;
        }
        let (field, ty) = word.split_once(':').expect("field:type");
        let ty = match ty {
            "octet" => FieldType::Octet,
            "short" => FieldType::Short,
            "long" => FieldType::Long,
            "longlong" => FieldType::LongLong,
            "shortstr" => FieldType::ShortStr,
            "longstr" => FieldType::LongStr,
            "bit" => FieldType::Bit,
            "table" => FieldType::Table,
            other => panic!("unknown field type {other}"),
        };
        fields.push((field, ty));
    }
    MethodSpec {
        name,
        class_id,
        method_id,
        fields,
        has_content,
    }
}

/// The basic class's content properties in flag order (bit 15 first).
pub const BASIC_PROPERTIES: &[(&str, FieldType)] = &[
    ("content-type", FieldType::ShortStr),
    ("content-encoding", FieldType::ShortStr),
    ("headers", FieldType::Table),
    ("delivery-mode", FieldType::Octet),
    ("priority", FieldType::Octet),
    ("correlation-id", FieldType::ShortStr),
    ("reply-to", FieldType::ShortStr),
    ("expiration", FieldType::ShortStr),
    ("message-id", FieldType::ShortStr),
    ("timestamp", FieldType::LongLong),
    ("type", FieldType::ShortStr),
    ("user-id", FieldType::ShortStr),
    ("app-id", FieldType::ShortStr),
    ("cluster-id", FieldType::ShortStr),
];

/// The synchronous replies a method waits for (empty: none).
pub fn replies_to(name: &str) -> &'static [&'static str] {
    match name {
        "connection.start-ok" => &["connection.tune", "connection.secure"],
        "connection.secure-ok" => &["connection.tune"],
        "connection.open" => &["connection.open-ok"],
        "connection.close" => &["connection.close-ok"],
        "connection.update-secret" => &["connection.update-secret-ok"],
        "channel.open" => &["channel.open-ok"],
        "channel.flow" => &["channel.flow-ok"],
        "channel.close" => &["channel.close-ok"],
        "access.request" => &["access.request-ok"],
        "exchange.declare" => &["exchange.declare-ok"],
        "exchange.delete" => &["exchange.delete-ok"],
        "exchange.bind" => &["exchange.bind-ok"],
        "exchange.unbind" => &["exchange.unbind-ok"],
        "queue.declare" => &["queue.declare-ok"],
        "queue.bind" => &["queue.bind-ok"],
        "queue.purge" => &["queue.purge-ok"],
        "queue.delete" => &["queue.delete-ok"],
        "queue.unbind" => &["queue.unbind-ok"],
        "basic.qos" => &["basic.qos-ok"],
        "basic.consume" => &["basic.consume-ok"],
        "basic.cancel" => &["basic.cancel-ok"],
        "basic.get" => &["basic.get-ok", "basic.get-empty"],
        "basic.recover" => &["basic.recover-ok"],
        "confirm.select" => &["confirm.select-ok"],
        "tx.select" => &["tx.select-ok"],
        "tx.commit" => &["tx.commit-ok"],
        "tx.rollback" => &["tx.rollback-ok"],
        _ => &[],
    }
}
