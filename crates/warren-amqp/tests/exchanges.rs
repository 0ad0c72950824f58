//! Exchanges: routing for every type, the default exchange, reserved names,
//! declaration checks, exchange-to-exchange bindings, internal and auto-delete
//! exchanges, each checked against RabbitMQ's documented behaviour.

mod common;
mod support;

use common::{within, TestBroker};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, ExchangeKind};
use support::*;

/// Declares `queues` and returns a channel, for routing tests.
async fn routing_setup(conn: &lapin::Connection, queues: &[&str]) -> lapin::Channel {
    let ch = within(conn.create_channel()).await.unwrap();
    for q in queues {
        declare_queue(&ch, q).await;
    }
    ch
}

/// Publishes `body` to `exchange` with `key` and returns, per queue, whether
/// the message arrived (each queue is drained).
async fn routed_to(
    ch: &lapin::Channel,
    exchange: &str,
    key: &str,
    properties: BasicProperties,
    queues: &[&str],
) -> Vec<bool> {
    publish_with(ch, exchange, key, b"m", properties).await;
    let mut out = Vec::new();
    for q in queues {
        let got = drain(ch, q).await;
        assert!(got.len() <= 1, "queue {q} got {} copies", got.len());
        out.push(got.len() == 1);
    }
    out
}

#[tokio::test]
async fn direct_exchange_routes_by_exact_key() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let qs = ["errors", "all"];
    let ch = routing_setup(&conn, &qs).await;
    declare_exchange(&ch, "direct_logs", ExchangeKind::Direct).await;
    bind(&ch, "errors", "direct_logs", "error").await;
    for key in ["info", "warning", "error"] {
        bind(&ch, "all", "direct_logs", key).await;
    }
    let p = BasicProperties::default;
    assert_eq!(
        routed_to(&ch, "direct_logs", "error", p(), &qs).await,
        [true, true]
    );
    assert_eq!(
        routed_to(&ch, "direct_logs", "info", p(), &qs).await,
        [false, true]
    );
    assert_eq!(
        routed_to(&ch, "direct_logs", "debug", p(), &qs).await,
        [false, false]
    );
    // Keys are compared exactly: no prefix or case folding.
    assert_eq!(
        routed_to(&ch, "direct_logs", "Error", p(), &qs).await,
        [false, false]
    );
}

#[tokio::test]
async fn fanout_exchange_ignores_routing_key() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let qs = ["f1", "f2", "unbound"];
    let ch = routing_setup(&conn, &qs).await;
    declare_exchange(&ch, "logs", ExchangeKind::Fanout).await;
    bind(&ch, "f1", "logs", "").await;
    bind(&ch, "f2", "logs", "some-key").await;
    for key in ["", "anything", "a.b.c"] {
        assert_eq!(
            routed_to(&ch, "logs", key, BasicProperties::default(), &qs).await,
            [true, true, false],
            "key {key:?}"
        );
    }
}

#[tokio::test]
async fn topic_exchange_tutorial_patterns() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let qs = ["Q1", "Q2"];
    let ch = routing_setup(&conn, &qs).await;
    declare_exchange(&ch, "topic_logs", ExchangeKind::Topic).await;
    bind(&ch, "Q1", "topic_logs", "*.orange.*").await;
    bind(&ch, "Q2", "topic_logs", "*.*.rabbit").await;
    bind(&ch, "Q2", "topic_logs", "lazy.#").await;
    let cases: &[(&str, [bool; 2])] = &[
        ("quick.orange.rabbit", [true, true]),
        ("lazy.orange.elephant", [true, true]),
        ("quick.orange.fox", [true, false]),
        ("lazy.brown.fox", [false, true]),
        // Matches both of Q2's bindings, delivered once.
        ("lazy.pink.rabbit", [false, true]),
        ("quick.brown.fox", [false, false]),
        ("orange", [false, false]),
        ("quick.orange.new.rabbit", [false, false]),
        ("lazy.orange.new.rabbit", [false, true]),
        ("lazy", [false, true]),
    ];
    for (key, expected) in cases {
        assert_eq!(
            routed_to(&ch, "topic_logs", key, BasicProperties::default(), &qs).await,
            expected,
            "routing key {key:?}"
        );
    }
}

