//! `cargo xtask autobahn`: the real Autobahn|Testsuite against weft's server and client.
//!
//! Server role: start the server under test on a free loopback port, point
//! `wstest -m fuzzingclient` at it, stop the server. Client role: start `wstest -m
//! fuzzingserver` on a free loopback port and run the client under test against it
//! (`/getCaseCount`, `/runCase?case=N&agent=weft` for N in 1..=count, `/updateReports?agent=weft`).
//! Both roles then read wstest's `index.json`, print a per-section table, and compare with the
//! committed `autobahn/expected-{server,client}.json`. Reports, logs and the generated specs
//! land in `target/autobahn/reports/{server,client}/`; wstest itself comes from
//! [`wstest::provision`]. See `autobahn/README.md`.

mod cases;
mod report;
mod wstest;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cmd;
use crate::proc::{self, Running};
use cases::Selection;
use wstest::{Provider, Wstest};

pub(crate) const USAGE: &str = "\
usage: cargo xtask autobahn [--server | --client] [options]

Runs the Autobahn|Testsuite (wstest) against weft's server (wstest -m fuzzingclient) and/or
client (wstest -m fuzzingserver); both roles unless --server or --client is given. Fails on any
case that is not OK (INFORMATIONAL is accepted for 7.1.6, 7.13.1, 7.13.2) and on any difference
from autobahn/expected-{server,client}.json. Reports: target/autobahn/reports/{server,client}/.

options:
  --cases PATTERNS    run these cases instead of the default sample (e.g. `1.*,9.1.1`)
  --exclude PATTERNS  skip these cases (e.g. `9.*`)
  --full              all 517 cases (about 10-15 minutes per role) instead of the default
                      sample (sections 1-10 in full, 21 cases of 12.* and 13.*)
  --bless             write the outcomes of the cases that ran into the expectation files
                      (other entries are kept) instead of failing on differences
  --server-cmd CMD    the server under test instead of weft's autobahn_server example; run as
                      `sh -c 'exec CMD'`; {port}, {addr}, {url} and {agent} are replaced, and
                      without any of them `127.0.0.1:PORT` is appended as the last argument
  --client-cmd CMD    the client under test instead of weft's autobahn_client example; the same
                      placeholders, and without any of them `ws://127.0.0.1:PORT` is appended
  --agent NAME        agent name in the reports (default weft)
  --wstest WHERE      auto (default: PATH, then docker/podman, then local), path, container,
                      local (a Debian bullseye root in target/autobahn/wstest; needs root once)
  --timeout SECS      bound on each role's run (default 900, or 3600 with --full/12.*/13.*)
  --setup             only find or install wstest, then stop
";

/// How many case ids or differences a summary lists before it says "and N more".
const LIST_LIMIT: usize = 40;

/// Parsed command line.
#[derive(Debug)]
struct Options {
    server: bool,
    client: bool,
    selection: Selection,
    bless: bool,
    server_cmd: Option<String>,
    client_cmd: Option<String>,
    agent: String,
    provider: Provider,
    timeout: Option<Duration>,
    setup_only: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut server = false;
    let mut client = false;
    let (mut full, mut bless, mut setup_only) = (false, false, false);
    let (mut cases, mut exclude, mut server_cmd, mut client_cmd) = (None, None, None, None);
    let mut agent = "weft".to_owned();
    let mut provider = Provider::Auto;
    let mut timeout = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("autobahn: {name} needs a value"))
        };
        match arg.as_str() {
            "--server" => server = true,
            "--client" => client = true,
            "--full" => full = true,
            "--bless" => bless = true,
            "--setup" => setup_only = true,
            "--cases" => cases = Some(value("--cases")?),
            "--exclude" => exclude = Some(value("--exclude")?),
            "--server-cmd" => server_cmd = Some(value("--server-cmd")?),
            "--client-cmd" => client_cmd = Some(value("--client-cmd")?),
            "--agent" => agent = value("--agent")?,
            "--wstest" => provider = Provider::parse(&value("--wstest")?)?,
            "--timeout" => {
                let text = value("--timeout")?;
                let seconds: u64 = text
                    .parse()
                    .map_err(|_| format!("autobahn: --timeout expects seconds, got `{text}`"))?;
                timeout = Some(Duration::from_secs(seconds));
            }
            other => return Err(format!("autobahn: unknown option `{other}`\n{USAGE}")),
        }
    }
    if !agent
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        || agent.is_empty()
    {
        return Err(
            "autobahn: --agent: letters, digits, `.`, `_` and `-` only (it names report files)"
                .into(),
        );
    }
    if !server && !client {
        server = true;
        client = true;
    }
    let selection = Selection::from_options(full, cases.as_deref(), exclude.as_deref())?;
    Ok(Options {
        server,
        client,
        selection,
        bless,
        server_cmd,
        client_cmd,
        agent,
        provider,
        timeout,
        setup_only,
    })
}

