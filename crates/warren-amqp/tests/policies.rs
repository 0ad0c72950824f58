//! Policies and operator policies through the core API (`VHost::set_policy`):
//! they apply to existing queues and exchanges at once, the highest priority
//! wins, queue arguments override them as in RabbitMQ, and operator policies
//! cap numeric limits.

mod common;
mod support;

use common::{eventually, within, TestBroker};
use lapin::types::AMQPValue;
use support::*;
use warren_core::policy::{ApplyTo, PolicyKind, PolicySpec, PolicyValue};

fn spec(name: &str, pattern: &str, priority: i64, def: &[(&str, PolicyValue)]) -> PolicySpec {
    PolicySpec {
        name: name.into(),
        pattern: pattern.into(),
        apply_to: ApplyTo::Queues,
        priority,
        definition: def
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

#[tokio::test]
async fn policy_applies_to_existing_queue_at_once_and_clearing_lifts_it() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "lim.a").await;
    for body in ["1", "2", "3"] {
        publish(&ch, "", "lim.a", body.as_bytes()).await;
    }
    eventually(|| queue(&broker, "lim.a").message_count() == 3).await;
    let vhost = support::vhost(&broker);
    vhost
        .set_policy(
            PolicyKind::User,
            spec("cap", "^lim\\.", 0, &[("max-length", PolicyValue::Int(1))]),
        )
        .unwrap();
    assert_eq!(queue(&broker, "lim.a").message_count(), 1);
    assert_eq!(
        queue(&broker, "lim.a").settings().policy.as_deref(),
        Some("cap")
    );
    vhost.clear_policy(PolicyKind::User, "cap").unwrap();
    publish(&ch, "", "lim.a", b"4").await;
    assert_eq!(drain(&ch, "lim.a").await, ["3", "4"]);
    assert!(vhost.clear_policy(PolicyKind::User, "cap").is_err());
}

#[tokio::test]
async fn highest_priority_policy_wins_and_arguments_override() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let vhost = support::vhost(&broker);
    vhost
        .set_policy(
            PolicyKind::User,
            spec("low", ".*", 0, &[("max-length", PolicyValue::Int(1))]),
        )
        .unwrap();
    vhost
        .set_policy(
            PolicyKind::User,
            spec(
                "high",
                "^p",
                5,
                &[
                    ("max-length", PolicyValue::Int(5)),
                    (
                        "dead-letter-exchange",
                        PolicyValue::Str("from-policy".into()),
                    ),
                ],
            ),
        )
        .unwrap();
    let args = table(&[
        ("x-max-length", AMQPValue::LongInt(3)),
        ("x-dead-letter-exchange", s("from-args")),
    ]);
    declare_queue_with(&ch, "p1", Default::default(), args)
        .await
        .unwrap();
    declare_queue(&ch, "p2").await;
    declare_queue(&ch, "q").await;
    let p1 = queue(&broker, "p1").settings();
    assert_eq!(p1.policy.as_deref(), Some("high"));
    assert_eq!(p1.max_length, Some(3), "the smaller of argument and policy");
    assert_eq!(
        p1.dead_letter_exchange.as_deref(),
        Some("from-args"),
        "argument wins"
    );
    assert_eq!(queue(&broker, "p2").settings().max_length, Some(5));
    assert_eq!(queue(&broker, "q").settings().max_length, Some(1));
}

#[tokio::test]
async fn operator_policy_caps_user_policy() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_queue(&ch, "capped").await;
    let vhost = support::vhost(&broker);
    vhost
        .set_policy(
            PolicyKind::User,
            spec(
                "user",
                ".*",
                0,
                &[("message-ttl", PolicyValue::Int(60_000))],
            ),
        )
        .unwrap();
    vhost
        .set_policy(
            PolicyKind::Operator,
            spec("ops", ".*", 0, &[("message-ttl", PolicyValue::Int(1000))]),
        )
        .unwrap();
    let settings = queue(&broker, "capped").settings();
    assert_eq!(settings.message_ttl, Some(1000));
    assert_eq!(settings.operator_policy.as_deref(), Some("ops"));
    let err = vhost
        .set_policy(
            PolicyKind::Operator,
            spec(
                "bad",
                ".*",
                0,
                &[("overflow", PolicyValue::Str("drop-head".into()))],
            ),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "[<<\"overflow\">>] are not recognised policy settings"
    );
    assert_eq!(vhost.policies(PolicyKind::Operator).len(), 1);
}

#[tokio::test]
async fn policy_sets_alternate_exchange_and_dead_letter_exchange() {
    let broker = TestBroker::start().await;
    let conn = broker.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_exchange(&ch, "src", lapin::ExchangeKind::Direct).await;
    declare_queue(&ch, "caught").await;
    let vhost = support::vhost(&broker);
    let mut ae = spec(
        "ae",
        "^src$",
        0,
        &[("alternate-exchange", PolicyValue::Str("amq.fanout".into()))],
    );
    ae.apply_to = ApplyTo::Exchanges;
    vhost.set_policy(PolicyKind::User, ae).unwrap();
    bind(&ch, "caught", "amq.fanout", "").await;
    publish(&ch, "src", "nowhere", b"via-ae").await;
    assert_eq!(drain(&ch, "caught").await, ["via-ae"]);
    declare_queue(&ch, "dl.src").await;
    vhost
        .set_policy(
            PolicyKind::User,
            spec(
                "dlx",
                "^dl\\.src$",
                0,
                &[
                    ("dead-letter-exchange", PolicyValue::Str("".into())),
                    ("dead-letter-routing-key", PolicyValue::Str("caught".into())),
                ],
            ),
        )
        .unwrap();
    publish(&ch, "", "dl.src", b"rejected").await;
    let m = get(&ch, "dl.src").await.unwrap();
    within(ch.basic_reject(
        m.delivery.delivery_tag,
        lapin::options::BasicRejectOptions { requeue: false },
    ))
    .await
    .unwrap();
    eventually(|| queue(&broker, "caught").message_count() == 1).await;
    assert_eq!(drain(&ch, "caught").await, ["rejected"]);
}
