//! `cargo xtask soak`: `weft serve` under the load of a population of clients, with its
//! resident memory, open descriptors and CPU time sampled from `/proc` every second.
//!
//! Two parts, each against fresh `weft serve` processes (release builds, their descriptor
//! limit raised to the hard limit by the server itself):
//!
//! - **connections**: as many idle WebSocket connections as the server's cap allows (from
//!   `weft serve`'s "serving up to N connections" line, less the honest clients and a margin),
//!   opened by `soak hold` processes of at most 5,000 each from source addresses 127.0.0.2,
//!   127.0.0.3, …; the server's keepalive pings them (every 30 s by default) and they answer.
//!   Honest clients (`soak echo`) echo 100-byte messages during the whole run and time them.
//!   Measured: server RSS per connection, echo p50/p99, keepalive CPU per connection per
//!   second (server CPU while holding, less what the echoes cost alone), kernel TCP memory;
//!   projected to 100,000 and 1,000,000 connections.
//! - **mixed**: a plain and a TLS `weft serve` under `soak mixed`: churn, sizes 0 B to 1 MiB,
//!   fragmented and compressed messages, pings, long-lived connections, and clients that
//!   vanish (FIN or reset, some mid-message). Summarised per server: RSS and descriptors at
//!   the start, after warm-up, at the end, their maximum and their slope after warm-up; then
//!   the load stops and the descriptors must return to where they started.
//!
//! The task fails if an echo came back wrong, a behaving client failed, or descriptors did
//! not return to their baseline. Memory trends are reported, never judged by a threshold in
//! the quick form (CI's), where timing noise dominates.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bench::{self, CpuTicks, TlsFiles};
use crate::cmd;
use crate::proc;

pub(crate) const USAGE: &str = "\
usage: cargo xtask soak [--quick] [--only connections|mixed] [--connections N]
                        [--hold SECS] [--duration SECS] [--workers N]

Loads release builds of `weft serve` and samples their RSS, descriptors and CPU from /proc
every second. Writes target/soak/report.md, report.json and one CSV of samples per server.

  connections   as many idle connections as the server's cap allows (about 19,000 where the
                descriptor limit is 20,000), from processes on 127.0.0.2, 127.0.0.3, ...,
                with honest clients echoing throughout: memory per connection, echo p99,
                keepalive CPU per connection, the projection to 100k and 1M connections
  mixed         a plain and a TLS server under churn, sizes 0 B to 1 MiB, fragmented and
                compressed messages, pings and vanishing clients: RSS and descriptor curves

options:
  --quick            CI's form (about 60 s; debug build, which `cargo test` already made):
                     3,000 connections held 15 s, mixed load for 30 s; figures are not
                     performance figures
  --only PART        run one part
  --connections N    idle connections (default: the server's cap less 320)
  --hold SECS        how long the connections are held (default 120: four keepalive rounds)
  --duration SECS    how long the mixed load runs (default 1800)
  --workers N        concurrent clients of the mixed load (default 16)
";

/// Idle connections per `soak hold` process (each needs a descriptor per connection).
const PER_PROCESS: usize = 5_000;
/// Honest clients and their interval: 20 × 10 messages per second.
const HONEST_CLIENTS: usize = 20;
const HONEST_INTERVAL_MS: u64 = 100;
/// Places under the server's cap left free besides the honest clients.
const CAP_MARGIN: usize = 300;
/// `weft serve`'s keepalive interval (the default `Config::ping_interval`): a hold shorter than
/// this sends no pings, and its CPU says nothing about keepalive.
const KEEPALIVE_INTERVAL_S: f64 = 30.0;
/// How long the echoes run alone first, to learn what they cost the server.
const ECHO_BASELINE: Duration = Duration::from_secs(10);
/// Bounds on the steps that wait for a child.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
const REPORT_TIMEOUT: Duration = Duration::from_secs(120);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq)]
struct Options {
    quick: bool,
    connections_part: bool,
    mixed_part: bool,
    connections: Option<usize>,
    hold: Duration,
    duration: Duration,
    workers: usize,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        quick: false,
        connections_part: true,
        mixed_part: true,
        connections: None,
        hold: Duration::from_secs(120),
        duration: Duration::from_secs(1800),
        workers: 16,
    };
    let (mut hold, mut duration, mut workers) = (None, None, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("soak: {name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--only" => match value("--only")?.as_str() {
                "connections" => options.mixed_part = false,
                "mixed" => options.connections_part = false,
                other => return Err(format!("soak: no part `{other}`\n{USAGE}")),
            },
            "--connections" => {
                options.connections = Some(number("--connections", &value("--connections")?)?);
            }
            "--hold" => hold = Some(number("--hold", &value("--hold")?)?),
            "--duration" => duration = Some(number("--duration", &value("--duration")?)?),
            "--workers" => workers = Some(number("--workers", &value("--workers")?)?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("soak: unknown option `{other}`\n{USAGE}")),
        }
    }
    if options.quick {
        options.connections = options.connections.or(Some(3_000));
        options.hold = Duration::from_secs(15);
        options.duration = Duration::from_secs(30);
        options.workers = 8;
    }
    if let Some(secs) = hold {
        options.hold = Duration::from_secs(secs as u64);
    }
    if let Some(secs) = duration {
        options.duration = Duration::from_secs(secs as u64);
    }
    if let Some(workers) = workers {
        options.workers = workers;
    }
    Ok(options)
}

