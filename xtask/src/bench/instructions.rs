//! `cargo xtask bench --compare --instructions`: user-space instructions per echoed message,
//! counted by callgrind (valgrind), for each server and load scenario.
//!
//! Server CPU time from `/proc` comes in 10 ms ticks and moves with everything else the
//! machine does; an instruction count is the same from run to run (for the same binary and
//! inputs), so it is the figure for "the library's own code costs less per message". It counts
//! user space only: the kernel's share (most of an echo's cost on loopback) is not in it, and an
//! instruction is not a fixed amount of time (a SIMD unmask and a byte loop count alike).
//!
//! For each scenario and server, two fresh servers run under `valgrind --tool=callgrind`, one
//! echoing `n` messages and one `n + d`; the difference divided by `d` is the cost of one
//! message with the start-up, the handshakes and the shutdown taken out. `callgrind_annotate`
//! then splits that cost by source file and function: code in the library's own crate (and its
//! echo example) is the library's own, and so is std and core code inlined into the library's
//! functions (its iterators, slices and SIMD intrinsics are the library's loops); tokio, libc,
//! std's own functions and the rest are shared by every server.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::contestants::{Host, ServerKind, ServerProcess, Support, is_reference};
use super::measurement::{Load, run_weft_bench};
use super::report::ratio;
use super::scenarios::Scenario;
use crate::proc;

/// Payload bytes echoed in the measured difference, per scenario (bounded in messages below).
const MEASURED_BYTES: usize = 200 << 20;
/// Messages in the measured difference: at least and at most.
const MIN_MESSAGES: usize = 200;
const MAX_MESSAGES: usize = 10_000;
/// How long a server under valgrind gets to write its profile once told to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one counted run may take (valgrind runs the server some 20–50 times slower).
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// What the instruction count needs from the host.
pub(super) struct Tools {
    valgrind: PathBuf,
    annotate: PathBuf,
}

impl Tools {
    /// valgrind and callgrind_annotate, installed from Debian's `valgrind` when missing.
    pub(super) fn find_or_install(logs: &Path) -> Result<Self, String> {
        let find = || {
            Some(Self {
                valgrind: proc::find_on_path("valgrind")?,
                annotate: proc::find_on_path("callgrind_annotate")?,
            })
        };
        if let Some(tools) = find() {
            return Ok(tools);
        }
        eprintln!("bench: valgrind not found; installing Debian's valgrind");
        proc::apt_install(&["valgrind"], &logs.join("apt-valgrind.log"))?;
        find().ok_or_else(|| "valgrind was installed but is not on PATH".to_owned())
    }
}

/// Messages echoed in the shorter run and in the measured difference.
fn message_counts(scenario: Scenario) -> (usize, usize) {
    let measured = (MEASURED_BYTES / scenario.size.max(1)).clamp(MIN_MESSAGES, MAX_MESSAGES);
    (measured / 5, measured)
}

/// Instructions a server executed, in all and in the library's own source files.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Count {
    total: u64,
    own: u64,
}

/// One server's figures per message.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    server: &'static str,
    result: Result<(f64, f64), String>,
}

/// Counts every server for `scenario`; returns its Markdown table and JSON.
pub(super) fn scenario(
    host: &Host,
    tools: &Tools,
    servers: &[ServerKind],
    scenario: Scenario,
) -> (String, Value) {
    let (base, measured) = message_counts(scenario);
    eprintln!(
        "bench: instructions, scenario {}: {} and {} messages per server under callgrind",
        scenario.name,
        base,
        base + measured
    );
    let rows: Vec<Row> = servers
        .iter()
        .map(|&kind| {
            let started = Instant::now();
            let args = match scenario.support(kind) {
                _ if kind.sources.is_empty() => Err(
                    "n/a: not a Rust program whose own code callgrind can tell apart".to_owned(),
                ),
                Support::No(why) => Err(format!("n/a: {why}")),
                Support::Yes(args) => Ok(args),
            };
            let result = args
                .and_then(|args| {
                    let short = count(host, tools, kind, scenario, args, base)?;
                    let long = count(host, tools, kind, scenario, args, base + measured)?;
                    Ok((short, long))
                })
                .map(|(short, long)| {
                    let per = |a: u64, b: u64| b.saturating_sub(a) as f64 / measured as f64;
                    (per(short.total, long.total), per(short.own, long.own))
                });
            match &result {
                Ok((total, own)) => eprintln!(
                    "bench: instructions {} {:<16} {total:>9.0} per message, own code {own:>7.0} \
                     ({})",
                    scenario.name,
                    kind.name,
                    proc::secs(started.elapsed())
                ),
                Err(err) => eprintln!("bench: instructions {} {}: {err}", scenario.name, kind.name),
            }
            Row {
                server: kind.name,
                result,
            }
        })
        .collect();
    (
        render(scenario, &rows),
        rows_json(scenario, measured, &rows),
    )
}

