//! Measuring: `weft bench` runs against each server in interleaved rounds, with the server's
//! CPU time, memory and each core's busy time read from `/proc` around every run.

use std::collections::BTreeMap;
use std::fs;
use std::process::{ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Options;
use super::contestants::{
    CLIENT_CORE, FaultProxyProcess, Host, IDLE_READY_TIMEOUT, RUN_GRACE, SERVER_CORE, ServerKind,
    ServerProcess, first_line, pinned,
};
use super::report::{idle_json, render_idle, render_load, rows_json};
use super::scenarios::{IDLE, IDLE_H2, Scenario, serves_http2};
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

pub(super) fn idle_scenario(options: &Options, host: &Host, http2: bool) -> (String, Value) {
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
pub(super) fn idle_one(
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