fn number(name: &str, text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("soak: {name} takes a positive number, not `{text}`"))
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = match parse(args) {
        Ok(options) => options,
        Err(usage) if usage == USAGE => {
            print!("{USAGE}");
            return Ok(());
        }
        Err(err) => return Err(err),
    };
    let started = Instant::now();
    let out = cmd::workspace_root().join("target/soak");
    fs::create_dir_all(&out).map_err(|err| format!("cannot create {}: {err}", out.display()))?;
    let tools = Tools::build(!options.quick)?;
    let mut report = format!(
        "# weft soak, {}\n\n{}\n",
        if options.quick {
            "quick form (debug build, as `cargo test` left it: a check for leaks and errors, \
             not performance figures)"
        } else {
            "full form (release build)"
        },
        describe_machine()
    );
    let mut json = serde_json::Map::new();
    let mut failures = Vec::new();
    if options.connections_part {
        let (text, value, failed) = connections(&options, &tools, &out)?;
        println!("{text}");
        report.push_str(&text);
        json.insert("connections".into(), value);
        failures.extend(failed);
    }
    if options.mixed_part {
        let (text, value, failed) = mixed(&options, &tools, &out)?;
        println!("{text}");
        report.push_str(&text);
        json.insert("mixed".into(), value);
        failures.extend(failed);
    }
    let closing = format!("Finished in {}.\n", proc::secs(started.elapsed()));
    report.push_str(&closing);
    println!("{closing}");
    let md = out.join("report.md");
    fs::write(&md, &report).map_err(|err| format!("cannot write {}: {err}", md.display()))?;
    let path = out.join("report.json");
    fs::write(&path, format!("{:#}\n", Value::Object(json)))
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    eprintln!("soak: wrote {} and {}", md.display(), path.display());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("soak failed:\n- {}", failures.join("\n- ")))
    }
}

/// The machine and the time, for the report.
fn describe_machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split(':').nth(1))
        .unwrap_or("unknown CPU")
        .trim()
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let loadavg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "{date}; {cores} cores ({model}); load average at the start: {}; server, clients and \
         everything else share the cores.\n",
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// The release executables the soak runs.
struct Tools {
    weft: PathBuf,
    soak: PathBuf,
    tls_cert: PathBuf,
    clk_tck: u64,
}

impl Tools {
    /// Builds in release, or (for the quick form) in the dev profile, which `cargo test` has
    /// already built in CI.
    fn build(release: bool) -> Result<Self, String> {
        let started = Instant::now();
        let mut args = vec!["build"];
        if release {
            args.push("--release");
        }
        args.extend([
            "-p",
            "weft-cli",
            "--bin",
            "weft",
            "-p",
            "weft-tests",
            "--bin",
            "soak",
            "-p",
            "weft-benches",
            "--example",
            "tls_cert",
        ]);
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let executables = bench::cargo_build(&args, "the soak")?;
        let find = |name: &str| bench::built(&executables, name);
        eprintln!("soak: built in {}", proc::secs(started.elapsed()));
        Ok(Self {
            weft: find("weft")?,
            soak: find("soak")?,
            tls_cert: find("tls_cert")?,
            clk_tck: bench::clock_ticks(),
        })
    }
}

