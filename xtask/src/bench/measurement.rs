//! Measuring: `weft bench` runs against each server in interleaved rounds, with the server's
//! CPU time, memory and each core's busy time read from `/proc` around every run.

use std::collections::BTreeMap;
use std::fs;
use std::process::{ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Options;
use super::contestants::{
    CLIENT_CORE, ClientKind, FaultProxyProcess, Host, IDLE_READY_TIMEOUT, RUN_GRACE, SERVER_CORE,
    ServerKind, ServerProcess, Support, banner_address, first_line, pinned,
};
use super::corpus::Corpus;
use super::report::{clients_json, idle_json, render_clients, render_idle, render_load, rows_json};
use super::scenarios::{
    ClientScenario, IDLE, IDLE_DEFLATE, IDLE_DEFLATE_EXCHANGE, IDLE_H2, Scenario,
};
use crate::proc;

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
pub(super) fn core_ticks() -> Vec<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    parse_core_ticks(&stat)
}

pub(super) fn parse_core_ticks(stat: &str) -> Vec<(u64, u64)> {
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
pub(super) struct Sample {
    pub(super) messages_per_s: f64,
    pub(super) mb_per_s: f64,
    pub(super) p50_us: f64,
    pub(super) p99_us: f64,
    pub(super) echoed: u64,
    /// Bytes of frames `weft bench` wrote and read.
    pub(super) wire_sent: u64,
    pub(super) wire_received: u64,
    pub(super) cpu: CpuTicks,
    /// Fraction of the server's core spent on anything but the server process.
    pub(super) server_core_other: f64,
    /// Fraction of the client's core in use (the client and anything else).
    pub(super) client_core_busy: f64,
}

/// How long a `weft bench` run sends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Load {
    Seconds(f64),
    Messages(usize),
}

/// Runs `weft bench` pinned to the client core for `scenario` against `url`, with a JSON report,
/// and returns its output once it exits successfully; it is killed after `timeout`. `against`
/// names the server in errors.
pub(super) fn run_weft_bench(
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
        "--window".into(),
        scenario.window.to_string(),
    ];
    match scenario.deflate {
        Some(corpus) => args.extend([
            "--deflate".into(),
            "--corpus".into(),
            host.corpus(corpus).display().to_string(),
        ]),
        None => {
            args.extend(["--size".into(), scenario.size.to_string()]);
            if scenario.text {
                args.push("--text".into());
            }
        }
    }
    match load {
        Load::Seconds(secs) => args.extend(["--duration".into(), secs.to_string()]),
        Load::Messages(count) => args.extend(["--messages".into(), count.to_string()]),
    }
    args.extend(["--json".into(), "--quiet".into()]);
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
pub(super) fn measure(
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
        wire_sent: report["wire"]["sent_bytes"].as_u64().unwrap_or(0),
        wire_received: report["wire"]["received_bytes"].as_u64().unwrap_or(0),
        cpu,
        server_core_other,
        client_core_busy,
    })
}