/// Runs `kind` under callgrind while `weft bench` echoes `messages`, and counts.
fn count(
    host: &Host,
    tools: &Tools,
    kind: ServerKind,
    scenario: Scenario,
    args: &[&str],
    messages: usize,
) -> Result<Count, String> {
    let profile = host.logs.join(format!(
        "callgrind-{}-{}-{messages}.out",
        kind.name, scenario.name
    ));
    let _ = fs::remove_file(&profile);
    let valgrind_args = [
        "--tool=callgrind".to_owned(),
        format!("--callgrind-out-file={}", profile.display()),
    ];
    let label = format!("{}-instructions-{messages}", scenario.name);
    let args: Vec<String> = args.iter().map(|&arg| arg.to_owned()).collect();
    let mut server = ServerProcess::start_under(
        host,
        kind,
        &label,
        scenario.tls,
        &args,
        Some((&tools.valgrind, &valgrind_args)),
    )?;
    run_weft_bench(
        host,
        &format!("{} under callgrind", kind.name),
        &server.url,
        scenario,
        Load::Messages(messages),
        RUN_TIMEOUT,
    )?;
    // valgrind writes the profile when the server dies of SIGTERM as when it exits.
    server.terminate(STOP_TIMEOUT)?;
    let text = fs::read_to_string(&profile)
        .map_err(|err| format!("no callgrind profile {}: {err}", profile.display()))?;
    let total = profile_total(&text)
        .ok_or_else(|| format!("no instruction total in {}", profile.display()))?;
    let by_function = annotate(&tools.annotate, &profile)?;
    let own = by_function
        .iter()
        .filter(|((file, function), _)| is_own(kind, file, function))
        .map(|(_, count)| count)
        .sum();
    Ok(Count { total, own })
}

/// Whether code at `file` running as `function` is the library's own: its sources, or std and
/// core source inlined into one of its functions. Inlined tokio or bytes code stays shared.
fn is_own(kind: ServerKind, file: &str, function: &str) -> bool {
    if kind.sources.iter().any(|source| file.contains(source)) {
        return true;
    }
    let from_std = file.starts_with("/rustc/") || file.starts_with("library/");
    // `<weft_server::stream::ServerStream as tokio::io::AsyncRead>::poll_read` is weft's.
    let function = function.trim_start_matches('<');
    from_std
        && kind
            .functions
            .iter()
            .any(|prefix| function.starts_with(prefix))
}

