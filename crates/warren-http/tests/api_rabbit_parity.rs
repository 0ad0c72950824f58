//! Management API answers checked against RabbitMQ 3.10.8's by hand: the
//! consumers of a single-active-consumer queue, and an alternate-exchange
//! argument that is not a string.

mod common;

use common::{eventually, within, TestApi};
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use serde_json::json;

#[tokio::test]
async fn single_active_consumer_shows_one_active_and_the_others_waiting() {
    let api = TestApi::start().await;
    let conn = api.lapin().await;
    let ch = within(conn.create_channel()).await.unwrap();
    let mut args = FieldTable::default();
    args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    within(ch.queue_declare("sac".into(), QueueDeclareOptions::default(), args))
        .await
        .unwrap();
    within(ch.queue_declare(
        "plain".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let mut high = FieldTable::default();
    high.insert("x-priority".into(), AMQPValue::LongInt(5));
    // lapin cancels a consumer whose handle is dropped: keep them.
    let mut kept = Vec::new();
    for (queue, tag, args) in [
        ("sac", "first", FieldTable::default()),
        ("sac", "second", high),
        ("plain", "plain", FieldTable::default()),
    ] {
        kept.push(
            within(ch.basic_consume(
                queue.into(),
                tag.into(),
                BasicConsumeOptions::default(),
                args,
            ))
            .await
            .unwrap(),
        );
    }
    let consumers = eventually("three consumers listed", || async {
        let c = api.get("/api/consumers/%2F").await;
        (c.as_array().map(Vec::len) == Some(3)).then_some(c)
    })
    .await;
    let status = |tag: &str| {
        let c = consumers
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["consumer_tag"] == tag)
            .unwrap_or_else(|| panic!("consumer {tag} in {consumers}"));
        (c["active"].clone(), c["activity_status"].clone())
    };
    assert_eq!(status("first"), (json!(true), json!("single_active")));
    assert_eq!(status("second"), (json!(false), json!("waiting")));
    assert_eq!(status("plain"), (json!(true), json!("up")));
    let sac = api.get("/api/queues/%2F/sac").await;
    assert_eq!(sac["single_active_consumer_tag"], "first");
    let plain = api.get("/api/queues/%2F/plain").await;
    assert_eq!(plain["single_active_consumer_tag"], json!(null));
}

#[tokio::test]
async fn alternate_exchange_argument_of_another_type_is_a_bad_request() {
    let api = TestApi::start().await;
    for (value, kind) in [(json!(5), "long"), (json!(true), "bool")] {
        let body = json!({"type": "direct", "arguments": {"alternate-exchange": value}});
        let answer = api
            .guest("PUT", "/api/exchanges/%2F/ae-http", Some(body))
            .await;
        assert_eq!(answer.status, 400, "{}", answer.json);
        assert_eq!(answer.json["error"], "bad_request");
        // RabbitMQ's reason is the text alone; Warren's API puts the AMQP
        // name in front of every core error ("PRECONDITION_FAILED - ...").
        let text = format!(
            "invalid type '{kind}' for arg 'alternate-exchange' in exchange 'ae-http' in vhost '/'"
        );
        let reason = answer.json["reason"].as_str().unwrap();
        assert!(reason.ends_with(&text), "{reason}");
    }
    let body = json!({"type": "direct", "arguments": {"alternate-exchange": "ae"}});
    let answer = api
        .guest("PUT", "/api/exchanges/%2F/ae-http", Some(body))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.json);
}