// -------------------------------------------------------------------------------------------
// A server and what is sampled from it.

/// A `weft serve` process: stopped when dropped; its stderr collected.
struct Server {
    child: Child,
    url: String,
    /// From its "serving up to N connections at once" line.
    capacity: usize,
    log: Arc<Mutex<Vec<String>>>,
    log_reader: Option<JoinHandle<()>>,
}

impl Server {
    fn start(tools: &Tools, name: &'static str, tls: Option<&TlsFiles>) -> Result<Self, String> {
        let mut command = Command::new(&tools.weft);
        command.args(["serve", "--listen", "127.0.0.1:0", "--quiet"]);
        if let Some(tls) = tls {
            command
                .arg("--tls-cert")
                .arg(&tls.cert)
                .arg("--tls-key")
                .arg(&tls.key);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("could not start weft serve: {err}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let banner = bench::first_line(stdout, Duration::from_secs(30))
            .ok_or_else(|| format!("the {name} server printed no banner"))?;
        let addr = banner
            .strip_prefix("weft: listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .ok_or_else(|| format!("unexpected banner {banner:?}"))?
            .to_owned();
        let url = if tls.is_some() {
            addr.replace("wss://127.0.0.1", "wss://localhost")
        } else {
            addr
        };
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (first_tx, first_rx) = mpsc::channel();
        let lines = log.clone();
        let log_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = first_tx.send(line.clone());
                lock(&lines).push(line);
            }
        });
        let capacity_line = first_rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| format!("the {name} server did not say how many connections it serves"))?;
        let capacity = capacity_line
            .strip_prefix("weft: serving up to ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unexpected line {capacity_line:?}"))?;
        Ok(Self {
            child,
            url: format!("{url}/"),
            capacity,
            log,
            log_reader: Some(log_reader),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it with SIGTERM (it closes every connection with 1001 and prints its counters)
    /// and returns the counters it printed.
    fn stop(&mut self) -> Vec<String> {
        proc::send_sigterm(self.pid());
        if proc::wait_for_exit(&mut self.child, Instant::now() + Duration::from_secs(30)).is_none()
        {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(reader) = self.log_reader.take() {
            let _ = reader.join();
        }
        let log = lock(&self.log);
        let stopped = log.iter().position(|line| line == "weft: stopped");
        stopped.map_or_else(Vec::new, |at| log[at + 1..].to_vec())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One look at a process.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    /// Seconds since sampling started.
    at: f64,
    rss_kib: u64,
    fds: u64,
    cpu: CpuTicks,
}

fn sample(pid: u32, at: f64) -> Option<Sample> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Sample {
        at,
        rss_kib: bench::parse_status_kib(&status, "VmRSS")?,
        fds,
        cpu: bench::parse_stat(&stat)?,
    })
}

/// Samples a process every second on a thread of its own until dropped.
struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    started: Instant,
    pid: u32,
}

impl Sampler {
    fn start(pid: u32) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let (into, stopped) = (samples.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut next = Instant::now();
            while !stopped.load(Ordering::Relaxed) {
                if let Some(sample) = sample(pid, started.elapsed().as_secs_f64()) {
                    lock(&into).push(sample);
                }
                next += Duration::from_secs(1);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
        Self {
            samples,
            stop,
            thread: Some(thread),
            started,
            pid,
        }
    }

    /// A sample taken now (besides the periodic ones).
    fn now(&self) -> Result<Sample, String> {
        sample(self.pid, self.started.elapsed().as_secs_f64())
            .ok_or_else(|| format!("cannot read /proc/{}", self.pid))
    }

    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        std::mem::take(&mut *lock(&self.samples))
    }
}

// -------------------------------------------------------------------------------------------
// Client processes.

/// A `soak` client process: its stdin is its stop signal, its stdout its report.
struct Client {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Client {
    fn start(tools: &Tools, name: String, args: &[String]) -> Result<Self, String> {
        let mut child = Command::new(&tools.soak)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| format!("could not start {name}: {err}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Ok(Self {
            name,
            child,
            stdin,
            lines,
        })
    }

