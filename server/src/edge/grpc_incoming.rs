//! The gRPC port's connections: at most `grpc_max_connections` open (one
//! more is closed at once and metered), and each must start talking
//! within `grpc_handshake_timeout` or be cut, so that connections that
//! never send a byte cannot hold the port full.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures::{Stream, StreamExt};
use opentelemetry::metrics::Meter;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Sleep,
};
use tonic::transport::server::{Connected, TcpIncoming};

use super::EdgeConfig;

/// The accepted connections of `incoming` that fit the limits.
pub fn limited(
    incoming: TcpIncoming,
    limits: &EdgeConfig,
    meter: &Meter,
) -> impl Stream<Item = io::Result<LimitedConnection>> + Send + use<> {
    let permits = Arc::new(Semaphore::new(limits.grpc_max_connections));
    let handshake_timeout = limits.grpc_handshake_timeout;
    let (refused, surface) = super::refused_connections(meter, "grpc");
    incoming.filter_map(move |accepted| {
        let answer = match accepted {
            Err(err) => Some(Err(err)),
            Ok(stream) => match permits.clone().try_acquire_owned() {
                Ok(permit) => Some(Ok(LimitedConnection {
                    stream,
                    _permit: permit,
                    first_byte_deadline: Some(Box::pin(tokio::time::sleep(handshake_timeout))),
                })),
                Err(_) => {
                    refused.add(1, &surface);
                    None
                }
            },
        };
        std::future::ready(answer)
    })
}

/// One accepted gRPC connection, holding its place in the limit.
pub struct LimitedConnection {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    /// Until the first byte arrives: when the connection is cut.
    first_byte_deadline: Option<Pin<Box<Sleep>>>,
}

impl Connected for LimitedConnection {
    type ConnectInfo = <TcpStream as Connected>::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for LimitedConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        if let Some(deadline) = self.first_byte_deadline.as_mut() {
            if buf.filled().len() > before {
                self.first_byte_deadline = None;
            } else if read.is_pending() && deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client sent nothing within the handshake timeout",
                )));
            }
        }
        read
    }
}

impl AsyncWrite for LimitedConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
