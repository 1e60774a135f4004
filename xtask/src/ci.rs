//! `cargo xtask ci`: the checks CI runs, in the order that fails fastest.

use crate::cmd::Cmd;

/// Crates that must build with no default features: the sans-IO cores carry no runtime.
const NO_DEFAULT_FEATURE_CRATES: &[&str] = &["weft-codec"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut skip_tests = false;
    for arg in args {
        match arg.as_str() {
            "--skip-tests" => skip_tests = true,
            other => return Err(format!("ci: unknown option `{other}`")),
        }
    }

    Cmd::new("cargo")
        .args(["fmt", "--all", "--", "--check"])
        .run()?;
    Cmd::new("cargo")
        .args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--locked",
        ])
        .args(["--", "-D", "warnings"])
        .run()?;
    for krate in NO_DEFAULT_FEATURE_CRATES {
        Cmd::new("cargo")
            .args([
                "clippy",
                "--package",
                krate,
                "--no-default-features",
                "--locked",
            ])
            .args(["--", "-D", "warnings"])
            .run()?;
    }
    if !skip_tests {
        Cmd::new("cargo")
            .args(["test", "--workspace", "--all-features", "--locked"])
            .run()?;
    }
    Cmd::new("cargo")
        .args([
            "doc",
            "--workspace",
            "--all-features",
            "--no-deps",
            "--locked",
        ])
        .env("RUSTDOCFLAGS", "-D warnings")
        .run()?;
    eprintln!("xtask ci: all checks passed");
    Ok(())
}