#[tokio::test]
async fn topic_exchange_hash_and_star_wildcards() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let qs = ["hash", "star", "a_star", "hash_b", "a_hash_b"];
    let ch = routing_setup(&conn, &qs).await;
    declare_exchange(&ch, "t", ExchangeKind::Topic).await;
    bind(&ch, "hash", "t", "#").await;
    bind(&ch, "star", "t", "*").await;
    bind(&ch, "a_star", "t", "a.*").await;
    bind(&ch, "hash_b", "t", "#.b").await;
    bind(&ch, "a_hash_b", "t", "a.#.b").await;
    let cases: &[(&str, [bool; 5])] = &[
        // `#` matches everything, even the empty key; `*` exactly one word.
        ("", [true, false, false, false, false]),
        ("a", [true, true, false, false, false]),
        ("b", [true, true, false, true, false]),
        ("a.b", [true, false, true, true, true]),
        ("a.x.b", [true, false, false, true, true]),
        ("a.x.y.b", [true, false, false, true, true]),
        ("a.b.c", [true, false, false, false, false]),
        ("x.y", [true, false, false, false, false]),
    ];
    for (key, expected) in cases {
        assert_eq!(
            routed_to(&ch, "t", key, BasicProperties::default(), &qs).await,
            expected,
            "routing key {key:?}"
        );
    }
}

fn with_headers(headers: FieldTable) -> BasicProperties {
    BasicProperties::default().with_headers(headers)
}

#[tokio::test]
async fn headers_exchange_x_match_all() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let qs = ["all"];
    let ch = routing_setup(&conn, &qs).await;
    declare_exchange(&ch, "hx", ExchangeKind::Headers).await;
    let args = table(&[
        ("x-match", s("all")),
        ("format", s("pdf")),
        ("type", s("report")),
    ]);
    bind_with(&ch, "all", "hx", "", args).await;
    let both = table(&[
        ("format", s("pdf")),
        ("type", s("report")),
        ("extra", AMQPValue::Boolean(true)),
    ]);
    assert_eq!(
        routed_to(&ch, "hx", "ignored", with_headers(both), &qs).await,
        [true]
    );
    let one = table(&[("format", s("pdf"))]);
    assert_eq!(
        routed_to(&ch, "hx", "", with_headers(one), &qs).await,
        [false]
    );
    let wrong = table(&[("format", s("pdf")), ("type", s("log"))]);
    assert_eq!(
        routed_to(&ch, "hx", "", with_headers(wrong), &qs).await,
        [false]
    );
    assert_eq!(
        routed_to(&ch, "hx", "", BasicProperties::default(), &qs).await,
        [false]
    );
}

#[tokio::test]
async fn headers_exchange_x_match_any() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let qs = ["any"];
    let ch = routing_setup(&conn, &qs).await;
    declare_exchange(&ch, "hx", ExchangeKind::Headers).await;
    let args = table(&[
        ("x-match", s("any")),
        ("format", s("pdf")),
        ("type", s("report")),
    ]);
    bind_with(&ch, "any", "hx", "", args).await;
    let one = table(&[("format", s("pdf")), ("type", s("log"))]);
    assert_eq!(
        routed_to(&ch, "hx", "", with_headers(one), &qs).await,
        [true]
    );
    let other = table(&[("type", s("report"))]);
    assert_eq!(
        routed_to(&ch, "hx", "", with_headers(other), &qs).await,
        [true]
    );
    let none = table(&[("format", s("zip")), ("type", s("log"))]);
    assert_eq!(
        routed_to(&ch, "hx", "", with_headers(none), &qs).await,
        [false]
    );
    assert_eq!(
        routed_to(&ch, "hx", "", BasicProperties::default(), &qs).await,
        [false]
    );
}

#[tokio::test]
async fn headers_exchange_compares_integers_across_widths() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let qs = ["n"];
    let ch = routing_setup(&conn, &qs).await;
    declare_exchange(&ch, "hx", ExchangeKind::Headers).await;
    let args = table(&[("x-match", s("all")), ("n", AMQPValue::LongLongInt(42))]);
    bind_with(&ch, "n", "hx", "", args).await;
    let narrow = table(&[("n", AMQPValue::ShortInt(42))]);
    assert_eq!(
        routed_to(&ch, "hx", "", with_headers(narrow), &qs).await,
        [true]
    );
    let other = table(&[("n", AMQPValue::LongInt(43))]);
    assert_eq!(
        routed_to(&ch, "hx", "", with_headers(other), &qs).await,
        [false]
    );
}

