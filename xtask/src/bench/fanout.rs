//! `cargo xtask bench --fanout`: one publisher, many subscribers, 1 KiB messages; deliveries
//! per second and server CPU per delivery for weft's topics (prepared messages), for the same
//! message sent to each connection one by one through the normal API, for the tokio
//! broadcast-channel idiom, for uWebSockets' `publish` through Bun, and for weft's topics across
//! two nodes through Redis.
//!
//! Each server (`benches/examples/fanout_server.rs`, `benches/bun/fanout.js`) starts fresh,
//! pinned to core 0; the load (`benches/examples/fanout_load.rs`: every subscriber and the
//! publisher, one thread) runs pinned to core 1, in rounds. A round connects the subscribers,
//! warms up until every one of them receives, and measures: the server's CPU time (and, for
//! Redis, of both nodes and `redis-server`) is read when the load starts measuring and when
//! it has finished. Subscribers live in the load process: the server holds one descriptor per
//! subscriber, the load as many, within the 20,000 a process may hold here.
//!
//! Results go to stdout as Markdown and to `target/bench/fanout.{md,json}`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::contestants::{CLIENT_CORE, SERVER_CORE, ServerProcess, built, cargo_build, pinned};
use super::measurement::{CpuTicks, clock_ticks, median};
use super::{bun, positive, seconds};
use crate::cmd;
use crate::proc;

pub(crate) const USAGE: &str = "\
usage: cargo xtask bench --fanout [--quick] [options]

One publisher, N subscribers, binary messages: deliveries/s and server CPU per delivery.
Servers pinned to core 0, the load (subscribers and publisher, one thread) to core 1. Writes
target/bench/fanout.md and fanout.json.

options:
  --servers LIST     comma-separated, default all: topics (weft's Topics, prepared messages),
                     one-by-one (the message sent to each connection through the normal
                     API), broadcast (a tokio broadcast channel, each connection's task
                     sending), bun (uWebSockets' publish through Bun, installed from npm into
                     target/bun), redis (weft's topics across two nodes through
                     redis-server: publisher on one node, subscribers on the other)
  --subscribers N    default 10000
  --size BYTES       message size, default 1024
  --window N         messages in flight (not yet received by every subscriber), default 16
  --duration SECS    measured part of each round, default 5
  --rounds N         rounds per server, default 3
  --quick            CI's form: 1,000 subscribers, one round of 1 s, servers topics,
                     one-by-one and redis (no download)
";

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Topics,
    OneByOne,
    Broadcast,
    Bun,
    Redis,
}

const KINDS: [(Kind, &str); 5] = [
    (Kind::Topics, "topics"),
    (Kind::OneByOne, "one-by-one"),
    (Kind::Broadcast, "broadcast"),
    (Kind::Bun, "bun"),
    (Kind::Redis, "redis"),
];

impl Kind {
    fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(kind, _)| *kind == self)
            .map_or("?", |(_, name)| name)
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Topics => "weft `Topics::publish` (prepared message, per-subscriber queues)",
            Self::OneByOne => "weft, `WebSocketWriter::send` to each subscriber in turn",
            Self::Broadcast => "weft, tokio `broadcast` channel, each connection `feed` + `flush`",
            Self::Bun => "uWebSockets `publish` through Bun",
            Self::Redis => {
                "weft topics on two nodes through redis-server (publisher → node A → Redis → node B → subscribers)"
            }
        }
    }
}

