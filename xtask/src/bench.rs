//! `cargo xtask bench`: the criterion benches (`benches/`), or with `--compare` weft's echo
//! server side by side with tokio-tungstenite's, fastwebsockets' and tokio-websockets'.
//!
//! The comparison builds the four echo servers (`benches/examples/echo_*.rs`, all on tokio's
//! `current_thread` runtime) and the `weft` command in release mode, then for each scenario:
//!
//! - starts every server fresh, pinned to core 0 (`taskset -c 0`), and runs `weft bench`
//!   pinned to core 1 against each in turn, in interleaved rounds (A B C D A B C D …), after
//!   one discarded warm-up run each; interleaving spreads slow drifts of the machine (other
//!   work, thermal state) over every server instead of one;
//! - reads the server's CPU time (user and system, `/proc/PID/stat` fields 14 and 15) before
//!   and after each run, and how busy each core was (`/proc/stat`), so that work by other
//!   processes on the server's core shows in the report;
//! - prints the medians over the rounds, server CPU per message, and each server's ratio to
//!   the best.
//!
//! Servers start fresh per scenario, not per round: a round is a repeated sample of the same
//! steady state, and restarting would add a cold process (first allocations, page faults, an
//! empty allocator cache) to every sample; a fresh start per scenario keeps one scenario's
//! buffers (1 MiB messages) from shaping the next one's memory and CPU.
//!
//! The `idle` scenario starts each server fresh, opens 10,000 idle connections with `weft bench
//! --idle`, and reports the growth of the server's `VmRSS` per connection. Both processes run
//! under `ulimit -n` raised to the hard limit.
//!
//! Results go to stdout as Markdown tables and to `target/bench/compare.{md,json}`.
//!
//! The comparison has one module per concern: [`contestants`] (which servers, how they are
//! built and started), [`scenarios`] (the load asked for), [`measurement`] (the rounds and what
//! `/proc` says around them) and [`report`] (tables and JSON). `--instructions` and `--fanout`
//! are modules of their own built on those.

use std::fs;
use std::time::Instant;

use serde_json::json;

use crate::cmd::{self, Cmd};
use crate::proc;

mod bun;
mod contestants;
mod corpus;
mod fanout;
mod instructions;
mod measurement;
mod report;
mod scenarios;

use contestants::{
    CLIENT_CORE, CLIENTS, ClientKind, Host, SERVERS, ServerKind, build, known_servers,
};
use measurement::{Idle, client_scenario, idle_scenario, load_scenario};

// What `cargo xtask soak` measures with.
pub(crate) use contestants::{TlsFiles, built, cargo_build, first_line};
pub(crate) use measurement::{CpuTicks, clock_ticks, parse_stat, parse_status_kib};
use report::machine_description;
use scenarios::{CLIENT_SCENARIOS, SCENARIOS, known_scenarios};

pub(crate) const USAGE: &str = "\
usage: cargo xtask bench [--quick] [-- CRITERION-ARGS...]
       cargo xtask bench --compare [options]
       cargo xtask bench --fanout [--quick] [options]   (`cargo xtask bench --fanout --help`)

Without --compare: runs the criterion benches (cargo bench -p weft-benches); --quick passes
short warm-up and measurement times (CI's form, about two minutes once built).

--compare: weft's echo server (both its loops: `feed`, one write per batch of input, and
`send`, a flush per message) against tokio-tungstenite, fastwebsockets, tokio-websockets,
sockudo-ws, yawc (benches/examples/echo_*.rs) and uWebSockets through Bun (benches/bun/echo.js,
Bun installed from npm into target/bun), loaded by `weft bench`; then each library's client
against one pushing server. Servers pinned to core 0, the load or client to core 1. Writes
target/bench/compare.md and compare.json.