/// One load scenario over every server, in interleaved rounds.
pub(super) fn load_scenario(
    options: &Options,
    host: &Host,
    scenario: Scenario,
) -> Result<(String, Value), String> {
    eprintln!("bench: scenario {}: {}", scenario.name, scenario.describe());
    let mut servers = Vec::new();
    // The bad network in front of each server, for the lossy scenario.
    let mut proxies = Vec::new();
    let mut failures: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut not_applicable: BTreeMap<&str, String> = BTreeMap::new();
    // Memory before any connection, per server, for RSS per connection.
    let mut rss_before: BTreeMap<&str, u64> = BTreeMap::new();
    for kind in &options.servers {
        let args = match scenario.support(*kind) {
            Support::Yes(args) => args,
            Support::No(why) => {
                not_applicable.insert(kind.name, why.to_owned());
                continue;
            }
        };
        if let Some(why) = host.unavailable.get(kind.name) {
            not_applicable.insert(kind.name, why.clone());
            continue;
        }
        let args: Vec<String> = args.iter().map(|&arg| arg.to_owned()).collect();
        let mut server = ServerProcess::start(host, *kind, scenario.name, scenario.tls, &args)?;
        std::thread::sleep(Duration::from_millis(200));
        rss_before.insert(kind.name, server.rss_kib()?);
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
                         p99 {:>9.1} µs  server CPU {:.2} s",
                        scenario.name,
                        options.rounds,
                        server.name,
                        sample.messages_per_s,
                        sample.p50_us,
                        sample.p99_us,
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
    // The peak of resident memory over the rounds, above what the fresh server held.
    let mut rss_per_connection: BTreeMap<&str, f64> = BTreeMap::new();
    for server in &servers {
        if let (Ok(peak), Some(&before)) = (server.peak_rss_kib(), rss_before.get(server.name)) {
            let growth = peak.saturating_sub(before) as f64;
            rss_per_connection.insert(server.name, growth / scenario.connections as f64);
        }
    }
    drop(servers);
    drop(proxies);
    let rows: Vec<Row> = options
        .servers
        .iter()
        .map(|kind| {
            let mut row = Row::new(
                kind.name,
                samples.remove(kind.name).unwrap_or_default(),
                failures.remove(kind.name).unwrap_or_default(),
                host.clk_tck,
            );
            row.not_applicable = not_applicable.remove(kind.name);
            row.rss_per_connection_kib = rss_per_connection.get(kind.name).copied();
            row
        })
        .collect();
    Ok((render_load(scenario, &rows), rows_json(scenario, &rows)))
}

/// A server's figures in one scenario.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Row {
    pub(super) server: &'static str,
    pub(super) runs: usize,
    pub(super) failures: Vec<String>,
    pub(super) messages_per_s: f64,
    pub(super) mb_per_s: f64,
    pub(super) p50_us: f64,
    pub(super) p99_us: f64,
    /// Server CPU per echoed message, microseconds: user, system.
    pub(super) cpu_user_us: f64,
    pub(super) cpu_system_us: f64,
    /// (max - min) / median of messages per second over the rounds.
    pub(super) spread: f64,
    pub(super) server_core_other: f64,
    pub(super) client_core_busy: f64,
    /// Frame bytes per echoed message, from the client and from the server.
    pub(super) wire_sent_per_message: f64,
    pub(super) wire_received_per_message: f64,
    /// Peak resident memory over the rounds above the fresh server's, per connection.
    pub(super) rss_per_connection_kib: Option<f64>,
    /// The server cannot run the scenario, and why (`n/a`).
    pub(super) not_applicable: Option<String>,
    pub(super) samples: Vec<Sample>,
}

impl Row {
    pub(super) fn new(
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
        let per_message = |bytes: u64| {
            if echoed == 0 {
                0.0
            } else {
                bytes as f64 / echoed as f64
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
            wire_sent_per_message: per_message(samples.iter().map(|s| s.wire_sent).sum()),
            wire_received_per_message: per_message(samples.iter().map(|s| s.wire_received).sum()),
            rss_per_connection_kib: None,
            not_applicable: None,
            samples,
        }
    }

    pub(super) fn cpu_total_us(&self) -> f64 {
        self.cpu_user_us + self.cpu_system_us
    }
}

/// The median; 0 for no values.
pub(super) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

// ---------------------------------------------------------------------------------------------
// Idle memory.

/// What holding idle connections cost one server.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct IdleRow {
    pub(super) server: &'static str,
    pub(super) result: Result<IdleMemory, String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct IdleMemory {
    pub(super) before_kib: u64,
    pub(super) after_kib: u64,
    pub(super) connections: usize,
    pub(super) connect_s: f64,
}

impl IdleMemory {
    pub(super) fn per_connection_kib(&self) -> f64 {
        self.after_kib.saturating_sub(self.before_kib) as f64 / self.connections as f64
    }
}

/// Which idle scenario: plain, over HTTP/2, or after compressed messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Idle {
    Plain,
    Http2,
    /// Each connection first exchanges messages of the JSON corpus with permessage-deflate.
    AfterDeflate,
}

impl Idle {
    pub(super) fn from_name(name: &str) -> Option<Self> {
        match name {
            IDLE => Some(Self::Plain),
            IDLE_H2 => Some(Self::Http2),
            IDLE_DEFLATE => Some(Self::AfterDeflate),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Plain => IDLE,
            Self::Http2 => IDLE_H2,
            Self::AfterDeflate => IDLE_DEFLATE,
        }
    }

    /// How many connections it opens.
    pub(super) fn connections(self, options: &Options) -> usize {
        match self {
            Self::Plain | Self::Http2 => options.idle,
            Self::AfterDeflate => options.idle_deflate,
        }
    }

