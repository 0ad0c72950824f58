//! The byte transport under one AMQP connection: a plain `TcpStream` (the
//! performance path, used directly) or TLS over one, driven through rustls's
//! sans-I/O API with the same readiness-style operations the connection loop
//! uses for plain TCP: `readable`/`writable`, `try_read_buf`, `try_write`.
//!
//! TLS specifics the loop must honour: rustls may hold ciphertext to send
//! with no plaintext pending (handshake leftovers, session tickets, key-update
//! answers, alerts), reported by [`Transport::wants_write`] and sent by
//! [`Transport::flush_pending`]; and it may hold decrypted plaintext while the
//! socket has nothing new, which [`Transport::readable`] reports as ready.

use std::io::{BufRead, ErrorKind, Read, Write};

use bytes::BytesMut;
use rustls::ServerConnection;
use tokio::net::TcpStream;

/// A connection's socket, plain or TLS.
pub enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: the rustls state is large).
    Tls(Box<TlsTransport>),
}

/// A TCP socket with an established rustls server session.
pub struct TlsTransport {
    tcp: TcpStream,
    tls: ServerConnection,
    /// The socket returned end-of-file.
    eof: bool,
    /// rustls holds plaintext (or a close) not yet handed out, so reading
    /// must not wait for the socket.
    buffered: bool,
}

impl TlsTransport {
    /// Wraps a socket whose TLS handshake has completed (e.g. tokio-rustls's
    /// acceptor, then `into_inner`). Plaintext rustls already decrypted is kept.
    pub fn new(tcp: TcpStream, mut tls: ServerConnection) -> std::io::Result<TlsTransport> {
        let state = tls.process_new_packets().map_err(invalid_data)?;
        Ok(TlsTransport {
            tcp,
            tls,
            eof: false,
            buffered: state.plaintext_bytes_to_read() > 0 || state.peer_has_closed(),
        })
    }

    /// Reads decrypted bytes into `buf` (at most its spare capacity).
    fn try_read_buf(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        loop {
            let spare = buf.capacity() - buf.len();
            match self.tls.reader().fill_buf() {
                Ok([]) => {
                    // close_notify received and everything read.
                    self.buffered = false;
                    return Ok(0);
                }
                Ok(chunk) => {
                    let n = chunk.len().min(spare.max(1));
                    buf.extend_from_slice(&chunk[..n]);
                    self.tls.reader().consume(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.buffered = false,
                // TCP EOF without close_notify, after every byte before it.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                    self.buffered = false;
                    return Ok(0);
                }
                Err(e) => return Err(e),
            }
            if self.eof {
                return Ok(0);
            }
            match self.tls.read_tls(&mut SocketIo(&self.tcp)) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            match self.tls.process_new_packets() {
                Ok(state) => {
                    self.buffered = state.plaintext_bytes_to_read() > 0 || state.peer_has_closed();
                }
                Err(e) => {
                    // Try to tell the peer why (rustls queued an alert).
                    let _ = self.flush_pending();
                    return Err(invalid_data(e));
                }
            }
        }
    }

    /// Encrypts as much of `buf` as rustls takes and sends what the socket takes.
    fn try_write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.flush_pending()?;
        let n = self.tls.writer().write(buf)?;
        self.flush_pending()?;
        if n == 0 && !buf.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Sends buffered ciphertext until done or the socket is full.
    fn flush_pending(&mut self) -> std::io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut SocketIo(&self.tcp)) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// `Read`/`Write` over a tokio socket's non-blocking `try_read`/`try_write`
/// (WouldBlock when not ready), for rustls's `read_tls`/`write_tls`.
struct SocketIo<'a>(&'a TcpStream);

impl Read for SocketIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for SocketIo<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.try_write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn invalid_data(e: rustls::Error) -> std::io::Error {
    std::io::Error::new(ErrorKind::InvalidData, e)
}

impl Transport {
    /// Waits until reading may make progress.
    pub async fn readable(&self) -> std::io::Result<()> {
        match self {
            Transport::Plain(s) => s.readable().await,
            Transport::Tls(t) if t.buffered || t.eof => Ok(()),
            Transport::Tls(t) => t.tcp.readable().await,
        }
    }

    /// Waits until the socket can take more bytes.
    pub async fn writable(&self) -> std::io::Result<()> {
        match self {
            Transport::Plain(s) => s.writable().await,
            Transport::Tls(t) => t.tcp.writable().await,
        }
    }

    /// Reads available application bytes into `buf` without waiting: Ok(0) at
    /// end of stream, `WouldBlock` when nothing is available.
    #[inline]
    pub fn try_read_buf(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        match self {
            Transport::Plain(s) => s.try_read_buf(buf),
            Transport::Tls(t) => t.try_read_buf(buf),
        }
    }

    /// Writes application bytes without waiting; returns how many were taken.
    #[inline]
    pub fn try_write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Transport::Plain(s) => s.try_write(buf),
            Transport::Tls(t) => t.try_write(buf),
        }
    }

    /// Whether bytes are waiting to be sent below the application layer
    /// (TLS records); always false for plain TCP.
    #[inline]
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.tls.wants_write(),
        }
    }

    /// Sends what [`Transport::wants_write`] reports, as far as the socket takes it.
    #[inline]
    pub fn flush_pending(&mut self) -> std::io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(t) => t.flush_pending(),
        }
    }

    /// Ends the session politely (TLS close_notify, best effort, no waiting).
    pub fn close(&mut self) {
        if let Transport::Tls(t) = self {
            t.tls.send_close_notify();
            let _ = t.flush_pending();
        }
    }
}
