//! The connection task: reads frames, hands them to channels, writes replies
//! and deliveries with one write per wake-up, sends and checks heartbeats, and
//! cleans up (requeue, exclusive queues) when the connection ends.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use warren_codec::frame::decode_frame;
use warren_codec::method::{decode_method, method_ids, Method};
use warren_codec::spec::{channel as c, connection, AMQPClass};
use warren_codec::{encode, Frame, FrameKind};
use warren_core::alarms::AlarmSet;
use warren_core::publish::Publisher;
use warren_core::{Broker, BrokerError, Queue};

use crate::channel::{Channel, Fault};
use crate::config::AmqpConfig;
use crate::error::AmqpError;
use crate::flow::Flow;
use crate::handshake::{codec_error, HandshakeError};
use crate::outbox::Outgoing;
use crate::session::Session;
use crate::text::reply_text;
use crate::tls::AmqpsSettings;
use crate::transport::Transport;

#[cfg(test)]
mod panic_guard_tests;

/// Output beyond this many bytes stops reading input and draining deliveries
/// until the socket takes it.
const OUT_HIGH_WATER: usize = 1 << 20;
/// Most bytes read from the socket in one wake-up before processing them.
const READ_CHUNK: usize = 128 * 1024;
/// Smallest and largest read-buffer growth step: an idle connection keeps a
/// small buffer; one whose reads fill the buffer doubles the step up to the max.
const READ_RESERVE_MIN: usize = 4 * 1024;
const READ_RESERVE_MAX: usize = 64 * 1024;
/// Longest time a closed connection waits for the client's close-ok or its
/// end of the socket (RabbitMQ's ?CLOSING_TIMEOUT); a shorter negotiated
/// heartbeat interval is used instead, as rabbit_reader does.
const CLOSING_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection closed by the node's shutdown waits for close-ok.
const SHUTDOWN_CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// What ends the main loop.
enum Phase {
    /// Normal operation.
    Open,
    /// connection.close or close-ok sent (RabbitMQ's `closed` state): input
    /// is read and discarded, except connection.close (answered with
    /// close-ok) and close-ok (which ends the connection), until the client
    /// ends its side of the socket or the deadline passes.
    Closing(Instant),
    /// Flush what is buffered, then drop the socket.
    Finishing,
}

struct Connection {
    session: Session,
    peer: SocketAddr,
    channels: HashMap<u16, Channel>,
    input: BytesMut,
    /// How much to grow `input` by when it runs short (adapts to the traffic).
    read_reserve: usize,
    pending: VecDeque<Outgoing>,
    heartbeat: Duration,
    last_read: Instant,
    last_write: Instant,
    phase: Phase,
    flow: Flow,
    /// The node's shutdown has been seen (and acted on).
    shutdown_seen: bool,
}

/// Serves one accepted socket (TLS on the amqps listener) until it closes.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
    tls: Option<AmqpsSettings>,
    config: Arc<AmqpConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let label = crate::log_lines::connection_label(peer, stream.local_addr().ok());
    crate::log_lines::accepting(&label);
    let timeout = config.handshake_timeout;
    // The handshake timeout covers the TLS handshake too.
    let opening = crate::accept::open(stream, peer, &broker, &config, tls.as_ref());
    let (mut stream, handshake) = match tokio::time::timeout(timeout, opening).await {
        Ok(Ok(h)) => h,
        Ok(Err(HandshakeError::Refused(e))) => {
            tracing::info!(target: "warren::connection", "closing AMQP connection ({label}): {e}");
            return;
        }
        Ok(Err(e @ HandshakeError::Tls(_))) => {
            tracing::warn!(%peer, "closing AMQP connection: {e}");
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(%peer, "AMQP handshake failed: {e}");
            return;
        }
        Err(_) => {
            tracing::warn!(%peer, "closing AMQP connection: handshake timeout after {timeout:?}");
            return;
        }
    };
    tracing::debug!(%peer, user = %handshake.session.user, vhost = %handshake.session.vhost.name, "AMQP connection opened");
    let now = Instant::now();
    let mut alarms = broker.alarms.subscribe();
    let flow = Flow::new(*alarms.borrow_and_update(), &handshake.session);
    let mut conn = Connection {
        session: handshake.session,
        peer,
        channels: HashMap::new(),
        input: handshake.input,
        read_reserve: READ_RESERVE_MIN,
        pending: VecDeque::new(),
        heartbeat: Duration::from_secs(handshake.heartbeat as u64),
        last_read: now,
        last_write: now,
        phase: Phase::Open,
        flow,
        shutdown_seen: false,
    };
    let outcome = {
        let run = std::pin::pin!(conn.run(&mut stream, &mut shutdown, &mut alarms));
        CatchPanic(run).await
    };
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(%peer, "AMQP connection socket error: {e}"),
        Err(panic) => tracing::error!(
            %peer,
            "AMQP connection task failed ({}); closing it and releasing its consumers, queues and channels",
            panic_message(panic.as_ref())
        ),
    }
    stream.close();
    {
        let meta = &conn.session.info.meta;
        let name = meta
            .client_properties
            .get("connection_name")
            .and_then(|v| v.as_str());
        crate::log_lines::closing(&label, name, &meta.vhost, &meta.user);
    }
    // The connection's Drop gives everything back (see `impl Drop for Connection`).
    drop(conn);
}