/// Which side of the connection weft plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Server,
    Client,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Client => "client",
        }
    }
}

/// Paths shared by both roles.
struct Context {
    workspace: PathBuf,
    /// `target/autobahn` of the workspace (not of `CARGO_TARGET_DIR`).
    cache: PathBuf,
    wstest: Wstest,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        print!("{USAGE}");
        return Ok(());
    }
    let options = parse(args)?;
    let workspace = cmd::workspace_root();
    let cache = workspace.join("target/autobahn");
    fs::create_dir_all(&cache)
        .map_err(|err| format!("cannot create {}: {err}", cache.display()))?;

    let started = Instant::now();
    eprintln!("autobahn: looking for wstest");
    let wstest = wstest::provision(options.provider, &cache, &workspace)?;
    eprintln!(
        "autobahn: using {} (ready after {})",
        wstest.describe(),
        proc::secs(started.elapsed())
    );
    if options.setup_only {
        return Ok(());
    }
    let context = Context {
        workspace,
        cache,
        wstest,
    };

    eprintln!("autobahn: cases: {}", options.selection.describe());
    let mut failed_roles = Vec::new();
    for role in [Role::Server, Role::Client] {
        let wanted = match role {
            Role::Server => options.server,
            Role::Client => options.client,
        };
        if !wanted {
            continue;
        }
        let role_started = Instant::now();
        let result = run_role(&context, &options, role);
        let took = proc::secs(role_started.elapsed());
        match result {
            Ok(()) => eprintln!("autobahn: {} role passed ({took})", role.name()),
            Err(err) => {
                eprintln!("autobahn: {} role FAILED ({took}):\n{err}", role.name());
                failed_roles.push(role.name());
            }
        }
    }
    eprintln!("autobahn: finished in {}", proc::secs(started.elapsed()));
    if failed_roles.is_empty() {
        Ok(())
    } else {
        Err(format!("autobahn failed for: {}", failed_roles.join(", ")))
    }
}

