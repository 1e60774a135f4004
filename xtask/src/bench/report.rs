//! The report: Markdown tables (stdout and `target/bench/compare.md`) and their JSON
//! (`compare.json`, every sample).

use std::fmt::Write as _;
use std::fs;
use std::process::Command;

use serde_json::{Value, json};

use super::Options;
use super::contestants::{CLIENT_CORE, Host, SERVER_CORE, is_reference};
use super::measurement::{ClientRow, Idle, IdleMemory, IdleRow, Row, median};
use super::scenarios::{ClientScenario, IDLE_DEFLATE_EXCHANGE, Scenario};

/// The header of the report: machine, date, commit, settings.
pub(super) fn machine_description(
    options: &Options,
    host: &Host,
    bun_version: Option<&str>,
) -> String {
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
    if let Some(version) = bun_version {
        let _ = writeln!(
            out,
            "- Bun {version} (uWebSockets), from npm into target/bun"
        );
    }
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

pub(super) fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// `value / best`: for rates the best is the highest, for costs the lowest. With no best (only
/// the floor ran, or nothing did) there is no ratio.
pub(super) fn ratio(value: f64, best: f64) -> String {
    if best > 0.0 && best.is_finite() && value > 0.0 {
        format!("{:.2}", value / best)
    } else {
        "–".to_owned()
    }
}

pub(super) fn render_load(scenario: Scenario, rows: &[Row]) -> String {
    let ok: Vec<&Row> = rows.iter().filter(|row| row.runs > 0).collect();
    let libraries = || ok.iter().filter(|row| !is_reference(row.server));
    let best_rate = libraries()
        .map(|row| row.messages_per_s)
        .fold(0.0, f64::max);
    let lowest = |pick: fn(&Row) -> f64| {
        libraries()
            .map(|row| pick(row))
            .filter(|&value| value > 0.0)
            .fold(f64::INFINITY, f64::min)
    };
    let best_cpu = lowest(Row::cpu_total_us);
    let best_p99 = lowest(|row| row.p99_us);
    let deflate = scenario.deflate.is_some();
    let mut out = format!(
        "### {}: {} per connection\n\n",
        scenario.name,
        scenario.describe()
    );
    out.push_str(
        "| server | msgs/s | MB/s | p50 µs | p99 µs | CPU µs/msg user | sys | total | \
         RSS KiB/conn |",
    );
    if deflate {
        out.push_str(" wire B/msg to server | from server |");
    }
    out.push_str(" msgs/s ÷ best | CPU ÷ best | p99 ÷ best | spread |\n");
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    if deflate {
        out.push_str(" ---: | ---: |");
    }
    out.push_str(" ---: | ---: | ---: | ---: |\n");
    let columns = if deflate { 15 } else { 13 };
    for row in rows {
        if row.runs == 0 {
            let why = match &row.not_applicable {
                Some(why) => format!("n/a: {why}"),
                None => format!(
                    "failed: {}",
                    row.failures.first().map_or("no runs", String::as_str)
                ),
            };
            let _ = writeln!(
                out,
                "| {} | {why} |{}",
                row.server,
                " |".repeat(columns - 2)
            );
            continue;
        }
        let _ = write!(
            out,
            "| {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {} |",
            row.server,
            row.messages_per_s,
            row.mb_per_s,
            row.p50_us,
            row.p99_us,
            row.cpu_user_us,
            row.cpu_system_us,
            row.cpu_total_us(),
            row.rss_per_connection_kib
                .map_or_else(|| "–".to_owned(), |kib| format!("{kib:.1}")),
        );
        if deflate {
            let _ = write!(
                out,
                " {:.1} | {:.1} |",
                row.wire_sent_per_message, row.wire_received_per_message
            );
        }
        let _ = writeln!(
            out,
            " {} | {} | {} | {:.0}% |",
            ratio(row.messages_per_s, best_rate),
            ratio(row.cpu_total_us(), best_cpu),
            ratio(row.p99_us, best_p99),
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

pub(super) fn rows_json(scenario: Scenario, rows: &[Row]) -> Value {
    json!({
        "scenario": scenario.name,
        "connections": scenario.connections,
        "size": scenario.size,
        "window": scenario.window,
        "text": scenario.text,
        "deflate": scenario.deflate.map(|corpus| corpus.file_name()),
        "servers": rows.iter().map(|row| json!({
            "server": row.server,
            "runs": row.runs,
            "failures": row.failures,
            "not_applicable": row.not_applicable,
            "rss_per_connection_kib": row.rss_per_connection_kib,
            "wire_sent_per_message": row.wire_sent_per_message,
            "wire_received_per_message": row.wire_received_per_message,
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
                "wire_sent": s.wire_sent,
                "wire_received": s.wire_received,
                "cpu_user_ticks": s.cpu.user,
                "cpu_system_ticks": s.cpu.system,
                "server_core_other": s.server_core_other,
                "client_core_busy": s.client_core_busy,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

pub(super) fn render_idle(connections: usize, rows: &[IdleRow], idle: Idle) -> String {
    let best = rows
        .iter()
        .filter(|row| !is_reference(row.server))
        .filter_map(|row| row.result.as_ref().ok())
        .map(IdleMemory::per_connection_kib)
        .filter(|&kib| kib > 0.0)
        .fold(f64::INFINITY, f64::min);
    let name = idle.name();
    let what = match idle {
        Idle::Plain => format!("{connections} idle connections"),
        Idle::Http2 => format!(
            "{connections} idle WebSockets over {} HTTP/2 connections",
            connections.div_ceil(100)
        ),
        Idle::AfterDeflate => format!(
            "{connections} idle connections, each after {IDLE_DEFLATE_EXCHANGE} JSON messages \
             each way with permessage-deflate (the library's defaults)"
        ),
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
            Err(err) if err.starts_with("n/a") => {
                let _ = writeln!(out, "| {} | {err} | | | | |", row.server);
            }
            Err(err) => {
                let _ = writeln!(out, "| {} | failed: {err} | | | | |", row.server);
            }
        }
    }
    out
}

pub(super) fn render_clients(scenario: ClientScenario, rows: &[ClientRow]) -> String {
    let measured = || rows.iter().filter(|row| !row.samples.is_empty());
    let best_rate = measured()
        .map(ClientRow::messages_per_s)
        .fold(0.0, f64::max);
    let best_cpu = measured()
        .map(|row| row.cpu_ns().0 + row.cpu_ns().1)
        .filter(|&cpu| cpu > 0.0)
        .fold(f64::INFINITY, f64::min);
    let mut out = format!(
        "### {}: {}\n\n\
         | client | msgs/s | client CPU ns/msg user | sys | total | msgs/s ÷ best | CPU ÷ best \
         | CPU spread |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        scenario.name,
        scenario.describe()
    );
    for row in rows {
        if row.samples.is_empty() {
            let why = match &row.not_applicable {
                Some(why) => format!("n/a: {why}"),
                None => format!(
                    "failed: {}",
                    row.failures.first().map_or("no runs", String::as_str)
                ),
            };
            let _ = writeln!(out, "| {} | {why} | | | | | | |", row.client);
            continue;
        }
        let (user, system) = row.cpu_ns();
        let rounds = row.round_cpu_ns();
        let middle = median(&rounds);
        let spread = rounds.iter().fold(0.0f64, |hi, &r| hi.max(r))
            - rounds.iter().fold(f64::INFINITY, |lo, &r| lo.min(r));
        let _ = writeln!(
            out,
            "| {} | {:.0} | {user:.1} | {system:.1} | {:.1} | {} | {} | {:.0}% |",
            row.client,
            row.messages_per_s(),
            user + system,
            ratio(row.messages_per_s(), best_rate),
            ratio(user + system, best_cpu),
            if middle > 0.0 {
                spread / middle * 100.0
            } else {
                0.0
            }
        );
    }
    for row in rows {
        if !row.failures.is_empty() && !row.samples.is_empty() {
            let _ = writeln!(
                out,
                "{}: {} run(s) failed, first: {}",
                row.client,
                row.failures.len(),
                row.failures[0]
            );
        }
    }
    out
}

pub(super) fn clients_json(scenario: ClientScenario, rows: &[ClientRow]) -> Value {
    json!({
        "scenario": scenario.name,
        "kind": "client",
        "size": scenario.size,
        "deflate": scenario.deflate,
        "send": scenario.send,
        "clients": rows.iter().map(|row| json!({
            "client": row.client,
            "not_applicable": row.not_applicable,
            "failures": row.failures,
            "messages_per_s": row.messages_per_s(),
            "cpu_user_ns_per_msg": row.cpu_ns().0,
            "cpu_system_ns_per_msg": row.cpu_ns().1,
            "samples": row.samples.iter().map(|s| json!({
                "messages": s.messages,
                "seconds": s.seconds,
                "cpu_user_ticks": s.cpu.user,
                "cpu_system_ticks": s.cpu.system,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

pub(super) fn idle_json(rows: &[IdleRow], scenario: &str) -> Value {
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
    use crate::bench::measurement::tests::{one_run, sample};
    use crate::bench::scenarios::{SCENARIOS, size_text};

    /// The table row of `one_run("weft", sample(200.0, 10.0, 10, 10, 100_000))` as the best.
    const WEFT_BEST: &str =
        "| weft | 200 | 0.2 | 10.0 | 20.0 | 1.00 | 1.00 | 2.00 | – | 1.00 | 1.00 | 1.00 | 0% |";

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
                "| tungstenite | 100 | 0.1 | 20.0 | 40.0 | 3.00 | 1.00 | 4.00 | – | 0.50 | 2.00 \
                 | 2.00 | 0% |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| fastwebsockets | failed: it fell over | | |"),
            "{table}"
        );
        // A server that cannot run the scenario keeps its row, with the reason.
        let mut absent = Row::new("bun", vec![], vec![], 100);
        absent.not_applicable = Some("Bun could not be installed".to_owned());
        let table = render_load(SCENARIOS[0], &[absent]);
        assert!(
            table.contains("| bun | n/a: Bun could not be installed |"),
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
                "| floor | 400 | 0.4 | 10.0 | 20.0 | 0.50 | 0.50 | 1.00 | – | 2.00 | 0.50 | 1.00 \
                 | 0% |"
            ),
            "{table}"
        );
    }

    #[test]
    fn deflate_tables_show_bytes_on_the_wire_and_memory() {
        let scenario = *SCENARIOS
            .iter()
            .find(|s| s.name == "100xjson-deflate")
            .unwrap();
        let mut weft = one_run("weft", sample(200.0, 10.0, 10, 10, 100_000));
        weft.rss_per_connection_kib = Some(48.25);
        let table = render_load(scenario, &[weft]);
        assert!(
            table.contains("| 48.2 | 26.0 | 22.0 | 1.00 |") || table.contains("| 48.3 | 26.0 |"),
            "{table}"
        );
        assert!(table.contains("wire B/msg to server"), "{table}");
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
        let table = render_idle(10_000, &rows, Idle::Plain);
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