options:
  --scenarios LIST   comma-separated, default all:
                     1x20B, 1x20B-w64, 100x1KiB, 10x64KiB, 1x1MiB, 10x16KiB-text,
                     1x20B-w64-tls, 100x1KiB-tls (over wss://, the same rustls settings for
                     every Rust server), 100x1KiB-h2 (every WebSocket a stream of one HTTP/2
                     connection, h2c), 10x16KiB-w4-lossy (through a proxy adding 25 ms each
                     way and 1 % loss, examples/fault_proxy.rs), 512x5B, 512x5B-w16, 4096x5B,
                     4096x5B-w16 (many connections, 5-byte text), 100xjson-deflate,
                     10xdoc-deflate (permessage-deflate at each library's defaults on a JSON
                     corpus of 100 B to 4 KiB, and on 64 KiB documents), idle, idle-h2,
                     idle-deflate (memory per idle connection; the last after compressed
                     messages), and the client side: client-20B, client-1KiB, client-64KiB
                     and their -deflate forms (one server pushes, each client receives),
                     send-20B, send-1KiB, send-64KiB (each client sends to a server that
                     discards)
  --servers LIST     comma-separated, default all: weft, weft-send, tungstenite,
                     fastwebsockets, tokio-websockets, sockudo-ws, yawc, bun; also
                     weft-no-keepalive (keepalive pings off, as the others have none),
                     weft-serve (the `weft serve` command) and floor (an echo that only
                     decodes headers and unmasks, checking nothing: what tokio and the
                     kernel cost by themselves; a reference, never the best), and for the
                     deflate frontier weft-level1, weft-level4, weft-level5, weft-window14
                     (our compressor's window), weft-memory8 (zlib's memory level) and
                     weft-low-memory (DeflateConfig::low_memory)
  --clients LIST     comma-separated, default all: weft, weft-feed, tungstenite,
                     fastwebsockets, tokio-websockets, yawc, sockudo-ws
  --rounds N         interleaved rounds per scenario (default 5)
  --duration SECS    length of each run (default 3)
  --warmup SECS      discarded run per server before the rounds (default 1; 0 for none)
  --idle N           connections of the idle scenarios (default 10000)
  --idle-deflate N   connections of idle-deflate (default 1000)
  --instructions     instead of timed rounds, count each server's user-space instructions
                     per message under callgrind (valgrind, installed with apt-get when
                     missing), in all and in the library's own code; skips `idle`
";