/// Runs one role, then judges its report. `Err` lists every problem found.
fn run_role(context: &Context, options: &Options, role: Role) -> Result<(), String> {
    let outdir = context.cache.join("reports").join(role.name());
    if outdir.exists() {
        fs::remove_dir_all(&outdir)
            .map_err(|err| format!("cannot clear {}: {err}", outdir.display()))?;
    }
    fs::create_dir_all(&outdir)
        .map_err(|err| format!("cannot create {}: {err}", outdir.display()))?;
    let timeout = options.timeout.unwrap_or(if options.selection.is_large() {
        Duration::from_secs(3600)
    } else {
        Duration::from_secs(900)
    });

    let mut problems = match role {
        Role::Server => run_server_role(context, options, &outdir, timeout)?,
        Role::Client => run_client_role(context, options, &outdir, timeout)?,
    };
    if !outdir.join("index.json").exists() {
        problems.push(format!(
            "wstest wrote no report (no {})",
            outdir.join("index.json").display()
        ));
        return Err(problems.join("\n"));
    }
    problems.extend(judge(context, options, role, &outdir)?);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Reads the report, prints it, compares it with (or blesses) the expectations.
fn judge(
    context: &Context,
    options: &Options,
    role: Role,
    outdir: &Path,
) -> Result<Vec<String>, String> {
    let report = report::read(outdir, &options.agent)?;
    println!(
        "\nautobahn {} role, agent {} ({} cases):",
        role.name(),
        report.agent,
        report.cases.len()
    );
    print!("{}", report::render(&report));

    let mut problems = Vec::new();
    if report.cases.is_empty() {
        problems.push("the report has no cases".to_owned());
    }
    let missing: Vec<&str> = options
        .selection
        .exact_ids()
        .into_iter()
        .filter(|id| !report.cases.iter().any(|case| case.id == *id))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "selected cases missing from the report: {}",
            missing.join(", ")
        ));
    }
    let failures = report::failures(&report);
    if !failures.is_empty() {
        let ids: Vec<&str> = failures
            .iter()
            .take(LIST_LIMIT)
            .map(|case| case.id.as_str())
            .collect();
        let more = if failures.len() > LIST_LIMIT {
            ", ..."
        } else {
            ""
        };
        problems.push(format!(
            "{} case(s) not OK: {}{more}",
            failures.len(),
            ids.join(", ")
        ));
    }

    let expected_path = context
        .workspace
        .join(format!("autobahn/expected-{}.json", role.name()));
    let expected = report::read_expectations(&expected_path)?;
    if options.bless {
        let merged = report::blessed(&report, &expected);
        report::write_expectations(&expected_path, &merged)?;
        println!(
            "blessed {} case(s) into {} ({} entries)",
            report.cases.len(),
            expected_path.display(),
            merged.len()
        );
    } else if !expected_path.exists() {
        println!(
            "no {}: `cargo xtask autobahn --bless` creates it",
            expected_path.display()
        );
        problems.push(format!("no expectation file {}", expected_path.display()));
    } else {
        let differences = report::differences(&report, &expected);
        if differences.is_empty() {
            println!(
                "matches {} for all {} cases that ran",
                expected_path.display(),
                report.cases.len()
            );
        } else {
            println!(
                "{} difference(s) from {} (`cargo xtask autobahn --bless` records them):",
                differences.len(),
                expected_path.display()
            );
            for line in differences.iter().take(LIST_LIMIT) {
                println!("{line}");
            }
            if differences.len() > LIST_LIMIT {
                println!("  ... and {} more", differences.len() - LIST_LIMIT);
            }
            problems.push(format!(
                "{} difference(s) from {}",
                differences.len(),
                expected_path.display()
            ));
        }
    }
    Ok(problems)
}

/// Replaces `{port}`, `{addr}`, `{url}`, `{agent}` in a user command; without any of them,
/// appends `fallback`.
fn expand(command_line: &str, port: u16, agent: &str, fallback: &str) -> String {
    let addr = format!("127.0.0.1:{port}");
    let url = format!("ws://{addr}");
    let replaced = command_line
        .replace("{port}", &port.to_string())
        .replace("{addr}", &addr)
        .replace("{url}", &url)
        .replace("{agent}", agent);
    if replaced == command_line {
        format!("{command_line} {fallback}")
    } else {
        replaced
    }
}

/// Builds an example of package `weft` in release mode and returns its executable.
fn build_example(name: &str, flag: &str) -> Result<PathBuf, String> {
    let started = Instant::now();
    let args = [
        "build",
        "--release",
        "--package",
        "weft",
        "--example",
        name,
        "--message-format=json-render-diagnostics",
    ];
    eprintln!("$ cargo {}", args.join(" "));
    let output = Command::new("cargo")
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|err| format!("could not start cargo: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the {name} example of package weft failed ({}); until it exists, test the \
             tooling against another implementation with {flag}",
            output.status
        ));
    }
    let executable = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == name
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("cargo built no executable for example {name}"))?;
    eprintln!(
        "autobahn: built {} ({})",
        executable.display(),
        proc::secs(started.elapsed())
    );
    Ok(executable)
}

/// The server under test: the user's `--server-cmd`, or weft's example, logging to `log`.
fn server_command(options: &Options, port: u16, log: &Path) -> Result<Command, String> {
    let addr = format!("127.0.0.1:{port}");
    let mut command = match &options.server_cmd {
        Some(line) => {
            let line = expand(line, port, &options.agent, &addr);
            eprintln!("autobahn: server under test: {line}");
            proc::shell(&line)
        }
        None => {
            let mut command = Command::new(build_example("autobahn_server", "--server-cmd")?);
            command.arg(&addr);
            command
        }
    };
    proc::log_to(&mut command, log)?;
    Ok(command)
}

/// The case wstest was running last, from its log (`Running test case ID 9.1.6 for agent ...`
/// in fuzzingclient mode, `... case ID 9.1.6 ...` lines in fuzzingserver mode).
fn last_case(log: &Path) -> Option<String> {
    let text = fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|line| {
        let rest = &line[line.find("case ID ")? + "case ID ".len()..];
        let id: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let id = id.trim_end_matches('.').to_owned();
        (!id.is_empty()).then_some(id)
    })
}