/// Polls a future, turning a panic inside it into an error, so that a
/// connection's cleanup runs as ordinary code rather than during unwinding.
struct CatchPanic<F>(F);

impl<F: std::future::Future + Unpin> std::future::Future for CatchPanic<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = std::pin::Pin::new(&mut self.0);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(output)) => std::task::Poll::Ready(Ok(output)),
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    }
}

/// The message a panic was raised with, when it has one.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
}

/// The drop guard of everything a connection registered: however its task
/// ends (a close, a socket error, a panic caught in [`serve`], or the task
/// being aborted at shutdown), its consumers leave their queues (a
/// single-active-consumer queue moves on to the next consumer), unacked and
/// undelivered messages go back, and its channels leave the registry. The
/// session's own guard then deletes its exclusive queues and unregisters it.
impl Drop for Connection {
    fn drop(&mut self) {
        self.cleanup();
    }
}

impl Connection {
    async fn run(
        &mut self,
        stream: &mut Transport,
        shutdown: &mut watch::Receiver<bool>,
        alarms: &mut watch::Receiver<AlarmSet>,
    ) -> std::io::Result<()> {
        let outbox = self.session.outbox.clone();
        if *shutdown.borrow() {
            self.close_for_shutdown();
        }
        // Frames the client pipelined behind connection.open arrived with
        // the handshake: no read event will announce them.
        self.process_input();
        loop {
            self.drain_outbox();
            self.flush(stream)?;
            if matches!(self.phase, Phase::Finishing)
                && self.session.out.is_empty()
                && !stream.wants_write()
            {
                return Ok(());
            }
            let room = self.session.out.len() < OUT_HIGH_WATER;
            let deadline = self.next_deadline();
            tokio::select! {
                ready = stream.readable(), if room && self.reading() => {
                    ready?;
                    let (open, busy) = self.read(stream)?;
                    // Bytes that arrived with the peer's FIN still count (a
                    // publish just before a half-close is routed, as in RabbitMQ).
                    self.process_input();
                    if !open {
                        return Ok(());
                    }
                    if busy {
                        // More input is waiting. Let the tasks this batch woke (consumers
                        // of the queues just published to) run before reading again:
                        // a woken task sits in this worker's LIFO slot, which the other
                        // worker cannot steal.
                        tokio::task::yield_now().await;
                    }
                }
                // TLS may have records to send with no AMQP output pending.
                ready = stream.writable(), if !self.session.out.is_empty() || stream.wants_write() => ready?,
                _ = outbox.wait(), if room => {}
                // drain_outbox stopped at the high-water mark and the socket has
                // since taken everything: no event will come for the rest.
                _ = std::future::ready(()), if room && !self.pending.is_empty() => {}
                changed = alarms.changed() => {
                    if changed.is_ok() {
                        let set = *alarms.borrow_and_update();
                        if self.flow.on_alarms(set, &mut self.session) {
                            self.last_read = Instant::now();
                            self.process_input();
                        }
                    }
                }
                changed = shutdown.changed(), if !self.shutdown_seen => {
                    if changed.is_err() || *shutdown.borrow() {
                        self.close_for_shutdown();
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if !self.on_timer() {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Whether the socket is read: not when finishing, nor while blocked by
    /// a resource alarm (unless closing, to see close-ok).
    fn reading(&self) -> bool {
        match self.phase {
            Phase::Finishing => false,
            Phase::Closing(_) => true,
            Phase::Open => !self.flow.blocked() && self.session.commits_waiting == 0,
        }
    }

    /// Reads what the socket has. Returns (still open, read a full chunk).
    fn read(&mut self, stream: &mut Transport) -> std::io::Result<(bool, bool)> {
        let mut total = 0;
        while total < READ_CHUNK {
            if self.input.capacity() - self.input.len() < self.read_reserve / 4 {
                self.input.reserve(self.read_reserve);
            }
            let spare = self.input.capacity() - self.input.len();
            match stream.try_read_buf(&mut self.input) {
                Ok(0) => return Ok((false, false)),
                Ok(n) => {
                    total += n;
                    if n == spare {
                        self.read_reserve = (self.read_reserve * 2).min(READ_RESERVE_MAX);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if total > 0 {
            self.last_read = Instant::now();
            let info = &self.session.info;
            info.recv_oct.fetch_add(total as u64, Relaxed);
            info.recv_cnt.fetch_add(1, Relaxed);
        }
        Ok((true, total >= READ_CHUNK))
    }

    fn flush(&mut self, stream: &mut Transport) -> std::io::Result<()> {
        while !self.session.out.is_empty() {
            match stream.try_write(&self.session.out) {
                Ok(n) => {
                    self.session.out.advance(n);
                    self.last_write = Instant::now();
                    let info = &self.session.info;
                    info.send_oct.fetch_add(n as u64, Relaxed);
                    info.send_cnt.fetch_add(1, Relaxed);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        stream.flush_pending()?;
        if self.session.out.is_empty() && self.session.out.capacity() > 4 * OUT_HIGH_WATER {
            self.session.out = BytesMut::new();
        }
        Ok(())
    }

    fn next_deadline(&self) -> Instant {
        let heartbeat = match self.phase {
            // Heartbeats go on while closed, as rabbit_heartbeat's sender does.
            Phase::Closing(deadline) if self.heartbeat.is_zero() => return deadline,
            Phase::Closing(deadline) => return deadline.min(self.last_write + self.heartbeat / 2),
            _ if self.heartbeat.is_zero() => Instant::now() + Duration::from_secs(3600),
            // Blocked: the peer's heartbeats are not read, so not checked (as RabbitMQ).
            _ if self.flow.blocked() => self.last_write + self.heartbeat / 2,
            _ => (self.last_write + self.heartbeat / 2).min(self.last_read + self.heartbeat * 2),
        };
        let Some(timeout) = self.session.broker.config.consumer_timeout else {
            return heartbeat;
        };
        self.channels
            .values()
            .filter_map(|c| c.ack_deadline(timeout))
            .fold(heartbeat, Instant::min)
    }

    /// Closes channels holding a delivery unacknowledged past consumer_timeout.
    fn check_consumer_timeouts(&mut self, now: Instant) {
        let Some(timeout) = self.session.broker.config.consumer_timeout else {
            return;
        };
        let expired: Vec<(u16, BrokerError)> = self
            .channels
            .iter()
            .filter_map(|(id, c)| c.ack_timed_out(now, timeout).map(|e| (*id, e)))
            .collect();
        for (id, error) in expired {
            tracing::warn!(peer = %self.peer, channel = id, "consumer timed out waiting for delivery acknowledgement, timeout used: {} ms", timeout.as_millis());
            self.fail(id, Fault::new(error, (0, 0)));
        }
    }

    /// Sends a heartbeat when idle, gives up on a silent peer or an unanswered
    /// close; false ends the connection.
    fn on_timer(&mut self) -> bool {
        let now = Instant::now();
        if let Phase::Closing(deadline) = self.phase {
            if now >= deadline {
                return false;
            }
            if !self.heartbeat.is_zero() && now >= self.last_write + self.heartbeat / 2 {
                encode::write_heartbeat(&mut self.session.out);
            }
            return true;
        }
        self.check_consumer_timeouts(now);
        if self.heartbeat.is_zero() {
            return true;
        }
        if !self.flow.blocked() && now >= self.last_read + self.heartbeat * 2 {
            tracing::warn!(peer = %self.peer, "missed heartbeats from client, timeout: {}s", self.heartbeat.as_secs());
            return false;
        }
        if now >= self.last_write + self.heartbeat / 2 {
            encode::write_heartbeat(&mut self.session.out);
        }
        true
    }

    fn process_input(&mut self) {
        self.session.now = Instant::now();
        loop {
            if matches!(self.phase, Phase::Finishing) {
                self.input.clear();
                break;
            }
            if matches!(self.phase, Phase::Open)
                && (self.flow.blocked() || self.session.commits_waiting > 0)
            {
                break;
            }
            match decode_frame(&mut self.input, self.session.frame_max) {
                Ok(Some(frame)) => self.handle_frame(frame),
                Ok(None) => break,
                Err(e) => {
                    self.input.clear();
                    if let Phase::Closing(_) = self.phase {
                        // Broken framing while closed: rabbit_reader's
                        // fatal_frame_error ends the connection.
                        self.phase = Phase::Finishing;
                    }
                    self.close_connection(codec_error(e), (0, 0));
                    break;
                }
            }
        }
        for channel in self.channels.values_mut() {
            channel.flush_confirms(&mut self.session);
        }
        let charge = std::mem::take(&mut self.session.memory_charge);
        if charge > 0 {
            self.session.broker.alarms.charge(charge);
        }
    }

    fn handle_frame(&mut self, frame: Frame) {
        #[cfg(test)]
        if frame.channel == panic_guard_tests::PANIC_CHANNEL {
            panic!("test hook: a panic inside the connection task");
        }
        if let Phase::Closing(_) = self.phase {
            self.while_closing(frame);
            return;
        }
        if frame.channel == 0 {
            self.handle_connection_frame(frame);
            return;
        }
        let ids = method_ids(&frame.payload).unwrap_or((0, 0));
        let is_method = frame.kind == FrameKind::Method;
        if is_method && ids == (60, 40) {
            self.flow.on_publish(&mut self.session);
        }
        let Some(channel) = self.channels.get_mut(&frame.channel) else {
            if is_method && ids == (20, 10) {
                self.open_channel(frame.channel);
            } else if is_method {
                self.close_connection(AmqpError::Channel("expected 'channel.open'".into()), ids);
            } else {
                // RabbitMQ: a content or heartbeat frame where a method belongs.
                self.close_connection(
                    AmqpError::UnexpectedFrame(
                        "expected method frame, got non method frame instead".into(),
                    ),
                    (0, 0),
                );
            }
            return;
        };
        if is_method && ids == (20, 40) {
            self.close_channel_by_client(frame.channel);
            return;
        }
        if channel.closing {
            if is_method && ids == (20, 41) {
                self.forget_channel(frame.channel);
            }
            return;
        }
        let channel_id = frame.channel;
        if let Err(fault) = channel.handle_frame(frame, &mut self.session) {
            self.fail(channel_id, fault);
        }
    }

    fn fail(&mut self, channel_id: u16, fault: Fault) {
        let ids = (fault.class_id, fault.method_id);
        if fault.error.closes_connection() {
            self.close_connection_on(channel_id, fault.error, ids);
            return;
        }
        let meta = &self.session.info.meta;
        crate::log_lines::channel_error(
            &meta.name,
            &meta.vhost,
            &meta.user,
            channel_id,
            ids,
            &fault.error,
        );
        if let Some(channel) = self.channels.get_mut(&channel_id) {
            channel.release(&mut self.session);
            channel.closing = true;
            let close = c::Close {
                reply_code: fault.error.reply_code(),
                reply_text: reply_text(&fault.error.to_string()),
                class_id: ids.0,
                method_id: ids.1,
            };
            self.session
                .send(channel_id, AMQPClass::Channel(c::AMQPMethod::Close(close)));
        }
    }

    fn open_channel(&mut self, id: u16) {
        let max = self.session.channel_max;
        if id > max {
            let e = BrokerError::NotAllowed(format!(
                "channel number {id} exceeds the negotiated channel_max ({max})"
            ));
            self.close_connection(e, (20, 10));
            return;
        }
        let info = self
            .session
            .broker
            .registry
            .open_channel(&self.session.info, id);
        let publisher = Publisher::new(
            self.session.broker.clone(),
            self.session.vhost.clone(),
            self.session.user.as_str(),
        );
        self.channels.insert(id, Channel::new(id, info, publisher));
        self.session
            .send(id, AMQPClass::Channel(c::AMQPMethod::OpenOk(c::OpenOk {})));
    }

    fn forget_channel(&mut self, id: u16) -> Option<Channel> {
        let channel = self.channels.remove(&id)?;
        let session = &self.session;
        session.broker.registry.close_channel(&session.info, id);
        Some(channel)
    }

    fn close_channel_by_client(&mut self, id: u16) {
        if let Some(mut channel) = self.forget_channel(id) {
            channel.release(&mut self.session);
        }
        self.session.send(
            id,
            AMQPClass::Channel(c::AMQPMethod::CloseOk(c::CloseOk {})),
        );
    }

    fn handle_connection_frame(&mut self, frame: Frame) {
        match frame.kind {
            FrameKind::Heartbeat => {}
            FrameKind::Method => {
                let ids = method_ids(&frame.payload).unwrap_or((0, 0));
                match decode_method(frame.payload) {
                    Ok(Method::Other(AMQPClass::Connection(m))) => {
                        self.handle_connection_method(m, ids)
                    }
                    Ok(_) => self.close_connection(unexpected_on_channel_0(), ids),
                    Err(e) => self.close_connection(codec_error(e), ids),
                }
            }
            _ => self.close_connection(
                AmqpError::UnexpectedFrame("content frame on channel 0".into()),
                (0, 0),
            ),
        }
    }

    fn handle_connection_method(&mut self, m: connection::AMQPMethod, ids: (u16, u16)) {
        match m {
            connection::AMQPMethod::Close(close) => {
                tracing::debug!(peer = %self.peer, "client closed connection: {} {}", close.reply_code, close.reply_text.as_str());
                // Everything before the close has been handled in order; what
                // follows it is discarded. As rabbit_reader, the socket stays
                // open after close-ok until the client closes it, so that a
                // client still writing does not see a reset.
                self.release_channels();
                self.delete_exclusive_queues();
                self.send_close_ok();
                self.phase = Phase::Closing(Instant::now() + self.closing_timeout());
            }
            connection::AMQPMethod::CloseOk(_) => {}
            connection::AMQPMethod::UpdateSecret(update) => self.update_secret(&update),
            _ => self.close_connection(unexpected_on_channel_0(), ids),
        }
    }

    /// Frames arriving after we sent connection.close: only close-ok (or the
    /// client's own close) matters.
    fn while_closing(&mut self, frame: Frame) {
        if frame.channel != 0 || frame.kind != FrameKind::Method {
            return;
        }
        match method_ids(&frame.payload) {
            Ok((10, 51)) => self.phase = Phase::Finishing,
            // Answered, and the connection keeps waiting for the client's
            // close-ok or end of socket (rabbit_reader in its closed state).
            Ok((10, 50)) => self.send_close_ok(),
            _ => {}
        }
    }

    fn send_close_ok(&mut self) {
        self.session.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})),
        );
    }

    /// connection.update-secret: the internal user database keeps no
    /// per-connection credential state to refresh, so, as RabbitMQ with its
    /// internal backend (which accepts any new secret), it is acknowledged.
    fn update_secret(&mut self, update: &connection::UpdateSecret) {
        tracing::info!(peer = %self.peer, user = %self.session.user, "user updated secret, reason: {}", update.reason.as_str());
        self.session.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::UpdateSecretOk(
                connection::UpdateSecretOk {},
            )),
        );
    }

    /// How long a closed connection waits for the client (rabbit_reader's
    /// close_connection/1: the heartbeat interval if shorter than 30 s).
    fn closing_timeout(&self) -> Duration {
        if self.heartbeat.is_zero() {
            CLOSING_TIMEOUT
        } else {
            self.heartbeat.min(CLOSING_TIMEOUT)
        }
    }

    /// Closes with 320 for the node's shutdown, waiting only briefly for
    /// close-ok: the node is going away.
    fn close_for_shutdown(&mut self) {
        self.shutdown_seen = true;
        self.close_connection(force_shutdown(), (0, 0));
        if let Phase::Closing(deadline) = self.phase {
            let soon = Instant::now() + SHUTDOWN_CLOSE_TIMEOUT;
            self.phase = Phase::Closing(deadline.min(soon));
        }
    }

    /// Sends connection.close for `error` and stops processing other frames.
    fn close_connection(&mut self, error: impl Into<AmqpError>, ids: (u16, u16)) {
        self.close_connection_on(0, error, ids);
    }

    /// [`Connection::close_connection`] for an error on `channel` (named in the log).
    fn close_connection_on(&mut self, channel: u16, error: impl Into<AmqpError>, ids: (u16, u16)) {
        let error = error.into();
        if !matches!(self.phase, Phase::Open) {
            return;
        }
        match &error {
            AmqpError::ConnectionForced(_) => {
                tracing::warn!(target: "warren::connection", "closing AMQP connection ({}): {error}", self.session.info.meta.name)
            }
            _ => {
                let m = &self.session.info.meta;
                crate::log_lines::connection_error(&m.name, &m.vhost, &m.user, channel, ids, &error)
            }
        }
        self.flow.release(&self.session);
        self.release_channels();
        self.delete_exclusive_queues();
        let close = connection::Close {
            reply_code: error.reply_code(),
            reply_text: reply_text(&error.to_string()),
            class_id: ids.0,
            method_id: ids.1,
        };
        self.session.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Close(close)),
        );
        self.phase = Phase::Closing(Instant::now() + self.closing_timeout());
    }

    fn release_channels(&mut self) {
        for (_, mut channel) in self.channels.drain() {
            channel.release(&mut self.session);
        }
    }

    /// Moves deliveries from the outbox into the output buffer while it has room.
    fn drain_outbox(&mut self) {
        self.session.now = Instant::now();
        if let Some(reason) = self.session.outbox.take_close_request() {
            self.close_connection(AmqpError::ConnectionForced(reason), (0, 0));
        }
        let mut batch = Vec::new();
        self.session.outbox.drain_into(&mut batch);
        self.pending.extend(batch);
        let commits_waiting = self.session.commits_waiting;
        let (mut written, mut written_bytes) = (0, 0);
        while self.session.out.len() < OUT_HIGH_WATER {
            let Some(item) = self.pending.pop_front() else {
                break;
            };
            match item {
                Outgoing::Deliver(d) => {
                    written += 1;
                    written_bytes += d.message.message.body_size();
                    match self.channels.get_mut(&d.consumer.channel) {
                        Some(channel) if channel.owns(&d.consumer) => {
                            channel.write_delivery(d, &mut self.session)
                        }
                        _ => return_undelivered(d),
                    }
                }
                Outgoing::Synced(channel, seq) => {
                    if let Some(channel) = self.channels.get_mut(&channel) {
                        channel.synced(seq);
                        channel.flush_confirms(&mut self.session);
                    }
                }
                Outgoing::Cancel(consumer) => {
                    if let Some(channel) = self.channels.get_mut(&consumer.channel) {
                        channel.consumer_cancelled(&consumer, &mut self.session);
                    }
                }
            }
        }
        if written > 0 && self.session.outbox.written(written, written_bytes) {
            self.channels.values().for_each(Channel::kick_queues);
        }
        if commits_waiting > 0 && self.session.commits_waiting == 0 {
            // The last held-back tx.commit-ok went out: input buffered
            // behind it is processed now.
            self.process_input();
        }
    }

    /// Gives everything back: channels' consumers are removed, their unacked
    /// messages and undelivered deliveries return to their queues. Runs from
    /// `Drop`; the exclusive queues and the registry entry are the session's.
    fn cleanup(&mut self) {
        self.release_channels();
        let mut batch = Vec::new();
        self.session.outbox.drain_into(&mut batch);
        self.pending.extend(batch);
        for item in self.pending.drain(..) {
            if let Outgoing::Deliver(d) = item {
                return_undelivered(d);
            }
        }
    }

    /// Deletes the connection's exclusive queues when it closes (before
    /// close-ok or connection.close goes out, as rabbit_reader's
    /// close_connection/1 does); the session's drop guard deletes any left
    /// when the task ends otherwise.
    fn delete_exclusive_queues(&mut self) {
        let exclusive: Vec<Arc<Queue>> = std::mem::take(&mut self.session.exclusive_queues);
        for queue in exclusive {
            self.session.vhost.remove_queue(&queue);
        }
    }
}

/// A delivery that could not be written (its consumer or channel is gone) goes
/// back to its queue as if it had never left.
fn return_undelivered(d: warren_core::Delivery) {
    match d.id {
        Some(id) => {
            d.queue
                .settle(&[id], warren_core::queue::Settlement::Return);
        }
        None => d.queue.requeue_undelivered(d.message),
    }
}

/// RabbitMQ's answer (rabbit_reader:handle_method0/2) to anything on channel 0
/// other than connection.close, close-ok and update-secret once running.
fn unexpected_on_channel_0() -> AmqpError {
    AmqpError::Channel("unexpected method in connection state running".into())
}

fn force_shutdown() -> AmqpError {
    AmqpError::ConnectionForced("broker forced connection closure with reason 'shutdown'".into())
}