    /// How long the connections are left alone before the server's memory is read; every
    /// server gets the same time.
    fn settle(self) -> Duration {
        match self {
            Self::Plain | Self::Http2 => Duration::from_secs(2),
            Self::AfterDeflate => Duration::from_secs(11),
        }
    }

    fn support(self, kind: ServerKind) -> Support {
        match self {
            Self::Plain | Self::Http2 if super::contestants::is_deflate_setting(kind.name) => {
                Support::No(super::scenarios::DEFLATE_SETTING_ONLY)
            }
            Self::Plain => Support::Yes(&[]),
            Self::Http2 => kind.http2,
            Self::AfterDeflate => kind.deflate,
        }
    }
}

pub(super) fn idle_scenario(options: &Options, host: &Host, idle: Idle) -> (String, Value) {
    let connections = idle.connections(options);
    eprintln!(
        "bench: scenario {}: {connections} idle WebSockets",
        idle.name()
    );
    let mut rows = Vec::new();
    for kind in &options.servers {
        let result = match (idle.support(*kind), host.unavailable.get(kind.name)) {
            (Support::No(why), _) => Err(format!("n/a: {why}")),
            (_, Some(why)) => Err(format!("n/a: {why}")),
            (Support::Yes(args), None) => idle_one(host, *kind, idle, connections, args),
        };
        match &result {
            Ok(memory) => eprintln!(
                "bench: {} {:<16} {:.1} KiB per connection (RSS {} → {} KiB)",
                idle.name(),
                kind.name,
                memory.per_connection_kib(),
                memory.before_kib,
                memory.after_kib
            ),
            Err(err) => eprintln!("bench: {} {}: {err}", idle.name(), kind.name),
        }
        rows.push(IdleRow {
            server: kind.name,
            result,
        });
    }
    (
        render_idle(connections, &rows, idle),
        idle_json(&rows, idle.name()),
    )
}

