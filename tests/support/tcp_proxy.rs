//! A loopback TCP proxy that can cut every connection through it, as a
//! network partition or a stopped database looks to its clients: while
//! cut, live connections are dropped and new ones are closed at once.

use std::net::SocketAddr;

use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// A proxy from a loopback port to `target`.
pub struct TcpProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
    accepting: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts forwarding a new loopback port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let (up, watching) = watch::channel(true);
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !*watching.borrow() {
                    continue;
                }
                tokio::spawn(forward(client, target, watching.clone()));
            }
        });
        Self {
            addr,
            up,
            accepting,
        }
    }

    /// Drops every connection and refuses new ones until [`Self::restore`].
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}

/// Copies between `client` and `target` until either side closes or the
/// proxy is cut.
async fn forward(mut client: TcpStream, target: SocketAddr, mut up: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = copy_bidirectional(&mut client, &mut server) => {}
        _ = up.wait_for(|up| !*up) => {}
    }
}