fn during(log: &Path) -> String {
    last_case(log).map_or_else(
        || "before the first case".to_owned(),
        |id| format!("during case {id}"),
    )
}

fn write_spec(path: &Path, spec: &serde_json::Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(spec)
        .map_err(|err| format!("cannot encode the spec: {err}"))?;
    fs::write(path, text + "\n").map_err(|err| format!("cannot write {}: {err}", path.display()))
}

/// Server role: wstest's fuzzingclient against the server under test.
fn run_server_role(
    context: &Context,
    options: &Options,
    outdir: &Path,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let port = proc::free_port()?;
    let server_log = outdir.join("server.log");
    let mut server = Running::spawn(
        "server under test",
        server_command(options, port, &server_log)?,
    )?;
    if let Err(err) = server.wait_for_port(port, Duration::from_secs(30)) {
        return Err(format!(
            "{err}; last lines of {}:\n{}",
            server_log.display(),
            proc::tail(&server_log, 20)
        ));
    }
    eprintln!(
        "autobahn: server under test listens on 127.0.0.1:{port} (log {})",
        server_log.display()
    );

    let spec = outdir.join("fuzzingclient.json");
    write_spec(
        &spec,
        &json!({
            "outdir": outdir,
            "servers": [{"agent": options.agent, "url": format!("ws://127.0.0.1:{port}")}],
            "cases": options.selection.cases,
            "exclude-cases": options.selection.exclude,
            "exclude-agent-cases": {},
        }),
    )?;
    let log = outdir.join("wstest.log");
    let args: Vec<String> = vec![
        "-m".into(),
        "fuzzingclient".into(),
        "-s".into(),
        spec.display().to_string(),
    ];
    let started = Instant::now();
    eprintln!(
        "autobahn: wstest -m fuzzingclient -s {} (log {})",
        spec.display(),
        log.display()
    );
    let mut wstest = context.wstest.spawn(&args, outdir, &log)?;
    let waited = wstest.wait_until(started + timeout, || match server.exited() {
        Some(status) => Err(format!(
            "the server under test exited ({status}) {}",
            during(&log)
        )),
        None => Ok(()),
    });
    match waited {
        Err(server_died) => {
            problems.push(format!(
                "{server_died}; last lines of {}:\n{}",
                server_log.display(),
                proc::tail(&server_log, 15)
            ));
            wstest.stop();
        }
        Ok(None) => {
            problems.push(format!(
                "wstest did not finish within {} (stopped {})",
                proc::secs(timeout),
                during(&log)
            ));
            wstest.stop();
        }
        Ok(Some(status)) if !status.success() => {
            problems.push(format!(
                "wstest failed ({status}); last lines of {}:\n{}",
                log.display(),
                proc::tail(&log, 20)
            ));
        }
        Ok(Some(_)) => {}
    }
    eprintln!(
        "autobahn: fuzzingclient run took {}",
        proc::secs(started.elapsed())
    );
    if let Some(status) = server.exited()
        && problems.is_empty()
    {
        problems.push(format!(
            "the server under test exited ({status}) {}",
            during(&log)
        ));
    }
    // wstest ends the whole run, and writes a partial report, at the first refused connection.
    if let Some(line) = fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("Connection to ") && line.contains(" failed"))
    {
        problems.push(format!("wstest stopped early: {line}"));
    }
    server.stop();
    Ok(problems)
}

/// The client under test: the user's `--client-cmd`, or weft's example, given the URL.
fn client_command(options: &Options, port: u16, log: &Path) -> Result<Command, String> {
    let url = format!("ws://127.0.0.1:{port}");
    let mut command = match &options.client_cmd {
        Some(line) => {
            let line = expand(line, port, &options.agent, &url);
            eprintln!("autobahn: client under test: {line}");
            proc::shell(&line)
        }
        None => {
            let mut command = Command::new(build_example("autobahn_client", "--client-cmd")?);
            command.arg(&url);
            command
        }
    };
    proc::log_to(&mut command, log)?;
    Ok(command)
}