/// A fresh server, its RSS, N idle connections (after their messages, for `AfterDeflate`),
/// its RSS again.
pub(super) fn idle_one(
    host: &Host,
    kind: ServerKind,
    idle: Idle,
    connections: usize,
    server_args: &[&str],
) -> Result<IdleMemory, String> {
    let server_args: Vec<String> = server_args.iter().map(|&arg| arg.to_owned()).collect();
    let mut server = ServerProcess::start(host, kind, idle.name(), false, &server_args)?;
    std::thread::sleep(Duration::from_millis(200));
    let before_kib = server.rss_kib()?;
    let mut args: Vec<String> = vec![
        "bench".into(),
        server.url.clone(),
        "--idle".into(),
        connections.to_string(),
        "--json".into(),
        "--quiet".into(),
    ];
    match idle {
        Idle::Plain => {}
        Idle::Http2 => {
            // 100 streams per connection, the servers' default SETTINGS_MAX_CONCURRENT_STREAMS.
            let http2 = connections.div_ceil(100).to_string();
            args.extend(["--http2".into(), "--http2-connections".into(), http2]);
        }
        Idle::AfterDeflate => args.extend([
            "--deflate".into(),
            "--corpus".into(),
            host.corpus(Corpus::Json).display().to_string(),
            "--exchange".into(),
            IDLE_DEFLATE_EXCHANGE.to_string(),
        ]),
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
            // Let the server finish whatever the last upgrades (or messages) started, and
            // give what a library releases when a connection falls idle time to go: weft
            // releases a grown read buffer a second after input stops, and its compressor
            // 5 to 10 s after the last compressed message (`extension_release_after`).
            std::thread::sleep(idle.settle());
            let after_kib = server.rss_kib();
            let connect_s = serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|v| v["connect_s"].as_f64())
                .unwrap_or(0.0);
            after_kib.map(|after_kib| IdleMemory {
                before_kib,
                after_kib,
                connections,
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
                "weft bench --idle {connections} did not report its connections open: {stderr}"
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

// ---------------------------------------------------------------------------------------------
// The client side.

/// What one client run measured: its own count and CPU time over the measured seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ClientSample {
    pub(super) messages: u64,
    pub(super) seconds: f64,
    pub(super) cpu: CpuTicks,
}

impl ClientSample {
    /// From the JSON line `bench_client` prints.
    pub(super) fn parse(line: &str) -> Option<Self> {
        let report: Value = serde_json::from_str(line.trim()).ok()?;
        Some(Self {
            messages: report["messages"].as_u64()?,
            seconds: report["seconds"].as_f64()?,
            cpu: CpuTicks {
                user: report["cpu_user_ticks"].as_u64()?,
                system: report["cpu_system_ticks"].as_u64()?,
            },
        })
    }

    fn messages_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.messages as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// A client's figures in one client-side scenario.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ClientRow {
    pub(super) client: &'static str,
    pub(super) samples: Vec<ClientSample>,
    pub(super) failures: Vec<String>,
    pub(super) not_applicable: Option<String>,
    pub(super) clk_tck: u64,
}

impl ClientRow {
    /// Median messages per second over the rounds.
    pub(super) fn messages_per_s(&self) -> f64 {
        median(
            &self
                .samples
                .iter()
                .map(ClientSample::messages_per_s)
                .collect::<Vec<_>>(),
        )
    }

    /// Client CPU per message over all rounds, nanoseconds: user, system.
    pub(super) fn cpu_ns(&self) -> (f64, f64) {
        let messages: u64 = self.samples.iter().map(|s| s.messages).sum();
        if messages == 0 {
            return (0.0, 0.0);
        }
        let per = |ticks: u64| ticks as f64 * 1e9 / self.clk_tck as f64 / messages as f64;
        (
            per(self.samples.iter().map(|s| s.cpu.user).sum()),
            per(self.samples.iter().map(|s| s.cpu.system).sum()),
        )
    }

    /// Client CPU per message of each round, nanoseconds, for the spread.
    pub(super) fn round_cpu_ns(&self) -> Vec<f64> {
        self.samples
            .iter()
            .filter(|s| s.messages > 0)
            .map(|s| {
                (s.cpu.user + s.cpu.system) as f64 * 1e9 / self.clk_tck as f64 / s.messages as f64
            })
            .collect()
    }
}

/// One client-side scenario: a fresh push server pinned to the server core, each client in
/// turn pinned to the client core, in interleaved rounds.
pub(super) fn client_scenario(
    options: &Options,
    host: &Host,
    scenario: ClientScenario,
) -> Result<(String, Value), String> {
    eprintln!("bench: scenario {}: {}", scenario.name, scenario.describe());
    let log = host.logs.join(format!("push_server-{}.log", scenario.name));
    let log_file =
        fs::File::create(&log).map_err(|err| format!("cannot create {}: {err}", log.display()))?;
    let mut server = pinned(
        host.taskset.as_deref(),
        SERVER_CORE,
        &host.push_server,
        &["127.0.0.1:0".to_owned()],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(log_file)
    .spawn()
    .map_err(|err| format!("could not start the push server: {err}"))?;
    let banner = server
        .stdout
        .take()
        .and_then(|stdout| first_line(stdout, Duration::from_secs(30)));
    let Some(addr) = banner.as_deref().and_then(banner_address) else {
        let _ = server.kill();
        let _ = server.wait();
        return Err(format!("the push server did not start: {banner:?}"));
    };
    let url = format!("ws://{addr}");
    let mut rows: Vec<ClientRow> = options
        .clients
        .iter()
        .map(|kind| ClientRow {
            client: kind.name,
            samples: Vec::new(),
            failures: Vec::new(),
            not_applicable: client_support(*kind, scenario).err(),
            clk_tck: host.clk_tck,
        })
        .collect();
    for round in 0..=options.rounds {
        // Round 0 is the warm-up, discarded.
        let seconds = if round == 0 {
            options.warmup
        } else {
            options.duration
        };
        if seconds <= 0.0 {
            continue;
        }
        for row in rows.iter_mut().filter(|row| row.not_applicable.is_none()) {
            match run_client(host, row.client, &url, scenario, seconds) {
                Ok(sample) if round > 0 => {
                    eprintln!(
                        "bench: {} round {round}/{} {:<16} {:>12.0} msgs/s  client CPU {:.0} ns/msg",
                        scenario.name,
                        options.rounds,
                        row.client,
                        sample.messages_per_s(),
                        (sample.cpu.user + sample.cpu.system) as f64 * 1e9
                            / host.clk_tck as f64
                            / sample.messages.max(1) as f64
                    );
                    row.samples.push(sample);
                }
                Ok(_) => {}
                Err(err) => {
                    eprintln!(
                        "bench: {} round {round}: {}: {err}",
                        scenario.name, row.client
                    );
                    row.failures.push(err);
                }
            }
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    Ok((
        render_clients(scenario, &rows),
        clients_json(scenario, &rows),
    ))
}

/// Whether `kind` takes part in `scenario`, or why not.
fn client_support(kind: ClientKind, scenario: ClientScenario) -> Result<(), String> {
    let mut needs = Vec::new();
    if !scenario.send {
        needs.push(kind.receive);
    }
    if scenario.deflate {
        needs.push(kind.deflate);
    }
    match needs
        .into_iter()
        .find(|support| matches!(support, Support::No(_)))
    {
        Some(Support::No(why)) => Err(why.to_owned()),
        _ => Ok(()),
    }
}

/// One run of `bench_client` for `client` against the push server at `url`.
fn run_client(
    host: &Host,
    client: &str,
    url: &str,
    scenario: ClientScenario,
    seconds: f64,
) -> Result<ClientSample, String> {
    let mut args = vec![
        client.to_owned(),
        url.to_owned(),
        if scenario.send { "send" } else { "receive" }.to_owned(),
        scenario.size.to_string(),
        seconds.to_string(),
    ];
    if scenario.deflate {
        args.push("--deflate".to_owned());
    }
    let mut child = pinned(
        host.taskset.as_deref(),
        CLIENT_CORE,
        &host.bench_client,
        &args,
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .map_err(|err| format!("could not start bench_client: {err}"))?;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds) + RUN_GRACE;
    if proc::wait_for_exit(&mut child, deadline).is_none() {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("{client} did not finish in time"));
    }
    let output = child.wait_with_output().map_err(|err| err.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{client} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    ClientSample::parse(&stdout).ok_or_else(|| format!("{client} printed no report: {stdout}"))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

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
    fn client_reports_are_read_and_averaged_over_messages() {
        let line = r#"{"messages":1000000,"bytes":20000000,"seconds":2.0,"cpu_user_ticks":3,"cpu_system_ticks":1}"#;
        let sample = ClientSample::parse(line).unwrap();
        assert_eq!(sample.messages_per_s(), 500_000.0);
        assert!(ClientSample::parse("{}").is_none());
        let row = ClientRow {
            client: "weft",
            samples: vec![sample, sample],
            failures: vec![],
            not_applicable: None,
            clk_tck: 100,
        };
        // 8 ticks of 10 ms over 2,000,000 messages: 40 ns each, 30 of them user time.
        assert_eq!(row.cpu_ns(), (30.0, 10.0));
        assert_eq!(row.round_cpu_ns(), [40.0, 40.0]);
        assert_eq!(row.messages_per_s(), 500_000.0);
    }

    #[test]
    fn clients_without_a_feature_sit_the_scenario_out() {
        use crate::bench::contestants::CLIENTS;
        use crate::bench::scenarios::CLIENT_SCENARIOS;
        let receive_deflate = CLIENT_SCENARIOS[4];
        let send = CLIENT_SCENARIOS[6];
        assert!(receive_deflate.deflate && !receive_deflate.send && send.send);
        let find = |name: &str| *CLIENTS.iter().find(|c| c.name == name).unwrap();
        assert!(client_support(find("weft"), receive_deflate).is_ok());
        assert!(client_support(find("tungstenite"), receive_deflate).is_err());
        assert!(client_support(find("weft-feed"), CLIENT_SCENARIOS[0]).is_err());
        assert!(client_support(find("weft-feed"), send).is_ok());
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

    pub(in crate::bench) fn sample(
        rate: f64,
        p50: f64,
        user: u64,
        system: u64,
        echoed: u64,
    ) -> Sample {
        Sample {
            messages_per_s: rate,
            mb_per_s: rate / 1e3,
            p50_us: p50,
            p99_us: p50 * 2.0,
            echoed,
            wire_sent: echoed * 26,
            wire_received: echoed * 22,
            cpu: CpuTicks { user, system },
            server_core_other: 0.01,
            client_core_busy: 0.9,
        }
    }

    /// A row from one run.
    pub(in crate::bench) fn one_run(server: &'static str, sample: Sample) -> Row {
        Row::new(server, vec![sample], vec![], 100)
    }

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
}