#[derive(Debug)]
struct Options {
    kinds: Vec<Kind>,
    subscribers: usize,
    size: usize,
    window: usize,
    duration: f64,
    rounds: usize,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        kinds: KINDS.iter().map(|(kind, _)| *kind).collect(),
        subscribers: 10_000,
        size: 1024,
        window: 16,
        duration: 5.0,
        rounds: 3,
    };
    if args.iter().any(|arg| arg == "--quick") {
        options = Options {
            kinds: vec![Kind::Topics, Kind::OneByOne, Kind::Redis],
            subscribers: 1000,
            duration: 1.0,
            rounds: 1,
            ..options
        };
    }
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("bench --fanout: {name} needs a value"))
        };
        match arg.as_str() {
            "--fanout" | "--quick" => {}
            "--servers" => {
                options.kinds = value("--servers")?
                    .split(',')
                    .map(|name| {
                        KINDS
                            .iter()
                            .find(|(_, known)| *known == name.trim())
                            .map(|(kind, _)| *kind)
                            .ok_or_else(|| format!("bench --fanout: unknown server `{name}`"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--subscribers" => options.subscribers = positive(arg, &value(arg)?)?,
            "--size" => options.size = positive(arg, &value(arg)?)?,
            "--window" => options.window = positive(arg, &value(arg)?)?,
            "--rounds" => options.rounds = positive(arg, &value(arg)?)?,
            "--duration" => options.duration = seconds(arg, &value(arg)?)?,
            other => return Err(format!("bench --fanout: unknown option `{other}`\n{USAGE}")),
        }
    }
    Ok(options)
}

/// The programs a run needs.
struct Tools {
    server: PathBuf,
    load: PathBuf,
    /// Bun's binary and version, when a Bun server is measured.
    bun: Option<(PathBuf, String)>,
    redis_server: Option<PathBuf>,
    taskset: Option<PathBuf>,
    clk_tck: u64,
    logs: PathBuf,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        print!("{USAGE}");
        return Ok(());
    }
    let options = parse(args)?;
    let started = Instant::now();
    let out_dir = cmd::workspace_root().join("target/bench");
    let logs = out_dir.join("logs");
    fs::create_dir_all(&logs).map_err(|err| format!("cannot create {}: {err}", logs.display()))?;
    let (server, load) = build()?;
    let bun = if options.kinds.contains(&Kind::Bun) {
        Some(bun::ensure()?)
    } else {
        None
    };
    let redis_server = if options.kinds.contains(&Kind::Redis) {
        let path = PathBuf::from("/usr/bin/redis-server");
        if !path.exists() {
            return Err("bench --fanout: redis-server is missing; run `cargo xtask peers`".into());
        }
        Some(path)
    } else {
        None
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let taskset = proc::find_on_path("taskset").filter(|_| cores > CLIENT_CORE);
    if taskset.is_none() {
        eprintln!("bench: no taskset or one core: servers and load run unpinned");
    }
    let tools = Tools {
        server,
        load,
        bun,
        redis_server,
        taskset,
        clk_tck: clock_ticks(),
        logs,
    };

    let mut markdown = header(&options, &tools);
    println!("{markdown}");
    let mut rows = Vec::new();
    for &kind in &options.kinds {
        let row = measure_kind(&options, &tools, kind);
        if let Err(err) = &row {
            eprintln!("bench: fanout {}: {err}", kind.name());
        }
        rows.push((kind, row));
    }
    let table = render(&options, &tools, &rows);
    println!("{table}");
    markdown.push_str(&table);
    let _ = writeln!(markdown, "\nFinished in {}.", proc::secs(started.elapsed()));
    let md_path = out_dir.join("fanout.md");
    let json_path = out_dir.join("fanout.json");
    fs::write(&md_path, &markdown)
        .map_err(|err| format!("cannot write {}: {err}", md_path.display()))?;
    let json = json!({
        "subscribers": options.subscribers, "size": options.size, "window": options.window,
        "duration_s": options.duration, "rounds": options.rounds,
        "servers": rows.iter().map(|(kind, row)| match row {
            Ok(row) => row.json(*kind),
            Err(err) => json!({ "server": kind.name(), "error": err }),
        }).collect::<Vec<_>>(),
    });
    fs::write(&json_path, format!("{json:#}\n"))
        .map_err(|err| format!("cannot write {}: {err}", json_path.display()))?;
    eprintln!(
        "bench: wrote {} and {}",
        md_path.display(),
        json_path.display()
    );
    if rows.iter().any(|(_, row)| row.is_err()) {
        return Err("bench --fanout: a server failed (see above)".to_owned());
    }
    Ok(())
}

/// Builds the fan-out server and the load in release mode.
fn build() -> Result<(PathBuf, PathBuf), String> {
    let args = [
        "build",
        "--release",
        "-p",
        "weft-benches",
        "--example",
        "fanout_server",
        "--example",
        "fanout_load",
    ]
    .map(str::to_owned);
    let executables = cargo_build(&args, "the fan-out bench")?;
    Ok((
        built(&executables, "fanout_server")?,
        built(&executables, "fanout_load")?,
    ))
}

/// Starts `program args…` pinned to `core`, logging to `logs/fanout-NAME.log`; once it prints
/// `listening on ADDR`, returns it with that address as its URL (no scheme).
fn start_server(
    tools: &Tools,
    name: &'static str,
    core: usize,
    program: &Path,
    args: &[String],
) -> Result<ServerProcess, String> {
    let log = tools.logs.join(format!("fanout-{name}.log"));
    let log_file =
        fs::File::create(&log).map_err(|err| format!("cannot create {}: {err}", log.display()))?;
    let child = pinned(tools.taskset.as_deref(), core, program, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|err| format!("could not start {name}: {err}"))?;
    let mut server = ServerProcess {
        name,
        child,
        url: String::new(),
    };
    let stdout = server.child.stdout.take().ok_or("no stdout")?;
    let banner = super::contestants::first_line(stdout, Duration::from_secs(30));
    server.url = banner
        .as_deref()
        .and_then(|line| line.strip_prefix("listening on "))
        .map(|addr| addr.trim().to_owned())
        .ok_or_else(|| {
            format!(
                "{name} did not say `listening on ADDR` (got {banner:?}); {}:\n{}",
                log.display(),
                proc::tail(&log, 10)
            )
        })?;
    Ok(server)
}

/// A process that is measured but says nothing when it starts: `redis-server`, the load.
fn spawn_quiet(
    tools: &Tools,
    name: &'static str,
    core: usize,
    program: &Path,
    args: &[String],
    output: Stdio,
) -> Result<ServerProcess, String> {
    let child = pinned(tools.taskset.as_deref(), core, program, args)
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("could not start {name}: {err}"))?;
    Ok(ServerProcess {
        name,
        child,
        url: String::new(),
    })
}

/// What the servers of one kind measured over its rounds.
#[derive(Debug, Default)]
struct Row {
    rounds: Vec<Round>,
}

#[derive(Debug, Clone)]
struct Round {
    deliveries: u64,
    expected: u64,
    seconds: f64,
    deliveries_per_s: f64,
    messages_per_s: f64,
    /// CPU ticks of each measured process, by name.
    cpu: BTreeMap<String, CpuTicks>,
}

impl Round {
    fn cpu_ticks(&self) -> u64 {
        self.cpu
            .values()
            .map(|ticks| ticks.user + ticks.system)
            .sum()
    }
}

impl Row {
    fn deliveries_per_s(&self) -> f64 {
        median(
            &self
                .rounds
                .iter()
                .map(|r| r.deliveries_per_s)
                .collect::<Vec<_>>(),
        )
    }

    fn messages_per_s(&self) -> f64 {
        median(
            &self
                .rounds
                .iter()
                .map(|r| r.messages_per_s)
                .collect::<Vec<_>>(),
        )
    }

    /// Server CPU (every measured process) per delivery over all rounds, in nanoseconds.
    fn cpu_ns_per_delivery(&self, clk_tck: u64) -> f64 {
        let ticks: u64 = self.rounds.iter().map(Round::cpu_ticks).sum();
        let deliveries: u64 = self.rounds.iter().map(|r| r.deliveries).sum();
        if deliveries == 0 {
            return 0.0;
        }
        ticks as f64 / clk_tck as f64 * 1e9 / deliveries as f64
    }

    /// The share of one core the measured processes used while measuring.
    fn cpu_busy(&self, clk_tck: u64) -> f64 {
        let ticks: u64 = self.rounds.iter().map(Round::cpu_ticks).sum();
        let seconds: f64 = self.rounds.iter().map(|r| r.seconds).sum();
        if seconds > 0.0 {
            ticks as f64 / clk_tck as f64 / seconds
        } else {
            0.0
        }
    }

    fn lost(&self) -> u64 {
        self.rounds
            .iter()
            .map(|r| r.expected.saturating_sub(r.deliveries))
            .sum()
    }

    fn json(&self, kind: Kind) -> Value {
        json!({
            "server": kind.name(),
            "what": kind.describe(),
            "deliveries_per_s": self.deliveries_per_s(),
            "messages_per_s": self.messages_per_s(),
            "lost": self.lost(),
            "rounds": self.rounds.iter().map(|r| json!({
                "deliveries": r.deliveries,
                "expected": r.expected,
                "seconds": r.seconds,
                "deliveries_per_s": r.deliveries_per_s,
                "cpu_ticks": r.cpu.iter().map(|(name, t)| (name.clone(), json!({
                    "user": t.user, "system": t.system,
                }))).collect::<serde_json::Map<_, _>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// Starts the server(s) of `kind` and runs the rounds against them.
fn measure_kind(options: &Options, tools: &Tools, kind: Kind) -> Result<Row, String> {
    eprintln!("bench: fanout {}: {}", kind.name(), kind.describe());
    let mut processes = Vec::new();
    let (publish, subscribe) = match kind {
        Kind::Topics | Kind::OneByOne | Kind::Broadcast => {
            let mode = match kind {
                Kind::Topics => "topics",
                Kind::OneByOne => "one-by-one",
                _ => "broadcast",
            };
            let args = ["127.0.0.1:0", "--mode", mode].map(str::to_owned);
            let server = start_server(tools, kind.name(), SERVER_CORE, &tools.server, &args)?;
            let addr = server.url.clone();
            processes.push(server);
            (format!("ws://{addr}/pub"), format!("ws://{addr}/sub"))
        }
        Kind::Bun => {
            let (bun, _) = tools.bun.as_ref().ok_or("Bun is not installed")?;
            let script = cmd::workspace_root().join("benches/bun/fanout.js");
            let args = [script.display().to_string(), "127.0.0.1:0".to_owned()];
            let server = start_server(tools, "bun", SERVER_CORE, bun, &args)?;
            let addr = server.url.clone();
            processes.push(server);
            (format!("ws://{addr}/pub"), format!("ws://{addr}/sub"))
        }
        Kind::Redis => {
            let redis_server = tools
                .redis_server
                .as_ref()
                .ok_or("redis-server is missing")?;
            let port = proc::free_port()?;
            let redis_args = [
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            .map(str::to_owned);
            // The node the subscribers are on does the fan-out: it has core 0 to itself;
            // the publisher's node and Redis share core 1 with the load.
            let mut redis = spawn_quiet(
                tools,
                "redis-server",
                CLIENT_CORE,
                redis_server,
                &redis_args,
                Stdio::null(),
            )?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while !proc::port_accepts(port) {
                if let Some(exited) = redis.exited() {
                    return Err(exited);
                }
                if Instant::now() > deadline {
                    return Err("redis-server did not listen within 10 s".to_owned());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let url = format!("redis://127.0.0.1:{port}");
            let node = |name: &'static str, core: usize| {
                let args = ["127.0.0.1:0", "--mode", "topics", "--redis", &url].map(str::to_owned);
                start_server(tools, name, core, &tools.server, &args)
            };
            let subscribers_node = node("redis-node-subscribers", SERVER_CORE)?;
            let publisher_node = node("redis-node-publisher", CLIENT_CORE)?;
            let (sub_addr, pub_addr) = (subscribers_node.url.clone(), publisher_node.url.clone());
            processes.extend([subscribers_node, publisher_node, redis]);
            (
                format!("ws://{pub_addr}/pub"),
                format!("ws://{sub_addr}/sub"),
            )
        }
    };
    let mut row = Row::default();
    for round in 1..=options.rounds {
        let result = load_round(options, tools, &mut processes, &publish, &subscribe);
        match result {
            Ok(measured) => {
                eprintln!(
                    "bench: fanout {} round {round}/{}: {:.0} deliveries/s ({:.0} messages/s), \
                     {} of {} delivered, server CPU {:.2} s",
                    kind.name(),
                    options.rounds,
                    measured.deliveries_per_s,
                    measured.messages_per_s,
                    measured.deliveries,
                    measured.expected,
                    measured.cpu_ticks() as f64 / tools.clk_tck as f64
                );
                row.rounds.push(measured);
            }
            Err(err) => {
                let exited: Vec<String> = processes
                    .iter_mut()
                    .filter_map(ServerProcess::exited)
                    .collect();
                return Err(if exited.is_empty() {
                    err
                } else {
                    exited.join("; ")
                });
            }
        }
    }
    Ok(row)
}

/// One round: the load connects, warms up, says `measuring`, measures, and prints its JSON.
fn load_round(
    options: &Options,
    tools: &Tools,
    processes: &mut [ServerProcess],
    publish: &str,
    subscribe: &str,
) -> Result<Round, String> {
    let args: Vec<String> = [
        "--publish",
        publish,
        "--subscribe",
        subscribe,
        "--subscribers",
        &options.subscribers.to_string(),
        "--size",
        &options.size.to_string(),
        "--window",
        &options.window.to_string(),
        "--duration",
        &options.duration.to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    let mut load = spawn_quiet(
        tools,
        "fanout_load",
        CLIENT_CORE,
        &tools.load,
        &args,
        Stdio::piped(),
    )?;
    let lines = lines_of(load.child.stdout.take().ok_or("no stdout")?);
    let errors = lines_of(load.child.stderr.take().ok_or("no stderr")?);
    let failed = |what: &str| {
        let stderr: Vec<String> = errors.try_iter().collect();
        format!("the load {what}: {}", stderr.join(" "))
    };
    // Connecting 10,000 subscribers and warming up takes a few seconds.
    match lines.recv_timeout(Duration::from_secs(180)) {
        Ok(line) if line == "measuring" => {}
        Ok(line) => return Err(failed(&format!("printed {line:?}"))),
        Err(_) => return Err(failed("did not start measuring")),
    }
    let before: Vec<CpuTicks> = processes
        .iter()
        .map(ServerProcess::cpu)
        .collect::<Result<_, _>>()?;
    let report = lines
        .recv_timeout(Duration::from_secs_f64(options.duration) + Duration::from_secs(60))
        .map_err(|_| failed("did not report"))?;
    let after: Vec<CpuTicks> = processes
        .iter()
        .map(ServerProcess::cpu)
        .collect::<Result<_, _>>()?;
    let _ = proc::wait_for_exit(&mut load.child, Instant::now() + Duration::from_secs(30));
    let report: Value = serde_json::from_str(&report)
        .map_err(|err| failed(&format!("printed no JSON ({err}): {report}")))?;
    let number = |key: &str| report[key].as_f64().unwrap_or(0.0);
    Ok(Round {
        deliveries: report["deliveries"].as_u64().unwrap_or(0),
        expected: report["expected"].as_u64().unwrap_or(0),
        seconds: number("seconds"),
        deliveries_per_s: number("deliveries_per_s"),
        messages_per_s: number("messages_per_s"),
        cpu: processes
            .iter()
            .zip(after.iter().zip(&before))
            .map(|(process, (after, before))| (process.name.to_owned(), after.since(*before)))
            .collect(),
    })
}

/// The lines of a pipe, read on a thread.
fn lines_of(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn header(options: &Options, tools: &Tools) -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let date = super::report::command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let commit = super::report::command_output("git", &["rev-parse", "--short", "HEAD"]);
    let loadavg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(out, "## cargo xtask bench --fanout, {date}\n");
    let _ = writeln!(
        out,
        "- machine: {model}; {}; commit {commit}; load average at the start: {}",
        if tools.taskset.is_some() {
            "servers on core 0, the load on core 1 (for redis: the subscribers' node on core 0; \
             the publisher's node, redis-server and the load on core 1)"
        } else {
            "unpinned"
        },
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = writeln!(
        out,
        "- {} subscribers, one publisher, {} B binary messages, at most {} in flight; {} round(s) \
         of {} s per server; deliveries/s is the median over the rounds, CPU per delivery is the \
         server's user+system time over all rounds divided by the deliveries{}",
        options.subscribers,
        options.size,
        options.window,
        options.rounds,
        options.duration,
        tools
            .bun
            .as_ref()
            .map(|(_, version)| format!("; Bun {version}"))
            .unwrap_or_default()
    );
    out
}

fn render(options: &Options, tools: &Tools, rows: &[(Kind, Result<Row, String>)]) -> String {
    let mut out = format!(
        "### {} subscribers × {} B\n\n| server | deliveries/s | messages/s | server CPU ns/delivery | \
         server CPU busy | lost |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
        options.subscribers, options.size
    );
    for (kind, row) in rows {
        match row {
            Ok(row) => {
                let _ = writeln!(
                    out,
                    "| {} | {:.0} | {:.1} | {:.0} | {:.0}% | {} |",
                    kind.name(),
                    row.deliveries_per_s(),
                    row.messages_per_s(),
                    row.cpu_ns_per_delivery(tools.clk_tck),
                    row.cpu_busy(tools.clk_tck) * 100.0,
                    row.lost()
                );
            }
            Err(err) => {
                let _ = writeln!(out, "| {} | failed: {err} | | | | |", kind.name());
            }
        }
    }
    out.push('\n');
    for (kind, _) in rows {
        let _ = writeln!(out, "- {}: {}", kind.name(), kind.describe());
    }
    if let Some((_, Ok(row))) = rows.iter().find(|(kind, _)| *kind == Kind::Redis) {
        let mut per_process: BTreeMap<&str, u64> = BTreeMap::new();
        for round in &row.rounds {
            for (name, ticks) in &round.cpu {
                *per_process.entry(name).or_default() += ticks.user + ticks.system;
            }
        }
        let deliveries: u64 = row.rounds.iter().map(|r| r.deliveries).sum();
        let _ = writeln!(
            out,
            "- redis, CPU per delivery by process: {}",
            per_process
                .iter()
                .map(|(name, ticks)| format!(
                    "{name} {:.0} ns",
                    *ticks as f64 / tools.clk_tck as f64 * 1e9 / deliveries.max(1) as f64
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|&arg| arg.to_owned()).collect()
    }

    #[test]
    fn the_quick_form_is_small_and_needs_no_download() {
        let options = parse(&args(&["--fanout", "--quick"])).unwrap();
        assert_eq!(options.subscribers, 1000);
        assert_eq!((options.rounds, options.duration), (1, 1.0));
        assert!(!options.kinds.contains(&Kind::Bun));
        let full = parse(&args(&["--fanout"])).unwrap();
        assert_eq!(full.subscribers, 10_000);
        assert_eq!(full.kinds.len(), KINDS.len());
    }

    #[test]
    fn options_override_the_defaults_and_typos_are_refused() {
        let options = parse(&args(&[
            "--fanout",
            "--quick",
            "--servers",
            "bun,topics",
            "--subscribers",
            "50",
            "--window",
            "4",
        ]))
        .unwrap();
        assert_eq!(options.kinds, [Kind::Bun, Kind::Topics]);
        assert_eq!((options.subscribers, options.window), (50, 4));
        assert!(parse(&args(&["--fanout", "--servers", "uws"])).is_err());
        assert!(parse(&args(&["--fanout", "--subscriber", "5"])).is_err());
        assert!(parse(&args(&["--fanout", "--duration", "0"])).is_err());
    }
}