/// Parsed command line.
#[derive(Debug, PartialEq)]
struct Options {
    compare: bool,
    quick: bool,
    criterion_args: Vec<String>,
    scenarios: Vec<String>,
    servers: Vec<ServerKind>,
    clients: Vec<ClientKind>,
    rounds: usize,
    duration: f64,
    warmup: f64,
    idle: usize,
    idle_deflate: usize,
    instructions: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        compare: false,
        quick: false,
        criterion_args: Vec::new(),
        scenarios: known_scenarios().map(str::to_owned).collect(),
        servers: SERVERS.to_vec(),
        clients: CLIENTS.to_vec(),
        rounds: 5,
        duration: 3.0,
        warmup: 1.0,
        idle: 10_000,
        idle_deflate: 1000,
        instructions: false,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("bench: {name} needs a value"))
        };
        match arg.as_str() {
            "--compare" => options.compare = true,
            "--quick" => options.quick = true,
            "--instructions" => options.instructions = true,
            "--scenarios" => {
                let list = value("--scenarios")?;
                options.scenarios = list.split(',').map(|s| s.trim().to_owned()).collect();
                for name in &options.scenarios {
                    if !known_scenarios().any(|known| known == name) {
                        return Err(format!("bench: unknown scenario `{name}`\n{USAGE}"));
                    }
                }
            }
            "--servers" => {
                let list = value("--servers")?;
                options.servers = list
                    .split(',')
                    .map(|name| {
                        known_servers()
                            .find(|server| server.name == name.trim())
                            .ok_or_else(|| format!("bench: unknown server `{name}`\n{USAGE}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--clients" => {
                let list = value("--clients")?;
                options.clients = list
                    .split(',')
                    .map(|name| {
                        CLIENTS
                            .iter()
                            .find(|client| client.name == name.trim())
                            .copied()
                            .ok_or_else(|| format!("bench: unknown client `{name}`\n{USAGE}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--rounds" => options.rounds = positive("--rounds", &value("--rounds")?)?,
            "--idle" => options.idle = positive("--idle", &value("--idle")?)?,
            "--idle-deflate" => {
                options.idle_deflate = positive("--idle-deflate", &value("--idle-deflate")?)?;
            }
            "--duration" => options.duration = seconds("--duration", &value("--duration")?)?,
            "--warmup" => {
                let text = value("--warmup")?;
                options.warmup = if text == "0" {
                    0.0
                } else {
                    seconds("--warmup", &text)?
                };
            }
            "--" => options.criterion_args.extend(iter.by_ref().cloned()),
            other => return Err(format!("bench: unknown option `{other}`\n{USAGE}")),
        }
    }
    if options.instructions && !options.compare {
        return Err("bench: --instructions goes with --compare".to_owned());
    }
    if options.compare && (options.quick || !options.criterion_args.is_empty()) {
        return Err("bench: --quick and criterion arguments go without --compare".to_owned());
    }
    Ok(options)
}

fn positive(name: &str, text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "bench: {name} expects a positive whole number, got `{text}`"
        )),
    }
}

fn seconds(name: &str, text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() => Ok(secs),
        _ => Err(format!("bench: {name} expects seconds, got `{text}`")),
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|arg| arg == "--fanout") {
        return fanout::run(args);
    }
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        print!("{USAGE}");
        return Ok(());
    }
    let options = parse(args)?;
    if options.compare {
        compare(&options)
    } else {
        criterion(&options)
    }
}

/// `cargo bench -p weft-benches`, with short times under `--quick`.
fn criterion(options: &Options) -> Result<(), String> {
    let mut args: Vec<String> = Vec::new();
    if options.quick {
        // 64 benchmarks at about a second each, with criterion's analysis; `--noplot` skips
        // the SVG reports.
        args.extend(
            [
                "--warm-up-time",
                "0.2",
                "--measurement-time",
                "0.5",
                "--sample-size",
                "10",
                "--noplot",
            ]
            .map(str::to_owned),
        );
    }
    args.extend(options.criterion_args.iter().cloned());
    let mut command = Cmd::new("cargo").args(["bench", "-p", "weft-benches"]);
    if !args.is_empty() {
        command = command.arg("--").args(args);
    }
    let started = Instant::now();
    command.run()?;
    eprintln!(
        "bench: criterion finished in {}",
        proc::secs(started.elapsed())
    );
    Ok(())
}

fn compare(options: &Options) -> Result<(), String> {
    let started = Instant::now();
    let out_dir = cmd::workspace_root().join("target/bench");
    let logs = out_dir.join("logs");
    fs::create_dir_all(&logs).map_err(|err| format!("cannot create {}: {err}", logs.display()))?;
    let built = build(
        &options.servers,
        &["push_server", "bench_client", "fault_proxy"],
    )?;
    let tls = TlsFiles::generate(&built.tls_cert, &out_dir.join("tls"))?;
    let taskset = proc::find_on_path("taskset");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let taskset = match (taskset, cores) {
        (Some(path), cores) if cores > CLIENT_CORE => Some(path),
        (None, _) => {
            eprintln!("bench: taskset not found (util-linux): server and client run unpinned");
            None
        }
        (Some(_), cores) => {
            eprintln!("bench: {cores} core(s): server and client run unpinned");
            None
        }
    };
    let example = |name: &str| contestants::built(&built.examples, name);
    let host = Host {
        weft: built.weft.clone(),
        fault_proxy: example("fault_proxy")?,
        push_server: example("push_server")?,
        bench_client: example("bench_client")?,
        servers: built.servers,
        unavailable: built.unavailable,
        taskset,
        clk_tck: clock_ticks(),
        logs,
        tls,
        corpus_dir: out_dir.join("corpus"),
    };
    host.write_corpora()?;

    let tools = if options.instructions {
        Some(instructions::Tools::find_or_install(&host.logs)?)
    } else {
        None
    };
    let mut markdown = machine_description(options, &host, built.bun_version.as_deref());
    println!("{markdown}");
    let mut results = Vec::new();
    for name in &options.scenarios {
        let (text, value) = if let Some(tools) = &tools {
            let Some(scenario) = SCENARIOS
                .iter()
                .find(|s| s.name == name && s.network.is_none())
                .copied()
            else {
                eprintln!("bench: --instructions skips scenario `{name}`");
                continue;
            };
            instructions::scenario(&host, tools, &options.servers, scenario)
        } else if let Some(idle) = Idle::from_name(name) {
            idle_scenario(options, &host, idle)
        } else if let Some(client) = CLIENT_SCENARIOS.iter().find(|s| s.name == name) {
            client_scenario(options, &host, *client)?
        } else {
            let scenario = SCENARIOS
                .iter()
                .find(|s| s.name == name)
                .copied()
                .ok_or_else(|| format!("bench: unknown scenario `{name}`"))?;
            load_scenario(options, &host, scenario)?
        };
        println!("{text}");
        markdown.push_str(&text);
        markdown.push('\n');
        results.push(value);
    }
    let loadavg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let closing = format!(
        "Finished in {}; load average at the end: {}\n",
        proc::secs(started.elapsed()),
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("{closing}");
    markdown.push_str(&closing);

    let md_path = out_dir.join("compare.md");
    let json_path = out_dir.join("compare.json");
    fs::write(&md_path, &markdown)
        .map_err(|err| format!("cannot write {}: {err}", md_path.display()))?;
    let json = json!({ "options": {
            "rounds": options.rounds, "duration_s": options.duration,
            "warmup_s": options.warmup, "idle": options.idle,
            "idle_deflate": options.idle_deflate,
        }, "scenarios": results });
    fs::write(&json_path, format!("{json:#}\n"))
        .map_err(|err| format!("cannot write {}: {err}", json_path.display()))?;
    eprintln!(
        "bench: wrote {} and {}",
        md_path.display(),
        json_path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use contestants::{EXTRA_SERVERS, WEFT, is_reference};
    use scenarios::IDLE_SCENARIOS;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_default_to_everything() {
        let options = parse(&[]).unwrap();
        assert!(!options.compare && !options.quick);
        assert_eq!(
            options.scenarios.len(),
            SCENARIOS.len() + IDLE_SCENARIOS.len() + CLIENT_SCENARIOS.len()
        );
        assert_eq!(options.servers, SERVERS);
        assert_eq!(options.clients, CLIENTS);
        assert_eq!((options.rounds, options.duration), (5, 3.0));
        let options = parse(&args(&[
            "--compare",
            "--scenarios",
            "1x20B,idle",
            "--servers",
            "weft,weft-send",
            "--clients",
            "yawc,weft",
            "--rounds",
            "2",
            "--duration",
            "0.5",
            "--warmup",
            "0",
        ]))
        .unwrap();
        assert_eq!(options.scenarios, ["1x20B", "idle"]);
        assert_eq!(options.servers, SERVERS[..2]);
        assert_eq!(
            options.clients.iter().map(|c| c.name).collect::<Vec<_>>(),
            ["yawc", "weft"]
        );
        assert_eq!(
            (options.rounds, options.duration, options.warmup),
            (2, 0.5, 0.0)
        );
        // The extra server is named explicitly; it runs weft's example with an argument.
        let options = parse(&args(&["--servers", "weft,weft-no-keepalive"])).unwrap();
        assert_eq!(options.servers, [WEFT, EXTRA_SERVERS[0]]);
        assert_eq!(options.servers[1].example(), Some("echo_weft"));
        assert_eq!(options.servers[1].args, ["--no-keepalive"]);
        let options = parse(&args(&["--servers", "floor,weft"])).unwrap();
        assert_eq!(options.servers[0].example(), Some("echo_floor"));
        assert!(is_reference("floor") && !is_reference("weft"));
        let options = parse(&args(&["--quick", "--", "echo", "--noplot"])).unwrap();
        assert!(options.quick);
        assert_eq!(options.criterion_args, ["echo", "--noplot"]);
    }

    #[test]
    fn bad_options_are_refused() {
        for bad in [
            &["--scenarios", "2x20B"][..],
            &["--servers", "ws"],
            &["--clients", "curl"],
            &["--rounds", "0"],
            &["--duration", "-1"],
            &["--compare", "--quick"],
            &["--frobnicate"],
            &["--rounds"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