/// The `summary:` (or `totals:`) line of a callgrind profile: instructions in all.
fn profile_total(profile: &str) -> Option<u64> {
    profile.lines().find_map(|line| {
        line.strip_prefix("summary:")
            .or_else(|| line.strip_prefix("totals:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
    })
}

/// Instructions by source file and function: `callgrind_annotate`'s exclusive cost of the code
/// from each file inlined into (or defined in) each function.
fn annotate(program: &Path, profile: &Path) -> Result<BTreeMap<(String, String), u64>, String> {
    // From `/`: callgrind_annotate shortens paths under its working directory.
    let output = Command::new(program)
        .current_dir("/")
        .args(["--inclusive=no", "--threshold=100", "--auto=no"])
        .arg(profile)
        .output()
        .map_err(|err| format!("cannot run callgrind_annotate: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "callgrind_annotate {} failed: {}",
            profile.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(parse_annotate(&String::from_utf8_lossy(&output.stdout)))
}

/// Parses lines like `1,234 (0.50%)  /path/file.rs:crate::function [/path/binary]`.
fn parse_annotate(text: &str) -> BTreeMap<(String, String), u64> {
    let mut by_function = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim_start();
        let Some((count, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(count) = count.replace(',', "").parse::<u64>() else {
            continue;
        };
        let rest = rest.trim_start();
        // Skip the percentage column when there is one.
        let rest = match rest.strip_prefix('(') {
            Some(after) => after.split_once(')').map_or("", |(_, r)| r).trim_start(),
            None => rest,
        };
        if rest.starts_with("PROGRAM TOTALS") {
            continue;
        }
        let Some((file, function)) = rest.split_once(':') else {
            continue;
        };
        // Drop the ` [/path/binary]` suffix.
        let function = function
            .rsplit_once(" [")
            .map_or(function, |(f, _)| f)
            .trim_end();
        *by_function
            .entry((file.to_owned(), function.to_owned()))
            .or_insert(0) += count;
    }
    by_function
}

fn render(scenario: Scenario, rows: &[Row]) -> String {
    let best = |pick: fn(&(f64, f64)) -> f64| {
        rows.iter()
            .filter(|row| !is_reference(row.server))
            .filter_map(|row| row.result.as_ref().ok().map(pick))
            .filter(|&v| v > 0.0)
            .fold(f64::INFINITY, f64::min)
    };
    let (best_total, best_own) = (best(|r| r.0), best(|r| r.1));
    let mut out = format!(
        "### {}: {}: user-space instructions per message\n\n",
        scenario.name,
        scenario.describe()
    );
    out.push_str(
        "| server | instructions/msg | library's own code | runtime, std, libc, other | \
         total ÷ best | own ÷ best |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for row in rows {
        match &row.result {
            Ok((total, own)) => {
                let _ = writeln!(
                    out,
                    "| {} | {total:.0} | {own:.0} | {:.0} | {} | {} |",
                    row.server,
                    total - own,
                    ratio(*total, best_total),
                    ratio(*own, best_own)
                );
            }
            Err(err) => {
                let _ = writeln!(out, "| {} | failed: {err} | | | | |", row.server);
            }
        }
    }
    out
}

fn rows_json(scenario: Scenario, measured: usize, rows: &[Row]) -> Value {
    json!({
        "scenario": scenario.name,
        "kind": "instructions",
        "connections": scenario.connections,
        "size": scenario.size,
        "window": scenario.window,
        "text": scenario.text,
        "measured_messages": measured,
        "servers": rows.iter().map(|row| match &row.result {
            Ok((total, own)) => json!({
                "server": row.server,
                "instructions_per_message": total,
                "own_code_per_message": own,
            }),
            Err(err) => json!({ "server": row.server, "error": err }),
        }).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotate_lines_sum_per_file_and_function() {
        let text = "\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
50,401,538 (100.0%)  PROGRAM TOTALS

3,612,339 ( 7.17%)  /w/crates/weft-codec/src/connection/mod.rs:weft_codec::Connection::poll_event [/bin/echo]
  744,172 ( 1.48%)  /w/crates/weft-codec/src/connection/mod.rs:serve::{{closure}}
  600,190 ( 1.19%)  ./time/../clock_gettime.c:clock_gettime@@GLIBC_2.17 [/lib/libc.so.6]
    1,000 ( 0.01%)  /w/crates/weft-codec/src/connection/mod.rs:serve::{{closure}} [/bin/echo]
";
        let by_function = parse_annotate(text);
        let key = |file: &str, function: &str| (file.to_owned(), function.to_owned());
        let mod_rs = "/w/crates/weft-codec/src/connection/mod.rs";
        assert_eq!(
            by_function[&key(mod_rs, "weft_codec::Connection::poll_event")],
            3_612_339
        );
        assert_eq!(by_function[&key(mod_rs, "serve::{{closure}}")], 745_172);
        assert_eq!(
            by_function[&key("./time/../clock_gettime.c", "clock_gettime@@GLIBC_2.17")],
            600_190
        );
        assert_eq!(by_function.len(), 3);
    }

    #[test]
    fn std_code_inlined_into_the_library_is_its_own() {
        let tws = super::super::contestants::SERVERS
            .into_iter()
            .find(|kind| kind.name == "tokio-websockets")
            .unwrap();
        let intrinsics =
            "/rustc/abc/library/core/src/../../stdarch/crates/core_arch/src/x86/avx2.rs";
        assert!(is_own(
            tws,
            intrinsics,
            "tokio_websockets::mask::frame_avx2"
        ));
        assert!(is_own(
            tws,
            "/rustc/abc/library/core/src/result.rs",
            "<tokio_websockets::proto::stream::WebSocketStream<T> as futures::Sink>::poll_flush"
        ));
        assert!(is_own(
            tws,
            "/reg/tokio-websockets-0.13.3/src/mask.rs",
            "tokio_websockets::mask::frame_avx2"
        ));
        // std's own functions, and tokio code inlined into the library, are shared.
        assert!(!is_own(
            tws,
            "/rustc/abc/library/std/src/sys/pal/unix/time.rs",
            "<std::sys::pal::unix::time::Timespec>::now"
        ));
        assert!(!is_own(
            tws,
            "/reg/tokio-1.54.1/src/net/tcp/stream.rs",
            "tokio_websockets::proto::stream::poll_read"
        ));
    }

    #[test]
    fn the_profile_total_is_found() {
        assert_eq!(profile_total("events: Ir\nsummary: 1234\n"), Some(1234));
        assert_eq!(profile_total("events: Ir\ntotals: 99\n"), Some(99));
        assert_eq!(profile_total("events: Ir\n"), None);
    }

    #[test]
    fn message_counts_scale_with_size_within_bounds() {
        let scenario = |size| Scenario {
            name: "x",
            connections: 1,
            size,
            window: 1,
            text: false,
            tls: false,
            http2: false,
            network: None,
            deflate: None,
        };
        assert_eq!(message_counts(scenario(20)), (2_000, 10_000));
        assert_eq!(message_counts(scenario(1 << 20)), (40, 200));
        assert_eq!(message_counts(scenario(64 << 10)), (640, 3_200));
    }
}
