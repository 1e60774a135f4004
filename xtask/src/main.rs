//! `cargo xtask`: weft's project tasks, run from anywhere inside the workspace.
//!
//! Every subcommand is declared in [`USAGE`] and dispatched in [`main`]; each lives in its own
//! module and shells out to `cargo` and friends with [`cmd::Cmd`], printing each command before
//! it runs so a CI log reads like a script.

mod autobahn;
mod bench;
mod ci;
mod cmd;
mod fuzz;
mod peers;
mod proc;
mod release;
mod soak;
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  ci          what CI checks: fmt, clippy -D warnings, tests, docs, no-default-features builds
              options: --skip-tests (when the test command already ran, as in .ci/run)
  autobahn    the Autobahn|Testsuite (wstest) against weft's server and client, compared with
              autobahn/expected-*.json; installs wstest into target/autobahn/ when needed
              options: [--server | --client] [--cases P] [--exclude P] [--full] [--bless]
                       [--server-cmd CMD] [--client-cmd CMD] ... (`cargo xtask autobahn --help`)
  bench       the criterion benches (--quick for CI's short form), or --compare: weft's echo
              server against tokio-tungstenite, fastwebsockets and tokio-websockets under
              `weft bench`, servers and client pinned to their own cores
              options: [--quick] | --compare [--scenarios L] [--servers L] [--rounds N]
                       [--duration SECS] ... (`cargo xtask bench --help`)
              or --fanout [--quick]: one publisher, 10,000 subscribers; weft's topics
              against one-by-one sends, tokio broadcast, uWebSockets (Bun), and across two
              nodes through Redis (`cargo xtask bench --fanout --help`)
  fuzz        runs the cargo-fuzz targets in fuzz/ (nightly); installs cargo-fuzz into
              target/tools when needed
              options: [--time SECS] [--target NAME]... [--smoke]
  release     one version for every crate: bump, test, Autobahn, publish dry-run, tag
              usage: cargo xtask release X.Y.Z [--dry-run] [--skip-checks]
  soak        release builds of `weft serve` under load, RSS/descriptors/CPU sampled every
              second: as many connections as the descriptor limit allows (memory and keepalive
              CPU per connection, echo p99, projection to 100k and 1M), and a mixed soak
              (30 min) of churn, sizes, TLS, compression and vanishing clients
              options: [--quick] [--only connections|mixed] ... (`cargo xtask soak --help`)
  peers       installs the interop peers: Python websockets, hypercorn and h2, Node ws and
              playwright-core into target/peers/; Debian chromium, tinyproxy, dante-server,
              microsocks, redis-server (`cargo xtask peers --help`)
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(task) = args.next() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest: Vec<String> = args.collect();
    if let Err(err) = cmd::enter_workspace_root() {
        eprintln!("xtask: {err}");
        return ExitCode::FAILURE;
    }
    let result = match task.as_str() {
        "ci" => ci::run(&rest),
        "autobahn" => autobahn::run(&rest),
        "peers" => peers::run(&rest),
        "fuzz" => fuzz::run(&rest),
        "bench" => bench::run(&rest),
        "release" => release::run(&rest),
        "soak" => soak::run(&rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown task `{other}`\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}
