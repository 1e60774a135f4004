//! The known HTTP/2 attacks against weft's server on its shared port, with the default limits:
//! rapid reset (CVE-2023-44487), a CONTINUATION flood (CVE-2024-27316), SETTINGS and PING
//! floods, streams opened past the concurrent-stream cap, and a peer that never opens its
//! window. Each attack comes from Python's `h2` (`tests/peers/python/h2_client.py`) on its
//! own connection while a weft client keeps echoing on another; the test asserts how the
//! server answered, that the other connection was served throughout, and that the peak RSS of
//! this process (which holds the server; this binary runs one test) stays bounded.

#[path = "peers/peers.rs"]
mod peers;
#[path = "peers/process.rs"]
#[allow(
    dead_code,
    reason = "shared with tests/interop.rs, which uses all of it"
)]
mod process;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;
use weft::{ClientBuilder, Message};
use weft_harness::TIMEOUT;

use peers::Peers;
use process::{Lang, PeerProcess};

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .expect("test step timed out")
}

/// `VmRSS` and `VmHWM` of this process, in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// An attack mode of `h2_client.py`, its count, and what the server's answer must look like.
type Attack = (&'static str, &'static str, fn(&Value) -> bool);

/// How much the peak RSS may grow over the whole run: each attack is bounded far below it
/// (the largest, a 4 MiB message that cannot be echoed, holds the message and its echo).
const PEAK_GROWTH_LIMIT_KIB: u64 = 64 << 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(weft_peers),
    ignore = "needs the interop peers: run `cargo xtask peers`"
)]
async fn http2_attacks_stay_bounded_and_other_connections_are_served() {
    let peers = Peers::get();
    let server = weft::Server::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let shutdown = server.shutdown_handle();
    tokio::spawn(server.serve(|mut ws, _| async move {
        while let Some(Ok(message)) = ws.next().await {
            if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                break;
            }
        }
    }));

    // The honest client: its own HTTP/2 connection, one WebSocket, echoing all along.
    let connection = bounded(ClientBuilder::new(format!("ws://{addr}")).connect_http2())
        .await
        .unwrap();
    let (mut honest, _) = bounded(connection.connect("/honest")).await.unwrap();
    for _ in 0..100 {
        bounded(honest.send(Message::binary(vec![1u8; 1024])))
            .await
            .unwrap();
        bounded(honest.next()).await.unwrap().unwrap();
    }
    let (baseline, _) = rss_kib();

    let attacks: [Attack; 6] = [
        // h2 closes the connection with ENHANCE_YOUR_CALM (11) once too many streams were
        // reset before being served.
        ("rapid-reset", "20000", |r| {
            r["goaway"] == 11 && r["closed"] == true
        }),
        // A header block that never ends past the header list limit: a connection error.
        ("continuation-flood", "20000", |r| r["closed"] == true),
        // Acknowledged as they come; the connection stays, bounded.
        ("settings-flood", "50000", |r| r["sent"] == 50_000),
        // One pong owed at a time; the connection stays, bounded.
        ("ping-flood", "50000", |r| r["sent"] == 50_000),
        // Streams past SETTINGS_MAX_CONCURRENT_STREAMS (100) are refused, the rest served.
        ("over-cap", "300", |r| r["refused"] == 200),
        // A 4 MiB message whose echo can never be sent: held, not multiplied.
        ("zero-window", "4194304", |r| r["sent"] == 4_194_304),
    ];
    let addr = addr.to_string();
    for (attack, count, answered) in attacks {
        let echoes = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut attacker =
            PeerProcess::start(&peers, Lang::Python, "h2_client", &[attack, &addr, count]);
        // The honest client echoes while the attack runs, until the attacker reports.
        let echoing = tokio::spawn({
            let (echoes, stop) = (echoes.clone(), stop.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    bounded(honest.send(Message::text("honest"))).await.unwrap();
                    let echo = bounded(honest.next()).await.unwrap().unwrap();
                    assert_eq!(echo, Message::text("honest"));
                    echoes.fetch_add(1, Ordering::Relaxed);
                }
                honest
            }
        });
        let result = attacker.json("the attack's report", TIMEOUT).await;
        stop.store(true, Ordering::Relaxed);
        honest = bounded(echoing).await.unwrap();
        let status = attacker.wait().await;
        assert!(status.success(), "{attack}: {status}");
        // And once more after it: the honest connection is still served.
        bounded(honest.send(Message::text("after"))).await.unwrap();
        assert_eq!(
            bounded(honest.next()).await.unwrap().unwrap(),
            Message::text("after")
        );
        let (rss, peak) = rss_kib();
        println!(
            "{attack} x{count}: {result}; honest echoes during it: {}; RSS {rss} KiB, \
             peak {peak} KiB (baseline {baseline} KiB)",
            echoes.load(Ordering::Relaxed)
        );
        assert!(answered(&result), "{attack}: {result}");
        assert!(
            peak.saturating_sub(baseline) < PEAK_GROWTH_LIMIT_KIB,
            "{attack}: peak RSS {peak} KiB over a baseline of {baseline} KiB"
        );
    }
    shutdown.shutdown();
}
