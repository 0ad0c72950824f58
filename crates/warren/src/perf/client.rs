//! A small AMQP 0-9-1 client on raw frames for the load generator: it batches
//! writes and parses only what it needs, so it stays cheap per message.

use anyhow::{anyhow, bail, Context};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warren_codec::frame::decode_frame;
use warren_codec::method::{decode_method, Method};
use warren_codec::spec::{basic, channel, connection, exchange, queue, AMQPClass};
use warren_codec::{encode, Frame, FrameKind, LongString, PROTOCOL_HEADER};

/// Where and as whom to connect, parsed from an `amqp://` URI.
#[derive(Debug, Clone)]
pub struct Target {
    /// host:port.
    pub addr: String,
    /// User name.
    pub user: String,
    /// Password.
    pub pass: String,
    /// Virtual host.
    pub vhost: String,
}

impl Target {
    /// Parses `amqp://user:pass@host:port/vhost` (vhost URL-encoded, default "/").
    pub fn parse(uri: &str) -> anyhow::Result<Target> {
        let rest = uri
            .strip_prefix("amqp://")
            .ok_or_else(|| anyhow!("URI must start with amqp://"))?;
        let (auth, host_path) = rest.rsplit_once('@').unwrap_or(("guest:guest", rest));
        let (user, pass) = auth.split_once(':').unwrap_or((auth, ""));
        let (host, vhost) = host_path.split_once('/').unwrap_or((host_path, ""));
        let addr = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:5672")
        };
        let vhost = match vhost {
            "" => "/".to_string(),
            v => v.replace("%2f", "/").replace("%2F", "/"),
        };
        Ok(Target {
            addr,
            user: user.into(),
            pass: pass.into(),
            vhost,
        })
    }
}

/// An open connection with channel 1 open.
pub struct Client {
    stream: TcpStream,
    input: BytesMut,
    /// Bytes to write with the next [`Client::flush`].
    pub out: BytesMut,
    /// Negotiated frame_max.
    pub frame_max: usize,
}

impl Client {
    /// Connects, authenticates with PLAIN and opens channel 1.
    pub async fn connect(target: &Target) -> anyhow::Result<Client> {
        Client::connect_with(target, 1 << 16).await
    }

