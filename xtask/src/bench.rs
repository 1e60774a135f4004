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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cmd::{self, Cmd};
use crate::proc;

mod bun;
mod fanout;
mod instructions;

pub(crate) const USAGE: &str = "\
usage: cargo xtask bench [--quick] [-- CRITERION-ARGS...]
       cargo xtask bench --compare [options]
       cargo xtask bench --fanout [--quick] [options]   (`cargo xtask bench --fanout --help`)

Without --compare: runs the criterion benches (cargo bench -p weft-benches); --quick passes
short warm-up and measurement times (CI's form, about two minutes once built).

--compare: weft's echo server against tokio-tungstenite, fastwebsockets and tokio-websockets
(benches/examples/echo_*.rs), loaded by `weft bench`; servers pinned to core 0, the client to
core 1. Writes target/bench/compare.md and compare.json.

options:
  --scenarios LIST   comma-separated, default all: 1x20B, 1x20B-w64, 100x1KiB, 10x64KiB,
                     1x1MiB, 10x16KiB-text, 1x20B-w64-tls, 100x1KiB-tls, 100x1KiB-h2, idle,
                     idle-h2, 10x16KiB-w4-lossy (the -tls ones over wss://, every server with
                     the same rustls settings; the -h2 ones with every WebSocket a stream of
                     an HTTP/2 connection, h2c, for the servers that serve it: weft; -lossy
                     through a proxy adding 25 ms each way and 1 % loss,
                     examples/fault_proxy.rs)
  --servers LIST     comma-separated, default all: weft, tungstenite, fastwebsockets,
                     tokio-websockets; also weft-no-keepalive (weft's server with its
                     keepalive pings off, as the others have none) and floor (an echo
                     that only decodes headers and unmasks, checking nothing: what tokio
                     and the kernel cost by themselves; a reference, never the best)
  --rounds N         interleaved rounds per scenario (default 5)
  --duration SECS    length of each run (default 3)
  --warmup SECS      discarded run per server before the rounds (default 1; 0 for none)
  --idle N           connections of the idle scenario (default 10000)
  --instructions     instead of timed rounds, count each server's user-space instructions
                     per message under callgrind (valgrind, installed with apt-get when
                     missing), in all and in the library's own code; skips `idle`
";

/// A load scenario: what `weft bench` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scenario {
    name: &'static str,
    connections: usize,
    size: usize,
    window: usize,
    text: bool,
    /// `wss://`: every server terminates TLS with the same rustls settings
    /// (`weft_benches::tls`), and `weft bench` trusts a throwaway CA.
    tls: bool,
    /// Every WebSocket a stream of one HTTP/2 connection (h2c, RFC 8441), for the servers that
    /// speak it (weft); the others are listed as n/a.
    http2: bool,
    /// Through a bad network: the arguments of `examples/fault_proxy.rs`, started in front
    /// of each server (on the client's core).
    network: Option<&'static [&'static str]>,
}

/// 50 ms round trips and 1 % of 1448-byte segments held back by a retransmission.
const LOSSY: &[&str] = &["--latency-ms", "25", "--loss", "0.01", "--seed", "1"];

const SCENARIOS: [Scenario; 10] = [
    Scenario {
        name: "1x20B",
        connections: 1,
        size: 20,
        window: 1,
        text: false,
        tls: false,
        http2: false,
        network: None,
    },
    Scenario {
        name: "1x20B-w64",
        connections: 1,
        size: 20,
        window: 64,
        text: false,
        tls: false,
        http2: false,
        network: None,
    },
    Scenario {
        name: "100x1KiB",
        connections: 100,
        size: 1 << 10,
        window: 1,
        text: false,
        tls: false,
        http2: false,
        network: None,
    },
    Scenario {
        name: "10x64KiB",
        connections: 10,
        size: 64 << 10,
        window: 1,
        text: false,
        tls: false,
        http2: false,
        network: None,
    },
    Scenario {
        name: "1x1MiB",
        connections: 1,
        size: 1 << 20,
        window: 1,
        text: false,
        tls: false,
        http2: false,
        network: None,
    },
    Scenario {
        name: "10x16KiB-text",
        connections: 10,
        size: 16 << 10,
        window: 1,
        text: true,
        tls: false,
        http2: false,
        network: None,
    },
    // Over TLS, the kernel's share shrinks and the library's write pattern shows: each
    // separate write of a message is a TLS record of its own (a seal and 22 bytes of framing).
    Scenario {
        name: "1x20B-w64-tls",
        connections: 1,
        size: 20,
        window: 64,
        text: false,
        tls: true,
        http2: false,
        network: None,
    },
    Scenario {
        name: "100x1KiB-tls",
        connections: 100,
        size: 1 << 10,
        window: 1,
        text: false,
        tls: true,
        http2: false,
        network: None,
    },
    // The same load as 100x1KiB, but 100 WebSockets on one HTTP/2 connection instead of 100
    // TCP connections: what multiplexing costs or saves the server per message.
    Scenario {
        name: "100x1KiB-h2",
        connections: 100,
        size: 1 << 10,
        window: 1,
        text: false,
        tls: false,
        http2: true,
        network: None,
    },
    // Under 1 % loss and 50 ms round trips, throughput is the window over the round trip for
    // every library alike, unless one adds delay of its own (a flush held back, a write
    // split in two): the same proxy stands in front of each server. A window of 4 keeps the
    // run bound by the round trip, not by the client's core, which the proxy shares (with 16
    // in flight that core was 99 % busy).
    Scenario {
        name: "10x16KiB-w4-lossy",
        connections: 10,
        size: 16 << 10,
        window: 4,
        text: false,
        tls: false,
        http2: false,
        network: Some(LOSSY),
    },
];

/// Whether a comparison server serves WebSockets over HTTP/2.
fn serves_http2(kind: ServerKind) -> bool {
    kind.example == WEFT.example
}

/// The name of the idle-memory scenario.
const IDLE: &str = "idle";

/// The idle-memory scenario with every WebSocket a stream of an HTTP/2 connection (up to 100
/// per connection, the servers' default stream limit): memory per WebSocket over HTTP/2.
const IDLE_H2: &str = "idle-h2";

/// A comparison server: its name in tables, and its example in `benches/examples`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ServerKind {
    name: &'static str,
    example: &'static str,
    /// Source paths of the library's own code (its crates and the echo example), as parts of
    /// the paths in debug info, for `--instructions`.
    sources: &'static [&'static str],
    /// Path prefixes of the library's own functions (its crates and the echo example), for
    /// `--instructions`: std and core code inlined into them is theirs too.
    functions: &'static [&'static str],
    /// Arguments for the server after its listen address.
    args: &'static [&'static str],
}

