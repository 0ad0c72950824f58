//! A small AMQP 0-9-1 client on raw frames for the load generator: it batches
//! writes and parses only what it needs, so it stays cheap per message.

use anyhow::{anyhow, bail, Context};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warren_codec::frame::decode_frame;
use warren_codec::method::{decode_method, Method};
use warren_codec::spec::{basic, channel, connection, queue, AMQPClass};
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
        let mut stream = TcpStream::connect(&target.addr)
            .await
            .with_context(|| format!("cannot connect to {}", target.addr))?;
        stream.set_nodelay(true)?;
        stream.write_all(&PROTOCOL_HEADER).await?;
        let mut client = Client {
            stream,
            input: BytesMut::with_capacity(1 << 16),
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
        if self.input.capacity() - self.input.len() < 32 * 1024 {
            self.input.reserve(1 << 16);
        }
        if self.stream.read_buf(&mut self.input).await? == 0 {
            bail!("broker closed the connection");
        }
        Ok(())
    }

    async fn next_method(&mut self, ch: u16) -> anyhow::Result<AMQPClass> {
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
        self.call(AMQPClass::Queue(queue::AMQPMethod::Declare(
            queue::Declare {
                queue: name.into(),
                durable,
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