/// Client role: the client under test against wstest's fuzzingserver.
fn run_client_role(
    context: &Context,
    options: &Options,
    outdir: &Path,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    // Build first: the build must not eat into wstest's or the run's time.
    let port = proc::free_port()?;
    let client_log = outdir.join("client.log");
    let client_command = client_command(options, port, &client_log)?;

    let spec = outdir.join("fuzzingserver.json");
    write_spec(
        &spec,
        &json!({
            "url": format!("ws://127.0.0.1:{port}"),
            "outdir": outdir,
            "cases": options.selection.cases,
            "exclude-cases": options.selection.exclude,
            "exclude-agent-cases": {},
        }),
    )?;
    let log = outdir.join("wstest.log");
    // `--webport 0`: no web page next to the fuzzing server.
    let args: Vec<String> = vec![
        "-m".into(),
        "fuzzingserver".into(),
        "-s".into(),
        spec.display().to_string(),
        "--webport".into(),
        "0".into(),
    ];
    eprintln!(
        "autobahn: wstest -m fuzzingserver -s {} (log {})",
        spec.display(),
        log.display()
    );
    let mut wstest = context.wstest.spawn(&args, outdir, &log)?;
    if let Err(err) = wstest.wait_for_port(port, Duration::from_secs(60)) {
        return Err(format!(
            "{err}; last lines of {}:\n{}",
            log.display(),
            proc::tail(&log, 20)
        ));
    }

    let started = Instant::now();
    let mut client = Running::spawn("client under test", client_command)?;
    eprintln!(
        "autobahn: client under test started (log {})",
        client_log.display()
    );
    let waited = client.wait_until(started + timeout, || match wstest.exited() {
        Some(status) => Err(format!(
            "wstest exited ({status}) while the client ran; last lines of {}:\n{}",
            log.display(),
            proc::tail(&log, 20)
        )),
        None => Ok(()),
    });
    match waited {
        Err(wstest_died) => {
            problems.push(wstest_died);
            client.stop();
        }
        Ok(None) => {
            problems.push(format!(
                "the client under test did not finish within {} (stopped {})",
                proc::secs(timeout),
                during(&log)
            ));
            client.stop();
        }
        Ok(Some(status)) if !status.success() => {
            problems.push(format!(
                "the client under test failed ({status}) {}; last lines of {}:\n{}",
                during(&log),
                client_log.display(),
                proc::tail(&client_log, 15)
            ));
        }
        Ok(Some(_)) => {}
    }
    eprintln!(
        "autobahn: fuzzingserver run took {}",
        proc::secs(started.elapsed())
    );
    // wstest writes index.json before it answers /updateReports; allow a moment for a client
    // that closed without waiting for the answer.
    let deadline = Instant::now() + Duration::from_secs(if problems.is_empty() { 10 } else { 0 });
    while !outdir.join("index.json").exists()
        && Instant::now() < deadline
        && wstest.exited().is_none()
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    wstest.stop();
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn both_roles_by_default() {
        let options = parse(&[]).unwrap();
        assert!(options.server && options.client);
        let options = parse(&args(&["--client", "--cases", "1.*"])).unwrap();
        assert!(!options.server && options.client);
        assert_eq!(options.selection.cases, ["1.*"]);
        assert!(parse(&args(&["--agent", "a b"])).is_err());
        assert!(parse(&args(&["--cases"])).is_err());
    }

    #[test]
    fn commands_get_the_address() {
        assert_eq!(
            expand("python echo.py", 9001, "weft", "127.0.0.1:9001"),
            "python echo.py 127.0.0.1:9001"
        );
        assert_eq!(
            expand("srv --port {port}", 9001, "weft", "x"),
            "srv --port 9001"
        );
        assert_eq!(
            expand("cli {url} --agent {agent}", 9, "weft", "x"),
            "cli ws://127.0.0.1:9 --agent weft"
        );
    }

    #[test]
    fn finds_the_last_case_in_the_log() {
        let dir = std::env::temp_dir().join(format!("xtask-log-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("wstest.log");
        fs::write(&log, "Running test case ID 1.1.1 for agent weft from peer tcp:127.0.0.1:1\nRunning test case ID 9.1.6 for agent weft from peer tcp:127.0.0.1:1\n").unwrap();
        assert_eq!(last_case(&log).as_deref(), Some("9.1.6"));
        fs::write(&log, "nothing yet\n").unwrap();
        assert_eq!(last_case(&log), None);
        fs::remove_dir_all(dir).unwrap();
    }
}
