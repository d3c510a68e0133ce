//! A TCP proxy on loopback in front of the test database, which can go silent: connections stay
//! open and nothing is forwarded either way, as when a database fails over, a network partitions
//! or a server freezes. Refusing connections is easy to test; silence is the hard case.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A proxy to `127.0.0.1:5432` (or wherever `target` is); stops with the test's runtime.
pub struct SilentProxy {
    address: SocketAddr,
    silent: Arc<AtomicBool>,
}

impl SilentProxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let silent = Arc::new(AtomicBool::new(false));
        let flag = silent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let flag = flag.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        forward(client_read, server_write, flag.clone()),
                        forward(server_read, client_write, flag)
                    );
                });
            }
        });
        Self { address, silent }
    }

    /// The proxy's port, for a connection URL.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// From now on nothing is forwarded, on open connections or new ones; they stay open.
    pub fn go_silent(&self) {
        self.silent.store(true, Ordering::SeqCst);
    }

    /// New connections are forwarded again (those that were silenced stay dead, as after a real
    /// failover).
    pub fn answer_again(&self) {
        self.silent.store(false, Ordering::SeqCst);
    }
}

/// Copies one direction until either side closes; while silent, reads are held back unforwarded
/// for good.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    silent: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if silent.load(Ordering::SeqCst) {
            // Hold the connection open and say nothing, forever.
            std::future::pending::<()>().await;
        }
        let read =
            match tokio::time::timeout(Duration::from_millis(50), from.read(&mut buffer)).await {
                Err(_) => continue,
                Ok(Ok(0) | Err(_)) => return,
                Ok(Ok(n)) => n,
            };
        if silent.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
