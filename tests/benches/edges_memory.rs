//! Memory of a real server under hostile input and a connection flood.
//! The server runs in this process, so its resident memory is this
//! process's: read before the hostile corpus (after a warm-up), after
//! each of `ROUNDS` walks of it, and, twice, while `FLOOD` connections are
//! held open on each port (HTTP: headers begun and never finished; gRPC:
//! nothing sent) and after the server has cut them.
//!
//! `cargo bench -p tradeplane-e2e --bench edges_memory`

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicIsize, Ordering},
    time::{Duration, Instant},
};

use tokio::{io::AsyncWriteExt, net::TcpStream};
use tradeplane_e2e::{TestServer, hostile};

/// Walks of the whole hostile corpus.
const ROUNDS: usize = 5;
/// Floods, one after the other (memory that a second flood does not grow
/// is kept by the allocator, not leaked).
const FLOODS: usize = 3;
/// Connections opened on each port.
const FLOOD: usize = 1_000;
/// How long the server may take to cut the flood (its header-read and
/// handshake timeouts are 10 s by default).
const CUT_WITHIN: Duration = Duration::from_secs(15);

/// The system allocator, counting the bytes that are live: what the
/// process holds, apart from what the allocator keeps for reuse.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[tokio::main]
async fn main() {
    let Some(start) = resident_mib() else {
        println!("skipped: /proc/self/status has no VmRSS on this system");
        return;
    };
    let server = TestServer::start().await;
    let channel = server.channel().await;
    // Warm-up: one walk, so that lazily built state is in the baseline.
    hostile::walk(&channel, 1).await;
    let before = resident_mib().unwrap_or_default();

    let mut rows = vec![
        ("at start".to_string(), start),
        ("server up, corpus walked once".to_string(), before),
    ];
    let started = Instant::now();
    let mut calls = 0;
    let mut bad = 0;
    for round in 1..=ROUNDS {
        let (made, failures) = hostile::walk(&channel, 1).await;
        calls += made;
        bad += failures.len();
        rows.push((
            format!("after walk {round} more"),
            resident_mib().unwrap_or_default(),
        ));
    }
    println!(
        "hostile corpus: {calls} calls in {:.1} s, {bad} bad answers",
        started.elapsed().as_secs_f64()
    );
    for flood_round in 1..=FLOODS {
        let (held, after, cut) = flood(&server).await;
        rows.push((
            format!("flood {flood_round}: {FLOOD} + {FLOOD} connections held"),
            held,
        ));
        rows.push((
            format!("flood {flood_round}: after the server cut {cut}"),
            after,
        ));
    }
    println!(
        "  {:<44} {:>8} {:>8}",
        "memory (MiB)", "resident", "live heap"
    );
    for (when, memory) in rows {
        println!(
            "  {when:<44} {:>8.1} {:>8.1}",
            memory.resident, memory.live_heap
        );
    }
    server.stop().await;
}

/// Opens [`FLOOD`] connections on each port and holds them until the
/// server cuts them; the resident memory while they are held and after,
/// and how many the server cut.
async fn flood(server: &TestServer) -> (Memory, Memory, usize) {
    let mut flood = Vec::with_capacity(2 * FLOOD);
    for _ in 0..FLOOD {
        let mut http = TcpStream::connect(server.http_addr).await.expect("connect");
        let _ = http
            .write_all(b"POST /webhooks/tradingview HTTP/1.1\r\nX-Slow: ")
            .await;
        flood.push(http);
        flood.push(TcpStream::connect(server.grpc_addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = resident_mib().unwrap_or_default();
    let started = Instant::now();
    let health = reqwest::get(server.http_url("/healthz")).await;
    println!(
        "/healthz during the flood: {:?} in {:.1} ms",
        health.map(|r| r.status()),
        started.elapsed().as_secs_f64() * 1e3
    );
    tokio::time::sleep(CUT_WITHIN).await;
    let after = resident_mib().unwrap_or_default();
    let cut = flood
        .iter()
        .filter(|stream| closed_by_server(stream))
        .count();
    (held, after, cut)
}
/// Memory in MiB: this process's resident set, and its live heap.
#[derive(Clone, Copy, Default)]
struct Memory {
    resident: f64,
    live_heap: f64,
}

/// This process's memory now.
fn resident_mib() -> Option<Memory> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(Memory {
        resident: kib / 1024.0,
        live_heap: LIVE_BYTES.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0),
    })
}

/// Whether the server closed `stream` (after anything it sent).
fn closed_by_server(stream: &TcpStream) -> bool {
    let mut buffer = [0u8; 256];
    loop {
        match stream.try_read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(err) => return err.kind() != std::io::ErrorKind::WouldBlock,
        }
    }
}
