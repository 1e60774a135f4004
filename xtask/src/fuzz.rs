//! `cargo xtask fuzz`: runs the cargo-fuzz targets in `fuzz/` (nightly and libFuzzer).
//!
//! cargo-fuzz is installed under `target/tools` when missing. `--smoke` is CI's form: a short
//! run per target, skipped with a message when no nightly toolchain is installed (libFuzzer
//! needs nightly's sanitizer flags).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::cmd::Cmd;

/// Every target in `fuzz/Cargo.toml`.
const TARGETS: &[&str] = &[
    "frame_header",
    "connection",
    "handshake_request",
    "handshake_response",
    "extensions_header",
    "inflate",
];

const USAGE: &str = "\
usage: cargo xtask fuzz [--time SECS] [--target NAME]... [--smoke]

  --time SECS     how long to fuzz each target (default 60; --smoke: 15)
  --target NAME   only this target (repeatable); targets: frame_header, connection,
                  handshake_request, handshake_response, extensions_header, inflate
  --smoke         CI's quick form: skip with a message when no nightly toolchain exists
";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut seconds = None;
    let mut targets = Vec::new();
    let mut smoke = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--time" => {
                let value = args
                    .next()
                    .ok_or("fuzz: --time needs a number of seconds")?;
                seconds = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| format!("fuzz: bad --time {value}"))?,
                );
            }
            "--target" => {
                let name = args.next().ok_or("fuzz: --target needs a name")?;
                if !TARGETS.contains(&name.as_str()) {
                    return Err(format!("fuzz: unknown target {name}\n{USAGE}"));
                }
                targets.push(name.as_str());
            }
            "--smoke" => smoke = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("fuzz: unknown option {other}\n{USAGE}")),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    let seconds = seconds.unwrap_or(if smoke { 15 } else { 60 });

    if !has_nightly() {
        let message =
            "no nightly toolchain (libFuzzer needs it): `rustup toolchain install nightly`";
        if smoke {
            eprintln!("xtask fuzz: skipped: {message}");
            return Ok(());
        }
        return Err(format!("fuzz: {message}"));
    }
    let cargo_fuzz = ensure_cargo_fuzz()?;
    let mut report = Vec::new();
    for target in targets {
        let started = Instant::now();
        let corpus = PathBuf::from("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|err| format!("fuzz: {err}"))?;
        let seeds = PathBuf::from("testdata/fuzz").join(target);
        eprintln!("$ cargo fuzz run {target} (for {seconds} s)");
        let mut command = Command::new(&cargo_fuzz);
        command
            .args(["fuzz", "run", "--fuzz-dir", "fuzz", target])
            .arg(&corpus)
            .args(seeds.is_dir().then_some(&seeds))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-rss_limit_mb=2048")
            .arg("-print_final_stats=1")
            .env("RUSTUP_TOOLCHAIN", "nightly");
        let output = command
            .output()
            .map_err(|err| format!("fuzz: cannot start cargo-fuzz: {err}"))?;
        let log = String::from_utf8_lossy(&output.stderr);
        let runs = log
            .lines()
            .rev()
            .find_map(|line| {
                line.strip_prefix("Done ")
                    .and_then(|rest| rest.split(' ').next())
            })
            .unwrap_or("?")
            .to_owned();
        if !output.status.success() {
            let log_path = PathBuf::from("target").join(format!("fuzz-{target}.log"));
            let _ = std::fs::write(&log_path, log.as_bytes());
            let artifact = log
                .lines()
                .find_map(|line| line.split("Test unit written to ").nth(1))
                .unwrap_or("(no artifact)");
            return Err(format!(
                "fuzz: {target} failed after {runs} runs; input: {artifact}; log: {}. Copy the \
                 input into testdata/fuzz/{target}/ so tests/fuzz_regressions.rs keeps it fixed.",
                log_path.display()
            ));
        }
        report.push(format!(
            "{target:<20} {runs:>12} runs in {:>5.0} s, no crash",
            started.elapsed().as_secs_f64()
        ));
    }
    eprintln!("xtask fuzz:");
    for line in report {
        eprintln!("  {line}");
    }
    Ok(())
}

fn has_nightly() -> bool {
    Command::new("cargo")
        .args(["+nightly", "--version"])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// cargo-fuzz from `target/tools`, installed there first if needed.
fn ensure_cargo_fuzz() -> Result<PathBuf, String> {
    let root = Path::new("target/tools");
    let binary = root.join("bin/cargo-fuzz");
    if !binary.exists() {
        eprintln!(
            "xtask fuzz: installing cargo-fuzz into {} (once)",
            root.display()
        );
        Cmd::new("cargo")
            .args(["install", "cargo-fuzz", "--locked", "--root"])
            .arg(root)
            .run()?;
    }
    std::fs::canonicalize(&binary).map_err(|err| format!("fuzz: {}: {err}", binary.display()))
}