/// The servers compared by default.
const SERVERS: [ServerKind; 4] = [
    WEFT,
    ServerKind {
        name: "tungstenite",
        example: "echo_tungstenite",
        sources: &[
            "/tungstenite-",
            "/tokio-tungstenite-",
            "/examples/echo_tungstenite.rs",
        ],
        functions: &["tungstenite::", "tokio_tungstenite::", "echo_tungstenite::"],
        args: &[],
    },
    ServerKind {
        name: "fastwebsockets",
        example: "echo_fastwebsockets",
        sources: &["/fastwebsockets-", "/examples/echo_fastwebsockets.rs"],
        functions: &["fastwebsockets::", "echo_fastwebsockets::"],
        args: &[],
    },
    ServerKind {
        name: "tokio-websockets",
        example: "echo_tokio_websockets",
        sources: &["/tokio-websockets-", "/examples/echo_tokio_websockets.rs"],
        functions: &["tokio_websockets::", "echo_tokio_websockets::"],
        args: &[],
    },
];

const WEFT: ServerKind = ServerKind {
    name: "weft",
    example: "echo_weft",
    sources: &["/crates/weft", "/examples/echo_weft.rs"],
    functions: &["weft_", "echo_weft::"],
    args: &[],
};

/// Servers that `--servers` may name besides the default ones: weft without keepalive shows
/// what the keepalive timer costs (the other servers have no timer); `floor`, an echo that only
/// decodes headers and unmasks, shows what tokio and the kernel cost by themselves.
const EXTRA_SERVERS: [ServerKind; 2] = [
    ServerKind {
        name: "weft-no-keepalive",
        args: &["--no-keepalive"],
        ..WEFT
    },
    FLOOR,
];

/// The reference: not a library, so shown for comparison and never the best in a ratio.
const FLOOR: ServerKind = ServerKind {
    name: "floor",
    example: "echo_floor",
    // Its header decoding and unmasking are weft-codec's, counted as its own work.
    sources: &[
        "/examples/echo_floor.rs",
        "/crates/weft-codec/src/mask",
        "/crates/weft-codec/src/frame",
    ],
    functions: &["echo_floor::", "weft_codec::mask::", "weft_codec::frame::"],
    args: &[],
};

/// Whether the server named so is the reference, left out when finding the best.
fn is_reference(name: &str) -> bool {
    name == FLOOR.name
}

/// The cores servers and the client are pinned to.
const SERVER_CORE: usize = 0;
const CLIENT_CORE: usize = 1;
/// Bounds on each step, so a hung server or client cannot stall the task.
const BANNER_TIMEOUT: Duration = Duration::from_secs(30);
const IDLE_READY_TIMEOUT: Duration = Duration::from_secs(300);
/// `weft bench` gets this long beyond its duration (drain, close, connecting).
const RUN_GRACE: Duration = Duration::from_secs(60);

