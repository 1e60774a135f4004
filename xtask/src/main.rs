//! `cargo xtask`: weft's project tasks, run from anywhere inside the workspace.
//!
//! Every subcommand is declared in [`USAGE`] and dispatched in [`main`]; each lives in its own
//! module and shells out to `cargo` and friends with [`cmd::Cmd`], printing each command before
//! it runs so a CI log reads like a script.

mod ci;
mod cmd;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  ci          what CI checks: fmt, clippy -D warnings, tests, docs, no-default-features builds
              options: --skip-tests (when the test command already ran, as in .ci/run)
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(task) = args.next() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest: Vec<String> = args.collect();
    if let Err(err) = cmd::enter_workspace_root() {
        eprintln!("xtask: {err}");
        return ExitCode::FAILURE;
    }
    let result = match task.as_str() {
        "ci" => ci::run(&rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown task `{other}`\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}
