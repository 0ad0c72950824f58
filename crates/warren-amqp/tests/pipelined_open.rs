//! A client may send its first methods right behind connection.open without
//! waiting for open-ok; they arrive in the same read as the handshake and
//! must be served at once (found by the `session` fuzz target: the broker
//! waited for more input before looking at them).

mod common;
mod raw;

use common::TestBroker;
use raw::{channel_open, pipelined_handshake, queue_declare, RawClient, Tune};
use warren_codec::spec::{channel, queue};
use warren_codec::AMQPClass;

#[tokio::test]
async fn methods_pipelined_behind_connection_open_are_served() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(&broker).await;
    let mut bytes = pipelined_handshake(Tune::default());
    bytes.extend_from_slice(&channel_open(1));
    bytes.extend_from_slice(&queue_declare(1, "pipelined", false));
    c.send(&bytes).await;
    c.expect_start().await;
    c.expect_tune().await;
    c.expect_open_ok().await;
    match c.method().await {
        (1, AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))) => {}
        other => panic!("expected channel.open-ok, got {other:?}"),
    }
    match c.method().await {
        (1, AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok))) => {
            assert_eq!(ok.queue.as_str(), "pipelined")
        }
        other => panic!("expected queue.declare-ok, got {other:?}"),
    }
    drop(c);
    broker.shutdown().await;
}
