//! A bad network in front of a comparison server, for `cargo xtask bench --compare`'s lossy
//! scenario: weft-harness's `FaultProxy` on `127.0.0.1`, with latency, jitter, loss and a
//! bandwidth cap for both directions. It prints `listening on ADDR` and relays until killed.
//!
//! ```sh
//! cargo run --release -p weft-benches --example fault_proxy -- 127.0.0.1:9001 \
//!     --latency-ms 25 --loss 0.01
//! ```
//!
//! Loss is the delay of a retransmission (one round trip) for every 1448-byte segment that
//! is "lost"; the proxy splits TCP, so congestion control's reaction to loss is not modelled
//! (see `NetFaults::loss`).

use std::net::SocketAddr;
use std::time::Duration;

use weft_harness::{FaultProxy, NetFaults};

const USAGE: &str = "usage: fault_proxy UPSTREAM [--latency-ms N] [--jitter-ms N] [--loss P] \
                     [--bandwidth BYTES_PER_S] [--seed N]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let upstream: SocketAddr = args.next().ok_or(USAGE)?.parse()?;
    let mut faults = NetFaults::default();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(USAGE)?;
        faults = match flag.as_str() {
            "--latency-ms" => faults.latency(Duration::from_millis(value.parse()?)),
            "--jitter-ms" => faults.jitter(Duration::from_millis(value.parse()?)),
            "--loss" => faults.loss(value.parse()?),
            "--bandwidth" => faults.bandwidth(value.parse()?),
            "--seed" => faults.seed(value.parse()?),
            _ => return Err(USAGE.into()),
        };
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let proxy = FaultProxy::start(upstream, faults).await?;
        println!("listening on {}", proxy.addr());
        std::future::pending::<()>().await;
        Ok(())
    })
}