#[tokio::test]
async fn default_exchange_routes_by_queue_name() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let qs = ["alpha", "beta"];
    let ch = routing_setup(&conn, &qs).await;
    let p = BasicProperties::default;
    assert_eq!(routed_to(&ch, "", "alpha", p(), &qs).await, [true, false]);
    assert_eq!(routed_to(&ch, "", "beta", p(), &qs).await, [false, true]);
    assert_eq!(routed_to(&ch, "", "gamma", p(), &qs).await, [false, false]);
}

#[tokio::test]
async fn binding_a_queue_to_the_default_exchange_is_refused() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "q").await;
    let err = expect_amqp_err(ch.queue_bind(
        "q".into(),
        "".into(),
        "other".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    assert_reply(&err, 403, "ACCESS_REFUSED");
    assert_reply(&err, 403, "default exchange");
}

#[tokio::test]
async fn unbinding_a_queue_from_the_default_exchange_is_refused() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "q").await;
    let err =
        expect_amqp_err(ch.queue_unbind("q".into(), "".into(), "q".into(), FieldTable::default()))
            .await;
    assert_reply(&err, 403, "ACCESS_REFUSED");
    assert_reply(&err, 403, "default exchange");
}

#[tokio::test]
async fn deleting_the_default_exchange_is_refused() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let err =
        expect_amqp_err(ch.exchange_delete("".into(), ExchangeDeleteOptions::default())).await;
    assert_reply(&err, 403, "ACCESS_REFUSED");
    // The default exchange still routes.
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "still").await;
    publish(&ch, "", "still", b"x").await;
    assert_eq!(get_body(&ch, "still").await.as_deref(), Some(&b"x"[..]));
}

#[tokio::test]
async fn deleting_a_predeclared_amq_exchange_is_refused() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let err =
        expect_amqp_err(ch.exchange_delete("amq.direct".into(), ExchangeDeleteOptions::default()))
            .await;
    assert_reply(&err, 403, "ACCESS_REFUSED");
    assert!(exchange_exists(&conn, "amq.direct").await);
}