    /// Like [`Client::connect`], with an initial read buffer of `input_capacity`
    /// bytes (small for connections that stay idle).
    pub async fn connect_with(target: &Target, input_capacity: usize) -> anyhow::Result<Client> {
        let mut stream = TcpStream::connect(&target.addr)
            .await
            .with_context(|| format!("cannot connect to {}", target.addr))?;
        stream.set_nodelay(true)?;
        stream.write_all(&PROTOCOL_HEADER).await?;
        let mut client = Client {
            stream,
            input: BytesMut::with_capacity(input_capacity),
            out: BytesMut::new(),
            frame_max: 131_072,
        };
        match client.next_method(0).await? {
            AMQPClass::Connection(connection::AMQPMethod::Start(_)) => {}
            other => bail!("expected connection.start, got {other:?}"),
        }
        let response = format!("\0{}\0{}", target.user, target.pass);
        client.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::StartOk(connection::StartOk {
                client_properties: Default::default(),
                mechanism: "PLAIN".into(),
                response: LongString::from(response.into_bytes()),
                locale: "en_US".into(),
            })),
        );
        client.flush().await?;
        let tune = match client.next_method(0).await? {
            AMQPClass::Connection(connection::AMQPMethod::Tune(t)) => t,
            other => bail!("login failed: {other:?}"),
        };
        client.frame_max = tune.frame_max as usize;
        client.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::TuneOk(connection::TuneOk {
                channel_max: tune.channel_max,
                frame_max: tune.frame_max,
                heartbeat: 0,
            })),
        );
        client.send(
            0,
            AMQPClass::Connection(connection::AMQPMethod::Open(connection::Open {
                virtual_host: target.vhost.as_str().into(),
            })),
        );
        client.flush().await?;
        client
            .expect(0, |m| {
                matches!(m, AMQPClass::Connection(connection::AMQPMethod::OpenOk(_)))
            })
            .await?;
        client
            .call(AMQPClass::Channel(channel::AMQPMethod::Open(
                channel::Open {},
            )))
            .await?;
        Ok(client)
    }

    /// Appends a method on channel `ch` to the output buffer.
    pub fn send(&mut self, ch: u16, method: AMQPClass) {
        encode::write_method(&mut self.out, ch, &method);
    }

    /// Writes the output buffer.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        self.stream.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }

    /// Sends a method on channel 1 and waits for its reply.
    pub async fn call(&mut self, method: AMQPClass) -> anyhow::Result<AMQPClass> {
        self.send(1, method);
        self.flush().await?;
        self.next_method(1).await
    }

    async fn expect(
        &mut self,
        ch: u16,
        ok: impl Fn(&AMQPClass) -> bool,
    ) -> anyhow::Result<AMQPClass> {
        let m = self.next_method(ch).await?;
        if !ok(&m) {
            bail!("unexpected reply: {m:?}");
        }
        Ok(m)
    }

    /// The next frame from the broker.
    pub async fn next_frame(&mut self) -> anyhow::Result<Frame> {
        loop {
            if let Some(frame) = decode_frame(&mut self.input, 0)? {
                return Ok(frame);
            }
            if self.stream.read_buf(&mut self.input).await? == 0 {
                bail!("broker closed the connection");
            }
        }
    }

    /// Every complete frame already read, without waiting (after [`Client::fill`]).
    pub fn buffered_frame(&mut self) -> anyhow::Result<Option<Frame>> {
        Ok(decode_frame(&mut self.input, 0)?)
    }

    /// Reads at least one more chunk from the socket.
    pub async fn fill(&mut self) -> anyhow::Result<()> {
        // Frames already read (e.g. deliveries that arrived with consume-ok)
        // must be processed before waiting: the broker may send nothing more
        // until they are acknowledged.
        if self.has_complete_frame() {
            return Ok(());
        }
        if self.input.capacity() - self.input.len() < 32 * 1024 {
            self.input.reserve(1 << 16);
        }
        if self.stream.read_buf(&mut self.input).await? == 0 {
            bail!("broker closed the connection");
        }
        Ok(())
    }

    /// Whether the input buffer holds at least one whole frame.
    fn has_complete_frame(&self) -> bool {
        let b = &self.input;
        b.len() >= 7 && b.len() >= 8 + u32::from_be_bytes([b[3], b[4], b[5], b[6]]) as usize
    }

    /// The next method on channel `ch` (content and other channels skipped).
    pub async fn next_method(&mut self, ch: u16) -> anyhow::Result<AMQPClass> {
        loop {
            let frame = self.next_frame().await?;
            if frame.kind != FrameKind::Method || frame.channel != ch {
                continue;
            }
            match decode_method(frame.payload)? {
                Method::Other(AMQPClass::Connection(connection::AMQPMethod::Close(c))) => {
                    bail!(
                        "connection closed by broker: {} {}",
                        c.reply_code,
                        c.reply_text.as_str()
                    )
                }
                Method::Other(AMQPClass::Channel(channel::AMQPMethod::Close(c))) => {
                    bail!(
                        "channel closed by broker: {} {}",
                        c.reply_code,
                        c.reply_text.as_str()
                    )
                }
                Method::Other(m) => return Ok(m),
                _ => continue,
            }
        }
    }

    /// Declares a queue on channel 1.
    pub async fn declare_queue(&mut self, name: &str, durable: bool) -> anyhow::Result<()> {
        self.declare(queue::Declare {
            queue: name.into(),
            durable,
            ..Default::default()
        })
        .await?;
        Ok(())
    }

    /// Sends `queue.declare` on channel 1; returns the queue name and its message count.
    pub async fn declare(&mut self, declare: queue::Declare) -> anyhow::Result<(String, u32)> {
        match self
            .call(AMQPClass::Queue(queue::AMQPMethod::Declare(declare)))
            .await?
        {
            AMQPClass::Queue(queue::AMQPMethod::DeclareOk(ok)) => {
                Ok((ok.queue.as_str().to_string(), ok.message_count))
            }
            other => bail!("expected queue.declare-ok, got {other:?}"),
        }
    }

    /// Empties a queue.
    pub async fn purge(&mut self, name: &str) -> anyhow::Result<()> {
        self.call(AMQPClass::Queue(queue::AMQPMethod::Purge(queue::Purge {
            queue: name.into(),
            nowait: false,
        })))
        .await?;
        Ok(())
    }

    /// Declares (non-durable) a fresh, empty queue: declare then purge.
    pub async fn fresh_queue(&mut self, name: &str, durable: bool) -> anyhow::Result<()> {
        self.declare_queue(name, durable).await?;
        self.purge(name).await
    }

    /// Deletes a queue (and the messages left in it).
    pub async fn delete_queue(&mut self, name: &str) -> anyhow::Result<()> {
        self.call(AMQPClass::Queue(queue::AMQPMethod::Delete(queue::Delete {
            queue: name.into(),
            ..Default::default()
        })))
        .await?;
        Ok(())
    }

    /// Deletes the scenario's queues at the end of a run, so the next run starts
    /// from an empty broker; failures are reported, not fatal.
    pub async fn clean_up(&mut self, queues: &[String]) {
        for q in queues {
            if let Err(e) = self.delete_queue(q).await {
                eprintln!("cannot delete queue {q}: {e:#}");
            }
        }
    }

    /// Declares an exchange of `kind` (non-durable).
    pub async fn declare_exchange(&mut self, name: &str, kind: &str) -> anyhow::Result<()> {
        self.call(AMQPClass::Exchange(exchange::AMQPMethod::Declare(
            exchange::Declare {
                exchange: name.into(),
                kind: kind.into(),
                ..Default::default()
            },
        )))
        .await?;
        Ok(())
    }

    /// Binds `queue` to `exchange` with `key`.
    pub async fn bind(&mut self, queue: &str, exchange: &str, key: &str) -> anyhow::Result<()> {
        self.call(AMQPClass::Queue(queue::AMQPMethod::Bind(queue::Bind {
            queue: queue.into(),
            exchange: exchange.into(),
            routing_key: key.into(),
            ..Default::default()
        })))
        .await?;
        Ok(())
    }

    /// Starts a consumer on channel 1 with a server-generated tag.
    pub async fn consume(&mut self, queue: &str, no_ack: bool) -> anyhow::Result<()> {
        self.call(AMQPClass::Basic(basic::AMQPMethod::Consume(
            basic::Consume {
                queue: queue.into(),
                no_ack,
                ..Default::default()
            },
        )))
        .await?;
        Ok(())
    }

    /// basic.qos on channel 1.
    pub async fn qos(&mut self, prefetch: u16) -> anyhow::Result<()> {
        self.call(AMQPClass::Basic(basic::AMQPMethod::Qos(basic::Qos {
            prefetch_count: prefetch,
            global: false,
        })))
        .await?;
        Ok(())
    }
}