/// Parsed command line.
#[derive(Debug, PartialEq)]
struct Options {
    compare: bool,
    quick: bool,
    criterion_args: Vec<String>,
    scenarios: Vec<String>,
    servers: Vec<ServerKind>,
    rounds: usize,
    duration: f64,
    warmup: f64,
    idle: usize,
    instructions: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        compare: false,
        quick: false,
        criterion_args: Vec::new(),
        scenarios: SCENARIOS
            .iter()
            .map(|s| s.name.to_owned())
            .chain([IDLE.to_owned(), IDLE_H2.to_owned()])
            .collect(),
        servers: SERVERS.to_vec(),
        rounds: 5,
        duration: 3.0,
        warmup: 1.0,
        idle: 10_000,
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
                    if name != IDLE && name != IDLE_H2 && !SCENARIOS.iter().any(|s| s.name == name)
                    {
                        return Err(format!("bench: unknown scenario `{name}`\n{USAGE}"));
                    }
                }
            }
            "--servers" => {
                let list = value("--servers")?;
                options.servers = list
                    .split(',')
                    .map(|name| {
                        SERVERS
                            .iter()
                            .chain(&EXTRA_SERVERS)
                            .find(|server| server.name == name.trim())
                            .copied()
                            .ok_or_else(|| format!("bench: unknown server `{name}`\n{USAGE}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--rounds" => options.rounds = positive("--rounds", &value("--rounds")?)?,
            "--idle" => options.idle = positive("--idle", &value("--idle")?)?,
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

// ---------------------------------------------------------------------------------------------
// The comparison.

/// What the comparison needs from the host.
struct Host {
    weft: PathBuf,
    /// `examples/fault_proxy.rs`, for the lossy scenario.
    fault_proxy: PathBuf,
    servers: BTreeMap<&'static str, PathBuf>,
    /// Pin with `taskset`; `None` runs unpinned (with a warning).
    taskset: Option<PathBuf>,
    clk_tck: u64,
    logs: PathBuf,
    /// The throwaway certificates of the TLS scenarios.
    tls: TlsFiles,
}

/// The PEM files `examples/tls_cert.rs` writes: the CA `weft bench --ca` trusts, and the
/// certificate and key every server's `--tls` takes.
pub(crate) struct TlsFiles {
    pub(crate) ca: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

impl TlsFiles {
    /// Runs `tls_cert` (built with the servers) to write new certificates into `dir`; it
    /// prints their paths.
    pub(crate) fn generate(tls_cert: &Path, dir: &Path) -> Result<Self, String> {
        let output = Command::new(tls_cert)
            .arg(dir)
            .output()
            .map_err(|err| format!("could not run {}: {err}", tls_cert.display()))?;
        if !output.status.success() {
            return Err(format!(
                "writing the TLS certificates failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Self::from_paths(&String::from_utf8_lossy(&output.stdout))
            .ok_or_else(|| format!("{} did not print three paths", tls_cert.display()))
    }

    /// The CA, certificate and key paths, one per line.
    fn from_paths(printed: &str) -> Option<Self> {
        let mut lines = printed.lines().map(PathBuf::from);
        Some(Self {
            ca: lines.next()?,
            cert: lines.next()?,
            key: lines.next()?,
        })
    }
}

fn compare(options: &Options) -> Result<(), String> {
    let started = Instant::now();
    let out_dir = cmd::workspace_root().join("target/bench");
    let logs = out_dir.join("logs");
    fs::create_dir_all(&logs).map_err(|err| format!("cannot create {}: {err}", logs.display()))?;
    let built = build(&options.servers)?;
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
    let host = Host {
        weft: built.weft,
        fault_proxy: built.fault_proxy,
        servers: built.servers,
        taskset,
        clk_tck: clock_ticks(),
        logs,
        tls,
    };

    let tools = if options.instructions {
        Some(instructions::Tools::find_or_install(&host.logs)?)
    } else {
        None
    };
    let mut markdown = machine_description(options, &host);
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
        } else if name == IDLE || name == IDLE_H2 {
            idle_scenario(options, &host, name == IDLE_H2)
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

/// The executables of the comparison.
struct Built {
    weft: PathBuf,
    servers: BTreeMap<&'static str, PathBuf>,
    tls_cert: PathBuf,
    fault_proxy: PathBuf,
}

/// Builds the servers, `weft`, the certificate writer (`tls_cert`) and the proxy of the lossy
/// scenario (`fault_proxy`) in release mode; returns their executables.
fn build(servers: &[ServerKind]) -> Result<Built, String> {
    let started = Instant::now();
    let mut args: Vec<String> = ["build", "--release", "-p", "weft-benches"]
        .map(str::to_owned)
        .to_vec();
    let mut examples: Vec<&str> = servers.iter().map(|server| server.example).collect();
    examples.extend(["tls_cert", "fault_proxy"]);
    examples.sort_unstable();
    examples.dedup();
    for example in examples {
        args.push("--example".to_owned());
        args.push(example.to_owned());
    }
    args.extend(["-p", "weft-cli", "--bin", "weft"].map(str::to_owned));
    let executables = cargo_build(&args, "the comparison")?;
    let find = |name: &str| built(&executables, name);
    let mut built = BTreeMap::new();
    for server in servers {
        built.insert(server.name, find(server.example)?);
    }
    eprintln!("bench: built in {}", proc::secs(started.elapsed()));
    Ok(Built {
        weft: find("weft")?,
        servers: built,
        tls_cert: find("tls_cert")?,
        fault_proxy: find("fault_proxy")?,
    })
}

/// Runs `cargo ARGS` (a build) with JSON messages, and returns what it built: target name →
/// executable. `what` names the build in errors.
fn cargo_build(args: &[String], what: &str) -> Result<BTreeMap<String, PathBuf>, String> {
    let mut args = args.to_vec();
    args.push("--message-format=json-render-diagnostics".to_owned());
    eprintln!("$ cargo {}", args.join(" "));
    let output = Command::new("cargo")
        .args(&args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("could not start cargo: {err}"))?;
    if !output.status.success() {
        return Err(format!("building {what} failed ({})", output.status));
    }
    Ok(executables(&String::from_utf8_lossy(&output.stdout)))
}

/// The executable cargo built for target `name`.
fn built(executables: &BTreeMap<String, PathBuf>, name: &str) -> Result<PathBuf, String> {
    executables
        .get(name)
        .cloned()
        .ok_or_else(|| format!("cargo built no executable for {name}"))
}

/// Target name → executable, from cargo's JSON messages.
pub(crate) fn executables(messages: &str) -> BTreeMap<String, PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter_map(|message| {
            let name = message["target"]["name"].as_str()?.to_owned();
            let path = message["executable"].as_str()?;
            Some((name, PathBuf::from(path)))
        })
        .collect()
}

/// `getconf CLK_TCK`: the unit of `/proc/PID/stat` CPU times (100 almost everywhere).
pub(crate) fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100)
}

/// The header of the report: machine, date, commit, settings.
fn machine_description(options: &Options, host: &Host) -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let commit = command_output("git", &["rev-parse", "--short", "HEAD"]);
    let dirty =
        !command_output("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    let loadavg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let pinning = match &host.taskset {
        Some(_) => format!("servers on core {SERVER_CORE}, client on core {CLIENT_CORE} (taskset)"),
        None => "unpinned".to_owned(),
    };
    let mut out = String::new();
    let _ = writeln!(out, "## cargo xtask bench --compare, {date}\n");
    let _ = writeln!(
        out,
        "- machine: {model}, {cores} cores (nproc); {pinning}; CLK_TCK {}",
        host.clk_tck
    );
    let _ = writeln!(
        out,
        "- commit {commit}{}; load average at the start: {}",
        if dirty {
            " with uncommitted changes in the tree"
        } else {
            ""
        },
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if options.instructions {
        let _ = writeln!(
            out,
            "- user-space instructions per message counted by callgrind: two fresh servers per \
             scenario, the difference between a short and a long run divided by the extra \
             messages; the library's own code is what its own source files account for, with std \
             and core code inlined into its functions"
        );
    } else {
        let _ = writeln!(
            out,
            "- {} round(s) of {} s per server and scenario, interleaved, after a {} s warm-up; \
             medians over the rounds; CPU per message is the server's user+system time over \
             all rounds divided by the messages echoed",
            options.rounds, options.duration, options.warmup
        );
    }
    out
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// `sh -c 'ulimit -n HARD; exec [taskset -c CORE] PROGRAM ARGS…'`.
fn pinned(taskset: Option<&Path>, core: usize, program: &Path, args: &[String]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@""#)
        .arg("sh");
    if let Some(taskset) = taskset {
        command.arg(taskset).arg("-c").arg(core.to_string());
    }
    command.arg(program).args(args);
    command
}

/// A running echo server, killed when dropped.
struct ServerProcess {
    name: &'static str,
    child: Child,
    url: String,
}

impl ServerProcess {
    /// Starts `kind` on a free loopback port (it prints the port) with its log in `logs`,
    /// serving `wss://` with the host's certificates when `tls`.
    fn start(host: &Host, kind: ServerKind, scenario: &str, tls: bool) -> Result<Self, String> {
        Self::start_under(host, kind, scenario, tls, None)
    }

    /// As [`start`](Self::start), run by `wrapper` (a program and its arguments, followed by
    /// the server's command line), as `valgrind` runs it for `--instructions`.
    fn start_under(
        host: &Host,
        server_kind: ServerKind,
        scenario: &str,
        tls: bool,
        wrapper: Option<(&Path, &[String])>,
    ) -> Result<Self, String> {
        let kind = server_kind.name;
        let server = &host.servers[kind];
        let log = host.logs.join(format!("{kind}-{scenario}.log"));
        let log_file = fs::File::create(&log)
            .map_err(|err| format!("cannot create {}: {err}", log.display()))?;
        let listen = "127.0.0.1:0".to_owned();
        let (program, mut args) = match wrapper {
            Some((program, args)) => {
                let mut args = args.to_vec();
                args.extend([server.display().to_string(), listen]);
                (program, args)
            }
            None => (server.as_path(), vec![listen]),
        };
        args.extend(server_kind.args.iter().map(|&arg| arg.to_owned()));
        if tls {
            args.push("--tls".to_owned());
            args.push(host.tls.cert.display().to_string());
            args.push(host.tls.key.display().to_string());
        }
        let mut child = pinned(host.taskset.as_deref(), SERVER_CORE, program, &args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|err| format!("could not start the {kind} server: {err}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let banner = first_line(stdout, BANNER_TIMEOUT);
        let mut server = Self {
            name: kind,
            child,
            url: String::new(),
        };
        let addr = banner
            .as_deref()
            .and_then(|line| line.strip_prefix("listening on "))
            .ok_or_else(|| {
                format!(
                    "the {kind} server did not say `listening on ADDR` within {} (got {banner:?}); \
                     last lines of {}:\n{}",
                    proc::secs(BANNER_TIMEOUT),
                    log.display(),
                    proc::tail(&log, 10)
                )
            })?;
        let scheme = if tls { "wss" } else { "ws" };
        server.url = format!("{scheme}://{}", addr.trim());
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time so far, in clock ticks.
    fn cpu(&self) -> Result<CpuTicks, String> {
        let path = format!("/proc/{}/stat", self.pid());
        let stat = fs::read_to_string(&path).map_err(|err| format!("cannot read {path}: {err}"))?;
        parse_stat(&stat).ok_or_else(|| format!("cannot parse {path}: {stat}"))
    }

    /// Resident memory, KiB.
    fn rss_kib(&self) -> Result<u64, String> {
        let path = format!("/proc/{}/status", self.pid());
        let status =
            fs::read_to_string(&path).map_err(|err| format!("cannot read {path}: {err}"))?;
        parse_status_kib(&status, "VmRSS").ok_or_else(|| format!("no VmRSS in {path}"))
    }

    /// Stops the server with SIGTERM and waits for it to exit (valgrind writes its profile
    /// then), killing it after `timeout`.
    fn terminate(&mut self, timeout: Duration) -> Result<(), String> {
        proc::send_sigterm(self.pid());
        match proc::wait_for_exit(&mut self.child, Instant::now() + timeout) {
            Some(_) => Ok(()),
            None => Err(format!(
                "the {} server did not exit within {} of SIGTERM",
                self.name,
                proc::secs(timeout)
            )),
        }
    }

    fn exited(&mut self) -> Option<String> {
        self.child
            .try_wait()
            .ok()
            .flatten()
            .map(|status| format!("the {} server exited ({status})", self.name))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `examples/fault_proxy.rs` in front of a server, for the lossy scenario; killed when dropped.
struct FaultProxyProcess(Child);

impl FaultProxyProcess {
    /// Starts the proxy with `network` (its arguments) in front of the server at `url`, on the
    /// client's core; returns it and the URL clients should use instead.
    fn start(host: &Host, url: &str, network: &[&str]) -> Result<(Self, String), String> {
        let (scheme, addr) = url
            .split_once("://")
            .ok_or_else(|| format!("no address in {url}"))?;
        let mut args = vec![addr.to_owned()];
        args.extend(network.iter().map(|&arg| arg.to_owned()));
        let mut child = pinned(
            host.taskset.as_deref(),
            CLIENT_CORE,
            &host.fault_proxy,
            &args,
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("could not start the fault proxy: {err}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let proxy = Self(child);
        let banner = first_line(stdout, BANNER_TIMEOUT);
        let listening = banner
            .as_deref()
            .and_then(|line| line.strip_prefix("listening on "))
            .ok_or_else(|| format!("the fault proxy said {banner:?}"))?
            .trim()
            .to_owned();
        Ok((proxy, format!("{scheme}://{listening}")))
    }
}

impl Drop for FaultProxyProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first line of a pipe within `timeout`; the rest is drained (and dropped) on the thread.
pub(crate) fn first_line(pipe: impl Read + Send + 'static, timeout: Duration) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(pipe).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {}
    });
    rx.recv_timeout(timeout).ok()
}

/// User and system CPU time, in clock ticks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuTicks {
    pub(crate) user: u64,
    pub(crate) system: u64,
}

impl CpuTicks {
    pub(crate) fn since(self, before: Self) -> Self {
        Self {
            user: self.user.saturating_sub(before.user),
            system: self.system.saturating_sub(before.system),
        }
    }
}

/// Fields 14 (utime) and 15 (stime) of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may hold spaces and parentheses, so counting starts after the last `)`.
pub(crate) fn parse_stat(stat: &str) -> Option<CpuTicks> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field N is at index N - 3.
    Some(CpuTicks {
        user: fields.get(14 - 3)?.parse().ok()?,
        system: fields.get(15 - 3)?.parse().ok()?,
    })
}

/// A `kB` line of `/proc/PID/status` (`VmRSS:   6260 kB`), in KiB.
pub(crate) fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Busy and total clock ticks of each core, from `/proc/stat`.
fn core_ticks() -> Vec<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    parse_core_ticks(&stat)
}

fn parse_core_ticks(stat: &str) -> Vec<(u64, u64)> {
    stat.lines()
        .filter(|line| {
            line.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(|line| {
            let values: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            let total: u64 = values.iter().take(8).sum();
            // idle and iowait are the 4th and 5th values.
            let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
            (total.saturating_sub(idle), total)
        })
        .collect()
}

/// What one `weft bench` run against one server measured.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    messages_per_s: f64,
    mb_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    echoed: u64,
    cpu: CpuTicks,
    /// Fraction of the server's core spent on anything but the server process.
    server_core_other: f64,
    /// Fraction of the client's core in use (the client and anything else).
    client_core_busy: f64,
}

/// How long a `weft bench` run sends.
#[derive(Debug, Clone, Copy)]
enum Load {
    Seconds(f64),
    Messages(usize),
}

/// Runs `weft bench` pinned to the client core for `scenario` against `url`, with a JSON report,
/// and returns its output once it exits successfully; it is killed after `timeout`. `against`
/// names the server in errors.
fn run_weft_bench(
    host: &Host,
    against: &str,
    url: &str,
    scenario: Scenario,
    load: Load,
    timeout: Duration,
) -> Result<Output, String> {
    let mut args: Vec<String> = vec![
        "bench".into(),
        url.to_owned(),
        "--connections".into(),
        scenario.connections.to_string(),
        "--size".into(),
        scenario.size.to_string(),
        "--window".into(),
        scenario.window.to_string(),
    ];
    match load {
        Load::Seconds(secs) => args.extend(["--duration".into(), secs.to_string()]),
        Load::Messages(count) => args.extend(["--messages".into(), count.to_string()]),
    }
    args.extend(["--json".into(), "--quiet".into()]);
    if scenario.text {
        args.push("--text".into());
    }
    if scenario.tls {
        args.extend(["--ca".into(), host.tls.ca.display().to_string()]);
    }
    if scenario.http2 {
        args.extend(["--http2".into(), "--http2-connections".into(), "1".into()]);
    }
    let mut child = pinned(host.taskset.as_deref(), CLIENT_CORE, &host.weft, &args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("could not start weft bench: {err} (against {against})"))?;
    if proc::wait_for_exit(&mut child, Instant::now() + timeout).is_none() {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "weft bench did not finish within {} (against {against})",
            proc::secs(timeout)
        ));
    }
    let output = child
        .wait_with_output()
        .map_err(|err| format!("weft bench: {err} (against {against})"))?;
    if !output.status.success() {
        return Err(format!(
            "weft bench against {against} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output)
}

/// Runs `weft bench` for `scenario` against `server` and measures the server around it.
fn measure(
    host: &Host,
    server: &mut ServerProcess,
    scenario: Scenario,
    duration: f64,
) -> Result<Sample, String> {
    let cores_before = core_ticks();
    let before = server.cpu()?;
    let timeout = Duration::from_secs_f64(duration) + RUN_GRACE;
    let output = run_weft_bench(
        host,
        server.name,
        &server.url,
        scenario,
        Load::Seconds(duration),
        timeout,
    )
    // A server that died says more than the client's failure.
    .map_err(|err| server.exited().unwrap_or(err))?;
    let after = server.cpu()?;
    let cores_after = core_ticks();
    if let Some(exited) = server.exited() {
        return Err(exited);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = serde_json::from_str(stdout.trim())
        .map_err(|err| format!("weft bench printed no JSON ({err}): {stdout}{stderr}"))?;
    let number = |value: &Value| value.as_f64().unwrap_or(0.0);
    let cpu = after.since(before);
    let core = |index: usize| -> Option<(u64, u64)> {
        let (busy0, total0) = *cores_before.get(index)?;
        let (busy1, total1) = *cores_after.get(index)?;
        Some((busy1.saturating_sub(busy0), total1.saturating_sub(total0)))
    };
    let server_core_other = core(SERVER_CORE)
        .filter(|&(_, total)| total > 0)
        .map_or(0.0, |(busy, total)| {
            busy.saturating_sub(cpu.user + cpu.system) as f64 / total as f64
        });
    let client_core_busy = core(CLIENT_CORE)
        .filter(|&(_, total)| total > 0)
        .map_or(0.0, |(busy, total)| busy as f64 / total as f64);
    Ok(Sample {
        messages_per_s: number(&report["messages_per_s"]),
        mb_per_s: number(&report["mb_per_s"]),
        p50_us: number(&report["latency_us"]["p50"]),
        p99_us: number(&report["latency_us"]["p99"]),
        echoed: report["echoed"].as_u64().unwrap_or(0),
        cpu,
        server_core_other,
        client_core_busy,
    })
}

/// One load scenario over every server, in interleaved rounds.
fn load_scenario(
    options: &Options,
    host: &Host,
    scenario: Scenario,
) -> Result<(String, Value), String> {
    eprintln!(
        "bench: scenario {}: {} connection(s) x {} B{}, window {}{}",
        scenario.name,
        scenario.connections,
        scenario.size,
        if scenario.text { " text" } else { "" },
        scenario.window,
        if scenario.tls { ", TLS" } else { "" }
    );
    let mut servers = Vec::new();
    // The bad network in front of each server, for the lossy scenario.
    let mut proxies = Vec::new();
    let mut failures: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for kind in &options.servers {
        if scenario.http2 && !serves_http2(*kind) {
            let reason = "n/a: serves no WebSocket over HTTP/2".to_owned();
            failures.entry(kind.name).or_default().push(reason);
            continue;
        }
        let mut server = ServerProcess::start(host, *kind, scenario.name, scenario.tls)?;
        if let Some(network) = scenario.network {
            let (proxy, url) = FaultProxyProcess::start(host, &server.url, network)?;
            server.url = url;
            proxies.push(proxy);
        }
        servers.push(server);
    }
    let mut samples: BTreeMap<&str, Vec<Sample>> = BTreeMap::new();
    if options.warmup > 0.0 {
        for server in &mut servers {
            if let Err(err) = measure(host, server, scenario, options.warmup) {
                eprintln!("bench: warm-up: {err}");
            }
        }
    }
    for round in 1..=options.rounds {
        for server in &mut servers {
            match measure(host, server, scenario, options.duration) {
                Ok(sample) => {
                    eprintln!(
                        "bench: {} round {round}/{} {:<16} {:>12.0} msgs/s  p50 {:>8.1} µs  \
                         server CPU {:.2} s",
                        scenario.name,
                        options.rounds,
                        server.name,
                        sample.messages_per_s,
                        sample.p50_us,
                        (sample.cpu.user + sample.cpu.system) as f64 / host.clk_tck as f64
                    );
                    samples.entry(server.name).or_default().push(sample);
                }
                Err(err) => {
                    eprintln!("bench: {} round {round}: {err}", scenario.name);
                    failures.entry(server.name).or_default().push(err);
                }
            }
        }
    }
    drop(servers);
    drop(proxies);
    let rows: Vec<Row> = options
        .servers
        .iter()
        .map(|kind| {
            Row::new(
                kind.name,
                samples.remove(kind.name).unwrap_or_default(),
                failures.remove(kind.name).unwrap_or_default(),
                host.clk_tck,
            )
        })
        .collect();
    Ok((render_load(scenario, &rows), rows_json(scenario, &rows)))
}

/// A server's figures in one scenario.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    server: &'static str,
    runs: usize,
    failures: Vec<String>,
    messages_per_s: f64,
    mb_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    /// Server CPU per echoed message, microseconds: user, system.
    cpu_user_us: f64,
    cpu_system_us: f64,
    /// (max - min) / median of messages per second over the rounds.
    spread: f64,
    server_core_other: f64,
    client_core_busy: f64,
    samples: Vec<Sample>,
}

impl Row {
    fn new(
        server: &'static str,
        samples: Vec<Sample>,
        failures: Vec<String>,
        clk_tck: u64,
    ) -> Self {
        let pick = |f: fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<_>>();
        let rates = pick(|s| s.messages_per_s);
        let messages_per_s = median(&rates);
        let (min, max) = rates.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &r| {
            (lo.min(r), hi.max(r))
        });
        let echoed: u64 = samples.iter().map(|s| s.echoed).sum();
        let ticks_to_us = |ticks: u64| {
            if echoed == 0 {
                0.0
            } else {
                ticks as f64 * 1e6 / clk_tck as f64 / echoed as f64
            }
        };
        Self {
            server,
            runs: samples.len(),
            failures,
            messages_per_s,
            mb_per_s: median(&pick(|s| s.mb_per_s)),
            p50_us: median(&pick(|s| s.p50_us)),
            p99_us: median(&pick(|s| s.p99_us)),
            cpu_user_us: ticks_to_us(samples.iter().map(|s| s.cpu.user).sum()),
            cpu_system_us: ticks_to_us(samples.iter().map(|s| s.cpu.system).sum()),
            spread: if messages_per_s > 0.0 {
                (max - min) / messages_per_s
            } else {
                0.0
            },
            server_core_other: pick(|s| s.server_core_other)
                .into_iter()
                .fold(0.0, f64::max),
            client_core_busy: median(&pick(|s| s.client_core_busy)),
            samples,
        }
    }

    fn cpu_total_us(&self) -> f64 {
        self.cpu_user_us + self.cpu_system_us
    }
}

/// The median; 0 for no values.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// `value / best`: for rates the best is the highest, for costs the lowest. With no best (only
/// the floor ran, or nothing did) there is no ratio.
fn ratio(value: f64, best: f64) -> String {
    if best > 0.0 && best.is_finite() && value > 0.0 {
        format!("{:.2}", value / best)
    } else {
        "–".to_owned()
    }
}

fn render_load(scenario: Scenario, rows: &[Row]) -> String {
    let ok: Vec<&Row> = rows.iter().filter(|row| row.runs > 0).collect();
    let libraries = || ok.iter().filter(|row| !is_reference(row.server));
    let best_rate = libraries()
        .map(|row| row.messages_per_s)
        .fold(0.0, f64::max);
    let best_cpu = libraries()
        .map(|row| row.cpu_total_us())
        .filter(|&cpu| cpu > 0.0)
        .fold(f64::INFINITY, f64::min);
    let mut out = format!(
        "### {}: {} per connection\n\n",
        scenario.name,
        scenario.describe()
    );
    out.push_str(
        "| server | msgs/s | MB/s | p50 µs | p99 µs | CPU µs/msg user | sys | total | \
         msgs/s ÷ best | CPU ÷ best | spread |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for row in rows {
        if row.runs == 0 {
            let _ = writeln!(
                out,
                "| {} | failed: {} | | | | | | | | | |",
                row.server,
                row.failures.first().map_or("no runs", String::as_str)
            );
            continue;
        }
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {} | {} | {:.0}% |",
            row.server,
            row.messages_per_s,
            row.mb_per_s,
            row.p50_us,
            row.p99_us,
            row.cpu_user_us,
            row.cpu_system_us,
            row.cpu_total_us(),
            ratio(row.messages_per_s, best_rate),
            ratio(row.cpu_total_us(), best_cpu),
            row.spread * 100.0
        );
    }
    let other = ok
        .iter()
        .map(|row| row.server_core_other)
        .fold(0.0, f64::max);
    let client = median(
        &ok.iter()
            .map(|row| row.client_core_busy)
            .collect::<Vec<_>>(),
    );
    let _ = writeln!(
        out,
        "\nServer core busy outside the server process: at most {:.0}% in any run; client core \
         busy: {:.0}% (median).",
        other * 100.0,
        client * 100.0
    );
    if rows.iter().any(|row| is_reference(row.server)) {
        out.push_str(
            "floor: an echo that only decodes headers and unmasks, checking nothing (tokio and \
             the kernel by themselves); a reference, its ratios are to the best library.\n",
        );
    }
    for row in rows {
        if !row.failures.is_empty() && row.runs > 0 {
            let _ = writeln!(
                out,
                "{}: {} run(s) failed, first: {}",
                row.server,
                row.failures.len(),
                row.failures[0]
            );
        }
    }
    out
}

fn rows_json(scenario: Scenario, rows: &[Row]) -> Value {
    json!({
        "scenario": scenario.name,
        "connections": scenario.connections,
        "size": scenario.size,
        "window": scenario.window,
        "text": scenario.text,
        "servers": rows.iter().map(|row| json!({
            "server": row.server,
            "runs": row.runs,
            "failures": row.failures,
            "messages_per_s": row.messages_per_s,
            "mb_per_s": row.mb_per_s,
            "p50_us": row.p50_us,
            "p99_us": row.p99_us,
            "cpu_user_us_per_msg": row.cpu_user_us,
            "cpu_system_us_per_msg": row.cpu_system_us,
            "spread": row.spread,
            "server_core_other_max": row.server_core_other,
            "samples": row.samples.iter().map(|s| json!({
                "messages_per_s": s.messages_per_s,
                "mb_per_s": s.mb_per_s,
                "p50_us": s.p50_us,
                "p99_us": s.p99_us,
                "echoed": s.echoed,
                "cpu_user_ticks": s.cpu.user,
                "cpu_system_ticks": s.cpu.system,
                "server_core_other": s.server_core_other,
                "client_core_busy": s.client_core_busy,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

impl Scenario {
    /// `1 connection(s) × 20 B binary, 1 in flight`, for table headings.
    fn describe(self) -> String {
        format!(
            "{} connection(s) × {}{}, {} in flight{}",
            self.connections,
            size_text(self.size),
            if self.text { " text" } else { " binary" },
            self.window,
            if self.tls { ", over TLS" } else { "" }
        )
    }
}

fn size_text(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

// ---------------------------------------------------------------------------------------------
// Idle memory.

/// What holding idle connections cost one server.
#[derive(Debug, Clone, PartialEq)]
struct IdleRow {
    server: &'static str,
    result: Result<IdleMemory, String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct IdleMemory {
    before_kib: u64,
    after_kib: u64,
    connections: usize,
    connect_s: f64,
}

impl IdleMemory {
    fn per_connection_kib(&self) -> f64 {
        self.after_kib.saturating_sub(self.before_kib) as f64 / self.connections as f64
    }
}

fn idle_scenario(options: &Options, host: &Host, http2: bool) -> (String, Value) {
    let name = if http2 { IDLE_H2 } else { IDLE };
    eprintln!("bench: scenario {name}: {} idle WebSockets", options.idle);
    let mut rows = Vec::new();
    for kind in &options.servers {
        let result = if http2 && !serves_http2(*kind) {
            Err("n/a: serves no WebSocket over HTTP/2".to_owned())
        } else {
            idle_one(options, host, *kind, http2)
        };
        match &result {
            Ok(memory) => eprintln!(
                "bench: idle {:<16} {:.1} KiB per connection (RSS {} → {} KiB)",
                kind.name,
                memory.per_connection_kib(),
                memory.before_kib,
                memory.after_kib
            ),
            Err(err) => eprintln!("bench: idle {}: {err}", kind.name),
        }
        rows.push(IdleRow {
            server: kind.name,
            result,
        });
    }
    (
        render_idle(options.idle, &rows, http2),
        idle_json(&rows, name),
    )
}

/// A fresh server, its RSS, N idle connections, its RSS again.
fn idle_one(
    options: &Options,
    host: &Host,
    kind: ServerKind,
    http2: bool,
) -> Result<IdleMemory, String> {
    let mut server = ServerProcess::start(host, kind, IDLE, false)?;
    std::thread::sleep(Duration::from_millis(200));
    let before_kib = server.rss_kib()?;
    let mut args: Vec<String> = vec![
        "bench".into(),
        server.url.clone(),
        "--idle".into(),
        options.idle.to_string(),
        "--json".into(),
        "--quiet".into(),
    ];
    if http2 {
        // 100 streams per connection, the servers' default SETTINGS_MAX_CONCURRENT_STREAMS.
        let connections = options.idle.div_ceil(100).to_string();
        args.extend(["--http2".into(), "--http2-connections".into(), connections]);
    }
    let mut client = pinned(host.taskset.as_deref(), CLIENT_CORE, &host.weft, &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("could not start weft bench --idle: {err}"))?;
    let stdin: Option<ChildStdin> = client.stdin.take();
    let stdout = client.stdout.take().ok_or("no stdout")?;
    let ready = first_line(stdout, IDLE_READY_TIMEOUT);
    let measured = match ready {
        Some(line) => {
            // Let the server finish whatever the last upgrades started.
            std::thread::sleep(Duration::from_secs(1));
            let after_kib = server.rss_kib();
            let connect_s = serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|v| v["connect_s"].as_f64())
                .unwrap_or(0.0);
            after_kib.map(|after_kib| IdleMemory {
                before_kib,
                after_kib,
                connections: options.idle,
                connect_s,
            })
        }
        None => Err(String::new()),
    };
    // The end of stdin closes the connections.
    drop(stdin);
    proc::wait_for_exit(&mut client, Instant::now() + Duration::from_secs(60));
    let _ = client.kill();
    let output = client.wait_with_output();
    match measured {
        Err(err) if err.is_empty() => {
            let stderr = output
                .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
                .unwrap_or_default();
            Err(format!(
                "weft bench --idle {} did not report its connections open: {stderr}",
                options.idle
            ))
        }
        other => {
            if let Some(exited) = server.exited() {
                return Err(exited);
            }
            other
        }
    }
}

fn render_idle(connections: usize, rows: &[IdleRow], http2: bool) -> String {
    let best = rows
        .iter()
        .filter(|row| !is_reference(row.server))
        .filter_map(|row| row.result.as_ref().ok())
        .map(IdleMemory::per_connection_kib)
        .filter(|&kib| kib > 0.0)
        .fold(f64::INFINITY, f64::min);
    let (name, what) = if http2 {
        (
            IDLE_H2,
            format!(
                "{connections} idle WebSockets over {} HTTP/2 connections",
                connections.div_ceil(100)
            ),
        )
    } else {
        (IDLE, format!("{connections} idle connections"))
    };
    let mut out = format!(
        "### {name}: {what}, server memory (VmRSS)\n\n\
         | server | RSS before KiB | RSS with connections KiB | KiB per connection | ÷ best | \
         connect time s |\n| --- | ---: | ---: | ---: | ---: | ---: |\n"
    );
    for row in rows {
        match &row.result {
            Ok(memory) => {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.2} | {} | {:.2} |",
                    row.server,
                    memory.before_kib,
                    memory.after_kib,
                    memory.per_connection_kib(),
                    ratio(memory.per_connection_kib(), best),
                    memory.connect_s
                );
            }
            Err(err) => {
                let _ = writeln!(out, "| {} | failed: {err} | | | | |", row.server);
            }
        }
    }
    out
}

fn idle_json(rows: &[IdleRow], scenario: &str) -> Value {
    json!({
        "scenario": scenario,
        "servers": rows.iter().map(|row| match &row.result {
            Ok(memory) => json!({
                "server": row.server,
                "connections": memory.connections,
                "rss_before_kib": memory.before_kib,
                "rss_after_kib": memory.after_kib,
                "kib_per_connection": memory.per_connection_kib(),
                "connect_s": memory.connect_s,
            }),
            Err(err) => json!({ "server": row.server, "error": err }),
        }).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn certificate_paths_are_read_in_order() {
        let files = TlsFiles::from_paths("/t/ca.pem\n/t/cert.pem\n/t/key.pem\n").unwrap();
        assert_eq!(
            [files.ca, files.cert, files.key],
            ["/t/ca.pem", "/t/cert.pem", "/t/key.pem"].map(PathBuf::from)
        );
        assert!(TlsFiles::from_paths("/t/ca.pem\n/t/cert.pem\n").is_none());
    }

    #[test]
    fn options_default_to_everything() {
        let options = parse(&[]).unwrap();
        assert!(!options.compare && !options.quick);
        assert_eq!(options.scenarios.len(), SCENARIOS.len() + 2); // and the idle ones
        assert_eq!(options.servers, SERVERS);
        assert_eq!((options.rounds, options.duration), (5, 3.0));
        let options = parse(&args(&[
            "--compare",
            "--scenarios",
            "1x20B,idle",
            "--servers",
            "weft,tungstenite",
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
            (options.rounds, options.duration, options.warmup),
            (2, 0.5, 0.0)
        );
        // The extra server is named explicitly; it runs weft's example with an argument.
        let options = parse(&args(&["--servers", "weft,weft-no-keepalive"])).unwrap();
        assert_eq!(options.servers, [WEFT, EXTRA_SERVERS[0]]);
        assert_eq!(options.servers[1].example, "echo_weft");
        assert_eq!(options.servers[1].args, ["--no-keepalive"]);
        let options = parse(&args(&["--servers", "floor,weft"])).unwrap();
        assert_eq!(options.servers[0].example, "echo_floor");
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
            &["--rounds", "0"],
            &["--duration", "-1"],
            &["--compare", "--quick"],
            &["--frobnicate"],
            &["--rounds"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cpu_times_come_from_fields_14_and_15() {
        let stat = "4242 (echo (weird) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    250 37 0 0 20 0 1 0 12345 1000000 600 18446744073709551615";
        assert_eq!(
            parse_stat(stat),
            Some(CpuTicks {
                user: 250,
                system: 37
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        let later = CpuTicks {
            user: 300,
            system: 40,
        };
        assert_eq!(
            later.since(parse_stat(stat).unwrap()),
            CpuTicks {
                user: 50,
                system: 3
            }
        );
    }

    #[test]
    fn memory_and_core_counters_are_parsed() {
        let status = "Name:\techo_weft\nVmHWM:\t    9000 kB\nVmRSS:\t    6260 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(6260));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        let stat = "cpu  10 0 10 100 0 0 0 0 0 0\n\
                    cpu0 5 0 5 40 10 0 0 0 0 0\n\
                    cpu1 5 0 5 60 0 0 0 0 0 0\n\
                    intr 1 2 3\n";
        // Busy excludes idle and iowait.
        assert_eq!(parse_core_ticks(stat), [(10, 60), (10, 70)]);
    }

    #[test]
    fn executables_are_found_by_target_name() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"weft"},"executable":"/t/release/weft"}
{"reason":"compiler-artifact","target":{"name":"bytes"},"executable":null}
{"reason":"build-finished","success":true}"#;
        let found = executables(messages);
        assert_eq!(found.len(), 1);
        assert_eq!(found["weft"], PathBuf::from("/t/release/weft"));
    }

    fn sample(rate: f64, p50: f64, user: u64, system: u64, echoed: u64) -> Sample {
        Sample {
            messages_per_s: rate,
            mb_per_s: rate / 1e3,
            p50_us: p50,
            p99_us: p50 * 2.0,
            echoed,
            cpu: CpuTicks { user, system },
            server_core_other: 0.01,
            client_core_busy: 0.9,
        }
    }

    /// A row from one run.
    fn one_run(server: &'static str, sample: Sample) -> Row {
        Row::new(server, vec![sample], vec![], 100)
    }

    /// The table row of `one_run("weft", sample(200.0, 10.0, 10, 10, 100_000))` as the best.
    const WEFT_BEST: &str =
        "| weft | 200 | 0.2 | 10.0 | 20.0 | 1.00 | 1.00 | 2.00 | 1.00 | 1.00 | 0% |";

    #[test]
    fn rows_take_medians_and_cpu_per_message() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let samples = vec![
            sample(100.0, 10.0, 10, 5, 50_000),
            sample(300.0, 30.0, 20, 5, 50_000),
            sample(200.0, 20.0, 30, 10, 100_000),
        ];
        let row = Row::new("weft", samples, Vec::new(), 100);
        assert_eq!(row.messages_per_s, 200.0);
        assert_eq!(row.p50_us, 20.0);
        assert_eq!(row.p99_us, 40.0);
        // 60 ticks of user time at 100 per second over 200,000 messages: 3 µs each.
        assert_eq!(row.cpu_user_us, 3.0);
        assert_eq!(row.cpu_system_us, 1.0);
        assert_eq!(row.cpu_total_us(), 4.0);
        assert_eq!(row.spread, 1.0);
    }

    #[test]
    fn tables_show_ratios_to_the_best() {
        let fast = one_run("weft", sample(200.0, 10.0, 10, 10, 100_000));
        let slow = one_run("tungstenite", sample(100.0, 20.0, 30, 10, 100_000));
        let broken = Row::new(
            "fastwebsockets",
            vec![],
            vec!["it fell over".to_owned()],
            100,
        );
        let table = render_load(SCENARIOS[0], &[fast, slow, broken]);
        assert!(
            table.starts_with(
                "### 1x20B: 1 connection(s) × 20 B binary, 1 in flight per connection\n\n"
            ),
            "{table}"
        );
        assert_eq!(
            SCENARIOS[5].describe(),
            "10 connection(s) × 16 KiB text, 1 in flight"
        );
        assert!(table.contains(WEFT_BEST), "{table}");
        assert!(
            table.contains(
                "| tungstenite | 100 | 0.1 | 20.0 | 40.0 | 3.00 | 1.00 | 4.00 | 0.50 | 2.00 | 0% |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| fastwebsockets | failed: it fell over |"),
            "{table}"
        );
        assert_eq!(ratio(0.0, 1.0), "–");
        assert_eq!(ratio(1.0, f64::INFINITY), "–");
    }

    #[test]
    fn the_floor_is_never_the_best() {
        let weft = one_run("weft", sample(200.0, 10.0, 10, 10, 100_000));
        let floor = one_run("floor", sample(400.0, 10.0, 5, 5, 100_000));
        let table = render_load(SCENARIOS[0], &[weft, floor]);
        // weft is the best library; the floor's ratios are to weft.
        assert!(table.contains(WEFT_BEST), "{table}");
        assert!(
            table.contains(
                "| floor | 400 | 0.4 | 10.0 | 20.0 | 0.50 | 0.50 | 1.00 | 2.00 | 0.50 | 0% |"
            ),
            "{table}"
        );
    }

    #[test]
    fn idle_memory_is_the_growth_per_connection() {
        let memory = IdleMemory {
            before_kib: 6000,
            after_kib: 106_000,
            connections: 10_000,
            connect_s: 1.5,
        };
        assert_eq!(memory.per_connection_kib(), 10.0);
        let rows = [
            IdleRow {
                server: "weft",
                result: Ok(memory),
            },
            IdleRow {
                server: "tungstenite",
                result: Err("refused".to_owned()),
            },
        ];
        let table = render_idle(10_000, &rows, false);
        assert!(
            table.contains("| weft | 6000 | 106000 | 10.00 | 1.00 | 1.50 |"),
            "{table}"
        );
        assert!(
            table.contains("| tungstenite | failed: refused |"),
            "{table}"
        );
        assert_eq!(size_text(20), "20 B");
        assert_eq!(size_text(64 << 10), "64 KiB");
        assert_eq!(size_text(1 << 20), "1 MiB");
    }
}