#[tokio::test]
async fn declaring_an_amq_prefixed_exchange_is_refused() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let err = expect_amqp_err(ch.exchange_declare(
        "amq.foo".into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await;
    assert_reply(&err, 403, "ACCESS_REFUSED");
    assert_reply(&err, 403, "amq.foo");
    assert!(!exchange_exists(&conn, "amq.foo").await);
}

#[tokio::test]
async fn predeclared_exchanges_exist() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    for (name, kind) in [
        ("amq.direct", ExchangeKind::Direct),
        ("amq.fanout", ExchangeKind::Fanout),
        ("amq.topic", ExchangeKind::Topic),
        ("amq.headers", ExchangeKind::Headers),
        ("amq.match", ExchangeKind::Headers),
    ] {
        within(ch.exchange_declare(
            name.into(),
            kind.clone(),
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .await
        .unwrap_or_else(|e| panic!("passive declare of {name}: {e}"));
        // Redeclaring with the same type and durable=true is also accepted.
        within(ch.exchange_declare(
            name.into(),
            kind,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .await
        .unwrap_or_else(|e| panic!("redeclare of {name}: {e}"));
    }
}

#[tokio::test]
async fn predeclared_exchanges_route() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let qs = ["pd"];
    let ch = routing_setup(&conn, &qs).await;
    bind(&ch, "pd", "amq.direct", "k").await;
    bind(&ch, "pd", "amq.topic", "k.*").await;
    bind(&ch, "pd", "amq.fanout", "").await;
    let p = BasicProperties::default;
    assert_eq!(routed_to(&ch, "amq.direct", "k", p(), &qs).await, [true]);
    assert_eq!(routed_to(&ch, "amq.topic", "k.x", p(), &qs).await, [true]);
    assert_eq!(routed_to(&ch, "amq.fanout", "zz", p(), &qs).await, [true]);
}

#[tokio::test]
async fn passive_declare_of_missing_exchange_is_not_found() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let err = expect_amqp_err(ch.exchange_declare(
        "nope".into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    assert_reply(&err, 404, "NOT_FOUND - no exchange 'nope' in vhost '/'");
    // A channel error leaves the connection usable.
    assert!(conn.status().connected());
    let ch2 = within(conn.create_channel()).await.unwrap();
    declare_exchange(&ch2, "nope", ExchangeKind::Direct).await;
}

#[tokio::test]
async fn redeclaring_exchange_with_different_type_fails() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_exchange(&ch, "x", ExchangeKind::Direct).await;
    let err = expect_amqp_err(ch.exchange_declare(
        "x".into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await;
    assert_reply(&err, 406, "PRECONDITION_FAILED");
    assert_reply(&err, 406, "inequivalent arg 'type' for exchange 'x'");
}

#[tokio::test]
async fn redeclaring_exchange_with_different_durable_fails() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_exchange(&ch, "x", ExchangeKind::Topic).await;
    let err = expect_amqp_err(ch.exchange_declare(
        "x".into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    assert_reply(&err, 406, "inequivalent arg 'durable' for exchange 'x'");
}

#[tokio::test]
async fn delete_if_unused_with_bindings_fails() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_exchange(&ch, "x", ExchangeKind::Direct).await;
    declare_queue(&ch, "q").await;
    bind(&ch, "q", "x", "k").await;
    let err = expect_amqp_err(ch.exchange_delete(
        "x".into(),
        ExchangeDeleteOptions {
            if_unused: true,
            ..Default::default()
        },
    ))
    .await;
    assert_reply(&err, 406, "PRECONDITION_FAILED");
    assert_reply(&err, 406, "in use");
    assert!(exchange_exists(&conn, "x").await);
    // Without bindings, if-unused deletion succeeds.
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.queue_unbind("q".into(), "x".into(), "k".into(), FieldTable::default()))
        .await
        .unwrap();
    within(ch.exchange_delete(
        "x".into(),
        ExchangeDeleteOptions {
            if_unused: true,
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    assert!(!exchange_exists(&conn, "x").await);
}

#[tokio::test]
async fn deleting_an_exchange_removes_its_bindings() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let qs = ["q"];
    let ch = routing_setup(&conn, &qs).await;
    declare_exchange(&ch, "x", ExchangeKind::Fanout).await;
    bind(&ch, "q", "x", "").await;
    within(ch.exchange_delete("x".into(), ExchangeDeleteOptions::default()))
        .await
        .unwrap();
    // Redeclared, it starts with no bindings.
    declare_exchange(&ch, "x", ExchangeKind::Fanout).await;
    assert_eq!(
        routed_to(&ch, "x", "", BasicProperties::default(), &qs).await,
        [false]
    );
}

#[tokio::test]
async fn deleting_a_missing_exchange_succeeds() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.exchange_delete("never-there".into(), ExchangeDeleteOptions::default()))
        .await
        .unwrap();
}

#[tokio::test]
async fn exchange_to_exchange_bindings_route_through() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let qs = ["via_topic", "direct_q"];
    let ch = routing_setup(&conn, &qs).await;
    declare_exchange(&ch, "src", ExchangeKind::Direct).await;
    declare_exchange(&ch, "dst", ExchangeKind::Topic).await;
    bind(&ch, "via_topic", "dst", "#").await;
    bind(&ch, "direct_q", "src", "k1").await;
    within(ch.exchange_bind(
        "dst".into(),
        "src".into(),
        "k1".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let p = BasicProperties::default;
    assert_eq!(routed_to(&ch, "src", "k1", p(), &qs).await, [true, true]);
    // The source's binding key filters what reaches the destination.
    assert_eq!(routed_to(&ch, "src", "k2", p(), &qs).await, [false, false]);
    within(ch.exchange_unbind(
        "dst".into(),
        "src".into(),
        "k1".into(),
        ExchangeUnbindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    assert_eq!(routed_to(&ch, "src", "k1", p(), &qs).await, [false, true]);
}

#[tokio::test]
async fn exchange_binding_cycles_deliver_once() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let qs = ["cyc"];
    let ch = routing_setup(&conn, &qs).await;
    declare_exchange(&ch, "a", ExchangeKind::Fanout).await;
    declare_exchange(&ch, "b", ExchangeKind::Fanout).await;
    for (dst, src) in [("b", "a"), ("a", "b")] {
        within(ch.exchange_bind(
            dst.into(),
            src.into(),
            "".into(),
            ExchangeBindOptions::default(),
            FieldTable::default(),
        ))
        .await
        .unwrap();
    }
    bind(&ch, "cyc", "a", "").await;
    bind(&ch, "cyc", "b", "").await;
    assert_eq!(
        routed_to(&ch, "a", "", BasicProperties::default(), &qs).await,
        [true]
    );
}

#[tokio::test]
async fn exchange_bind_to_default_exchange_is_refused() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_exchange(&ch, "x", ExchangeKind::Fanout).await;
    let err = expect_amqp_err(ch.exchange_bind(
        "x".into(),
        "".into(),
        "k".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    assert_reply(&err, 403, "ACCESS_REFUSED");
}

#[tokio::test]
async fn publishing_to_an_internal_exchange_is_refused() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.exchange_declare(
        "internal_x".into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            internal: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    declare_queue(&ch, "behind").await;
    bind(&ch, "behind", "internal_x", "").await;
    let mut watcher = watch_channel(&ch).await;
    publish(&ch, "internal_x", "", b"nope").await;
    let err = closed_with(&mut watcher).await;
    assert_reply(&err, 403, "ACCESS_REFUSED");
    assert_reply(&err, 403, "internal_x");
    let ch = within(conn.create_channel()).await.unwrap();
    assert_eq!(message_count(&ch, "behind").await, 0);
}

#[tokio::test]
async fn internal_exchange_receives_through_exchange_binding() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let qs = ["behind"];
    let ch = routing_setup(&conn, &qs).await;
    within(ch.exchange_declare(
        "internal_x".into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            internal: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    declare_exchange(&ch, "front", ExchangeKind::Fanout).await;
    within(ch.exchange_bind(
        "internal_x".into(),
        "front".into(),
        "".into(),
        ExchangeBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    bind(&ch, "behind", "internal_x", "").await;
    assert_eq!(
        routed_to(&ch, "front", "", BasicProperties::default(), &qs).await,
        [true]
    );
}

async fn declare_auto_delete(ch: &lapin::Channel, name: &str) {
    within(ch.exchange_declare(
        name.into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn auto_delete_exchange_goes_with_its_last_unbind() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = routing_setup(&conn, &["q1", "q2"]).await;
    declare_auto_delete(&ch, "ad").await;
    // Never bound: it stays.
    assert!(exchange_exists(&conn, "ad").await);
    bind(&ch, "q1", "ad", "a").await;
    bind(&ch, "q2", "ad", "b").await;
    within(ch.queue_unbind("q1".into(), "ad".into(), "a".into(), FieldTable::default()))
        .await
        .unwrap();
    assert!(exchange_exists(&conn, "ad").await);
    within(ch.queue_unbind("q2".into(), "ad".into(), "b".into(), FieldTable::default()))
        .await
        .unwrap();
    assert!(!exchange_exists(&conn, "ad").await);
}

#[tokio::test]
async fn auto_delete_exchange_goes_when_its_last_bound_queue_is_deleted() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = routing_setup(&conn, &["q1"]).await;
    declare_auto_delete(&ch, "ad").await;
    bind(&ch, "q1", "ad", "a").await;
    within(ch.queue_delete("q1".into(), QueueDeleteOptions::default()))
        .await
        .unwrap();
    assert!(!exchange_exists(&conn, "ad").await);
}

#[tokio::test]
async fn unknown_exchange_type_closes_the_connection() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let err = expect_amqp_err(ch.exchange_declare(
        "weird".into(),
        ExchangeKind::Custom("x-no-such-type".into()),
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await;
    assert_reply(&err, 503, "COMMAND_INVALID");
    assert_reply(&err, 503, "invalid exchange type 'x-no-such-type'");
    common::eventually(|| !conn.status().connected()).await;
    // Nothing was declared.
    let other = broker.lapin().await;
    assert!(!exchange_exists(&other, "weird").await);
}