    fn line(&self, what: &str, timeout: Duration) -> Result<String, String> {
        self.lines
            .recv_timeout(timeout)
            .map_err(|_| format!("{}: no {what} within {}", self.name, proc::secs(timeout)))
    }

    /// Closes its stdin (it stops) and returns its JSON report.
    fn finish(mut self) -> Result<Value, String> {
        drop(self.stdin.take());
        let line = self.line("report", REPORT_TIMEOUT)?;
        let _ = proc::wait_for_exit(&mut self.child, Instant::now() + Duration::from_secs(10));
        serde_json::from_str(&line).map_err(|err| format!("{}: {err} in {line:?}", self.name))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// -------------------------------------------------------------------------------------------
// The connections part.

fn connections(
    options: &Options,
    tools: &Tools,
    out: &Path,
) -> Result<(String, Value, Vec<String>), String> {
    eprintln!("soak: the connections part");
    let mut failures = Vec::new();
    let mut server = Server::start(tools, "connections", None)?;
    let sampler = Sampler::start(server.pid());
    let wanted = options
        .connections
        .unwrap_or_else(|| server.capacity.saturating_sub(HONEST_CLIENTS + CAP_MARGIN));
    let slab_before = kernel_slab_kib();

    // The honest clients, alone first: what their echoes cost the server.
    let echo = Client::start(
        tools,
        "soak echo".into(),
        &[
            "echo".into(),
            server.url.clone(),
            HONEST_CLIENTS.to_string(),
            HONEST_INTERVAL_MS.to_string(),
        ],
    )?;
    std::thread::sleep(Duration::from_secs(2));
    let echo_alone_start = sampler.now()?;
    let baseline_wait = if options.quick {
        ECHO_BASELINE / 2
    } else {
        ECHO_BASELINE
    };
    std::thread::sleep(baseline_wait);
    let echo_alone_end = sampler.now()?;
    let echo_cpu_per_s = ticks_s(
        echo_alone_end.cpu.since(echo_alone_start.cpu),
        tools.clk_tck,
    ) / (echo_alone_end.at - echo_alone_start.at);

    // The idle connections, from 127.0.0.2, 127.0.0.3, ...
    let connect_started = Instant::now();
    let mut holders = Vec::new();
    let mut left = wanted;
    let mut source = 2u8;
    while left > 0 {
        let count = left.min(PER_PROCESS);
        holders.push(Client::start(
            tools,
            format!("soak hold ({count} from 127.0.0.{source})"),
            &[
                "hold".into(),
                server.url.clone(),
                count.to_string(),
                format!("127.0.0.{source}"),
            ],
        )?);
        left -= count;
        source += 1;
    }
    for holder in &holders {
        let ready = holder.line("ready line", READY_TIMEOUT)?;
        if !ready.starts_with("ready ") {
            return Err(format!("{}: {ready}", holder.name));
        }
    }
    let connect_time = connect_started.elapsed();
    eprintln!(
        "soak: {wanted} connections open in {}",
        proc::secs(connect_time)
    );
    std::thread::sleep(Duration::from_secs(2));
    let held_start = sampler.now()?;
    let slab_held = kernel_slab_kib();
    std::thread::sleep(options.hold);
    let held_end = sampler.now()?;

    let mut lost = 0;
    for holder in holders {
        let report = holder.finish()?;
        lost += report["lost"].as_u64().unwrap_or(0);
    }
    let echo = echo.finish()?;
    let counters = server.stop();
    let samples = sampler.finish();
    write_csv(&out.join("samples-connections.csv"), &samples)?;

    let baseline_rss = echo_alone_end.rss_kib;
    let per_connection_kib =
        held_start.rss_kib.saturating_sub(baseline_rss) as f64 / wanted.max(1) as f64;
    let hold_s = held_end.at - held_start.at;
    let hold_cpu = ticks_s(held_end.cpu.since(held_start.cpu), tools.clk_tck);
    let keepalive_cpu_s = (hold_cpu - echo_cpu_per_s * hold_s).max(0.0);
    let keepalive_us_per_conn_s = keepalive_cpu_s * 1e6 / (wanted.max(1) as f64 * hold_s);
    let kernel_kib_per_conn = slab_held
        .zip(slab_before)
        .map(|(held, before)| held.saturating_sub(before) as f64 / wanted.max(1) as f64);
    let p99_ms = echo["p99_us"].as_f64().unwrap_or(f64::NAN) / 1000.0;
    let p50_ms = echo["p50_us"].as_f64().unwrap_or(f64::NAN) / 1000.0;
    let max_ms = echo["max_us"].as_f64().unwrap_or(f64::NAN) / 1000.0;
    if lost > 0 {
        failures.push(format!(
            "{lost} idle connections ended before they were closed"
        ));
    }
    if echo["errors"].as_u64() != Some(0) {
        failures.push(format!("honest clients failed: {echo}"));
    }

    let mut text = String::new();
    let _ = writeln!(text, "## {wanted} connections held\n");
    let _ = writeln!(
        text,
        "`weft serve` (default settings: keepalive ping every 30 s, permessage-deflate \
         offered by the clients and agreed) with {wanted} idle connections from {} processes on \
         127.0.0.2–127.0.0.{}, opened in {} and held {}; {HONEST_CLIENTS} honest clients each \
         echo a 100-byte text every {HONEST_INTERVAL_MS} ms throughout. The server's cap: {} \
         connections.\n",
        wanted.div_ceil(PER_PROCESS),
        1 + wanted.div_ceil(PER_PROCESS),
        proc::secs(connect_time),
        proc::secs(Duration::from_secs_f64(hold_s)),
        server.capacity,
    );
    let _ = writeln!(text, "| measure | value |\n| --- | ---: |");
    let _ = writeln!(text, "| connections held | {wanted} (lost: {lost}) |");
    let _ = writeln!(
        text,
        "| server RSS | {} KiB before, {} KiB held, {} KiB at the end of the hold |",
        baseline_rss, held_start.rss_kib, held_end.rss_kib
    );
    let _ = writeln!(
        text,
        "| server RSS per connection | {per_connection_kib:.2} KiB |"
    );
    if let Some(kernel) = kernel_kib_per_conn {
        let _ = writeln!(
            text,
            "| kernel slab memory per connection (both ends, system-wide SUnreclaim) | {kernel:.2} KiB |"
        );
    }
    let _ = writeln!(
        text,
        "| server descriptors | {} before, {} held |",
        echo_alone_end.fds, held_start.fds
    );
    let _ = writeln!(
        text,
        "| honest echo round trip | p50 {p50_ms:.2} ms, p99 {p99_ms:.2} ms, max {max_ms:.2} ms ({} echoes, {} errors) |",
        echo["echoed"], echo["errors"]
    );
    if hold_s < KEEPALIVE_INTERVAL_S {
        let _ = writeln!(
            text,
            "| keepalive CPU | not measured: the hold ({hold_s:.0} s) is shorter than the keepalive interval ({KEEPALIVE_INTERVAL_S:.0} s) |"
        );
    } else {
        let _ = writeln!(
            text,
            "| keepalive CPU | {keepalive_us_per_conn_s:.3} µs per connection per second ({:.3} s of CPU over {:.0} s, less {:.3} s/s for the echoes) |",
            hold_cpu, hold_s, echo_cpu_per_s
        );
    }
    let _ = writeln!(text);
    let _ = writeln!(
        text,
        "Projection (linear in the connections; the kernel's share from the slab line above, which counts both ends of each connection):\n"
    );
    let _ = writeln!(
        text,
        "| connections | server RSS | keepalive CPU | descriptors |\n| ---: | ---: | ---: | ---: |"
    );
    for connections in [100_000u32, 1_000_000] {
        let n = f64::from(connections);
        let _ = writeln!(
            text,
            "| {connections} | {:.0} MiB (+ kernel {}) | {:.3} cores | {connections} + 320 (hard limit and fs.nr_open must allow it) |",
            per_connection_kib * n / 1024.0,
            kernel_kib_per_conn.map_or("?".to_owned(), |k| format!("{:.0} MiB", k * n / 1024.0)),
            keepalive_us_per_conn_s * n / 1e6,
        );
    }
    let _ = writeln!(text, "\nThe server's counters on shutdown:\n");
    for line in &counters {
        let _ = writeln!(text, "    {line}");
    }
    let _ = writeln!(text);
    let value = json!({
        "connections": wanted,
        "capacity": server.capacity,
        "lost": lost,
        "connect_s": connect_time.as_secs_f64(),
        "hold_s": hold_s,
        "rss_kib": {"before": baseline_rss, "held": held_start.rss_kib, "end": held_end.rss_kib},
        "rss_per_connection_kib": per_connection_kib,
        "kernel_slab_kib_per_connection": kernel_kib_per_conn,
        "echo": echo,
        "keepalive_us_per_connection_per_s": keepalive_us_per_conn_s,
        "echo_cpu_s_per_s": echo_cpu_per_s,
        "counters": counters,
    });
    Ok((text, value, failures))
}

/// The kernel's unreclaimable slab memory, KiB (`SUnreclaim` of `/proc/meminfo`): where the
/// socket structures of both ends of every connection live. System-wide, so other activity
/// moves it too.
fn kernel_slab_kib() -> Option<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo").ok()?;
    bench::parse_status_kib(&meminfo, "SUnreclaim")
}

fn ticks_s(cpu: CpuTicks, clk_tck: u64) -> f64 {
    (cpu.user + cpu.system) as f64 / clk_tck.max(1) as f64
}

// -------------------------------------------------------------------------------------------
// The mixed part.

fn mixed(
    options: &Options,
    tools: &Tools,
    out: &Path,
) -> Result<(String, Value, Vec<String>), String> {
    eprintln!("soak: the mixed part, {}", proc::secs(options.duration));
    let mut failures = Vec::new();
    let tls = TlsFiles::generate(&tools.tls_cert, &out.join("tls"))?;
    let mut plain = Server::start(tools, "plain", None)?;
    let mut secure = Server::start(tools, "TLS", Some(&tls))?;
    let plain_sampler = Sampler::start(plain.pid());
    let secure_sampler = Sampler::start(secure.pid());
    std::thread::sleep(Duration::from_secs(1));
    let baseline = [plain_sampler.now()?, secure_sampler.now()?];
    let load_start = [plain_sampler.elapsed(), secure_sampler.elapsed()];
    let client = Client::start(
        tools,
        "soak mixed".into(),
        &[
            "mixed".into(),
            plain.url.clone(),
            secure.url.clone(),
            tls.ca.display().to_string(),
            options.workers.to_string(),
            "1".into(),
        ],
    )?;
    let started = Instant::now();
    while started.elapsed() < options.duration {
        let step = Duration::from_secs(60).min(options.duration - started.elapsed());
        std::thread::sleep(step);
        if let (Ok(p), Ok(s)) = (plain_sampler.now(), secure_sampler.now()) {
            eprintln!(
                "soak: {:>5.0} s: plain {} KiB {} fds, TLS {} KiB {} fds",
                started.elapsed().as_secs_f64(),
                p.rss_kib,
                p.fds,
                s.rss_kib,
                s.fds
            );
        }
    }
    let load_end = [plain_sampler.elapsed(), secure_sampler.elapsed()];
    let load = client.finish()?;
    // The load has stopped: every descriptor must come back (lingering closes take 2 s,
    // handshakes time out after 10 s).
    let mut drained = [None, None];
    let drain_started = Instant::now();
    while drain_started.elapsed() < DRAIN_TIMEOUT {
        let now = [plain_sampler.now()?, secure_sampler.now()?];
        if now.iter().zip(&baseline).all(|(n, b)| n.fds <= b.fds) {
            drained = [Some(now[0]), Some(now[1])];
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let after = [plain_sampler.now()?, secure_sampler.now()?];
    let counters = [plain.stop(), secure.stop()];
    let samples = [plain_sampler.finish(), secure_sampler.finish()];
    write_csv(&out.join("samples-mixed-plain.csv"), &samples[0])?;
    write_csv(&out.join("samples-mixed-tls.csv"), &samples[1])?;

    if load["mismatches"].as_u64() != Some(0) {
        failures.push(format!("echoes came back wrong: {load}"));
    }
    if load["errors"].as_u64() != Some(0) {
        failures.push(format!("behaving clients failed: {load}"));
    }
    let warmup = if options.quick {
        5.0
    } else {
        (options.duration.as_secs_f64() / 10.0).min(120.0)
    };
    let mut text = String::new();
    let _ = writeln!(text, "## Mixed load for {}\n", proc::secs(options.duration));
    let _ = writeln!(
        text,
        "{} clients at a time against a plain and a TLS `weft serve`: connections opened \
         and closed continuously, a third over TLS, half offering permessage-deflate, a quarter \
         sending in fragments of 1 B to 64 KiB; messages of 0 B to 1 MiB (70 % up to 1 KiB), \
         echoed and checked; pings; one in twenty connections long-lived; one in twenty \
         vanishing (FIN or reset, half of them in the middle of a 1 MiB message). Sampled every \
         second; warm-up: the first {warmup:.0} s.\n",
        options.workers
    );
    let _ = writeln!(text, "The client counted: {load}\n");
    let _ = writeln!(
        text,
        "| server | measure | start | after warm-up | end of load | max | slope after warm-up | after the load |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let mut servers_json = BTreeMap::new();
    for (i, name) in ["plain", "TLS"].into_iter().enumerate() {
        let under_load: Vec<Sample> = samples[i]
            .iter()
            .copied()
            .filter(|s| s.at >= load_start[i] && s.at <= load_end[i])
            .collect();
        let rss = Curve::of(&under_load, load_start[i], warmup, |s| s.rss_kib as f64);
        let fds = Curve::of(&under_load, load_start[i], warmup, |s| s.fds as f64);
        let _ = writeln!(
            text,
            "| {name} | RSS (KiB) | {:.0} | {:.0} | {:.0} | {:.0} | {:+.1} KiB/min | {} |",
            rss.start, rss.after_warmup, rss.end, rss.max, rss.slope_per_min, after[i].rss_kib
        );
        let _ = writeln!(
            text,
            "| {name} | descriptors | {:.0} | {:.0} | {:.0} | {:.0} | {:+.2}/min | {} (baseline {}) |",
            fds.start,
            fds.after_warmup,
            fds.end,
            fds.max,
            fds.slope_per_min,
            after[i].fds,
            baseline[i].fds
        );
        let _ = writeln!(
            text,
            "| {name} | RSS medians by tenth of the load (KiB) | {} |||||||",
            tenths(&under_load, |s| s.rss_kib)
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        if drained[i].is_none() {
            failures.push(format!(
                "the {name} server holds {} descriptors {} after the load, {} before it",
                after[i].fds,
                proc::secs(DRAIN_TIMEOUT),
                baseline[i].fds
            ));
        }
        servers_json.insert(
            name.to_owned(),
            json!({
                "baseline": {"rss_kib": baseline[i].rss_kib, "fds": baseline[i].fds},
                "rss_kib": rss.to_json(),
                "fds": fds.to_json(),
                "after": {"rss_kib": after[i].rss_kib, "fds": after[i].fds},
                "counters": counters[i],
            }),
        );
    }
    let _ = writeln!(text, "\nThe servers' counters on shutdown:\n");
    for (name, lines) in ["plain", "TLS"].iter().zip(&counters) {
        let _ = writeln!(text, "{name}:\n");
        for line in lines {
            let _ = writeln!(text, "    {line}");
        }
        let _ = writeln!(text);
    }
    let value = json!({
        "duration_s": options.duration.as_secs_f64(),
        "warmup_s": warmup,
        "workers": options.workers,
        "client": load,
        "servers": servers_json,
    });
    Ok((text, value, failures))
}

/// A sampled quantity summarised.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Curve {
    start: f64,
    after_warmup: f64,
    end: f64,
    max: f64,
    /// Least-squares slope after warm-up, per minute.
    slope_per_min: f64,
}

impl Curve {
    fn of(
        samples: &[Sample],
        load_start: f64,
        warmup: f64,
        value: impl Fn(&Sample) -> f64,
    ) -> Self {
        let values: Vec<(f64, f64)> = samples.iter().map(|s| (s.at, value(s))).collect();
        let first = values.first().map_or(0.0, |v| v.1);
        let warm: Vec<(f64, f64)> = values
            .iter()
            .copied()
            .filter(|(at, _)| *at >= load_start + warmup)
            .collect();
        Self {
            start: first,
            after_warmup: warm.first().map_or(first, |v| v.1),
            end: values.last().map_or(0.0, |v| v.1),
            max: values.iter().map(|v| v.1).fold(0.0, f64::max),
            slope_per_min: slope(&warm) * 60.0,
        }
    }

    fn to_json(self) -> Value {
        json!({
            "start": self.start, "after_warmup": self.after_warmup, "end": self.end,
            "max": self.max, "slope_per_min": self.slope_per_min,
        })
    }
}

/// The median of `value` over each tenth of `samples` (fewer when there are fewer samples):
/// a trend shows as rising medians, a burst as one high one.
fn tenths(samples: &[Sample], value: impl Fn(&Sample) -> u64) -> Vec<u64> {
    let size = samples.len().div_ceil(10).max(1);
    samples
        .chunks(size)
        .map(|chunk| {
            let mut values: Vec<u64> = chunk.iter().map(&value).collect();
            values.sort_unstable();
            values[values.len() / 2]
        })
        .collect()
}

/// The least-squares slope of `points` (per unit of the first coordinate); 0 for fewer than
/// two points.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in points {
        num += (x - mx) * (y - my);
        den += (x - mx) * (x - mx);
    }
    if den == 0.0 { 0.0 } else { num / den }
}

fn write_csv(path: &Path, samples: &[Sample]) -> Result<(), String> {
    let mut file =
        fs::File::create(path).map_err(|err| format!("cannot create {}: {err}", path.display()))?;
    let mut text = String::from("seconds,rss_kib,fds,cpu_ticks\n");
    for s in samples {
        let _ = writeln!(
            text,
            "{:.1},{},{},{}",
            s.at,
            s.rss_kib,
            s.fds,
            s.cpu.user + s.cpu.system
        );
    }
    file.write_all(text.as_bytes())
        .map_err(|err| format!("cannot write {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|&s| s.to_owned()).collect()
    }

    #[test]
    fn options_default_to_the_full_form_and_quick_shortens_it() {
        let full = parse(&[]).unwrap();
        assert_eq!(full.hold, Duration::from_secs(120));
        assert_eq!(full.duration, Duration::from_secs(1800));
        assert_eq!(full.connections, None);
        let quick = parse(&args(&["--quick"])).unwrap();
        assert_eq!(quick.connections, Some(3_000));
        assert_eq!(quick.duration, Duration::from_secs(30));
        let one = parse(&args(&["--only", "mixed", "--duration", "60"])).unwrap();
        assert!(!one.connections_part && one.mixed_part);
        assert_eq!(one.duration, Duration::from_secs(60));
        assert!(parse(&args(&["--only", "nothing"])).is_err());
        assert!(parse(&args(&["--workers", "0"])).is_err());
    }

    #[test]
    fn a_flat_line_has_no_slope_and_a_rising_one_does() {
        let flat: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), 5.0)).collect();
        assert_eq!(slope(&flat), 0.0);
        let rising: Vec<(f64, f64)> = (0..10)
            .map(|i| (f64::from(i), 2.0 * f64::from(i)))
            .collect();
        assert!((slope(&rising) - 2.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 1.0)]), 0.0);
    }

    #[test]
    fn curves_summarise_start_warmup_end_and_max() {
        let samples: Vec<Sample> = (0..10u32)
            .map(|i| Sample {
                at: f64::from(i),
                rss_kib: 100 + u64::from(i % 3),
                fds: 10,
                cpu: CpuTicks::default(),
            })
            .collect();
        let curve = Curve::of(&samples, 0.0, 3.0, |s| s.rss_kib as f64);
        assert_eq!(curve.start, 100.0);
        assert_eq!(curve.after_warmup, 100.0);
        assert_eq!(curve.end, 100.0);
        assert_eq!(curve.max, 102.0);
    }

    #[test]
    fn tenths_are_medians_of_equal_parts() {
        let samples: Vec<Sample> = (0..100u32)
            .map(|i| Sample {
                at: f64::from(i),
                rss_kib: u64::from(i / 10),
                fds: 0,
                cpu: CpuTicks::default(),
            })
            .collect();
        assert_eq!(
            tenths(&samples, |s| s.rss_kib),
            (0..10).collect::<Vec<u64>>()
        );
        assert_eq!(tenths(&samples[..3], |s| s.rss_kib), [0, 0, 0]);
    }

    #[test]
    fn kernel_slab_memory_is_read_from_meminfo() {
        if Path::new("/proc/meminfo").exists() {
            assert!(kernel_slab_kib().is_some());
        }
    }
}
