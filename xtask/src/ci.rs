//! `cargo xtask ci`: the checks CI runs, in the order that fails fastest.

use std::process::Command;

use crate::cmd::Cmd;

/// Crates that must build with no default features: the sans-IO cores carry no runtime.
const NO_DEFAULT_FEATURE_CRATES: &[&str] = &["weft-codec", "weft-handshake", "weft-deflate"];

/// Feature sets of the facade that must each build and pass clippy on their own (a feature
/// that only compiles together with another is a bug users meet, not CI).
const FACADE_FEATURES: &[&str] = &[
    "",
    "client",
    "server",
    "client,rustls",
    "server,rustls",
    "client,deflate",
    "server,deflate",
    "client,server",
    "native-roots",
    "hyper",
    "axum",
    "client,tracing",
    "server,tracing",
];

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
    for features in FACADE_FEATURES {
        Cmd::new("cargo")
            .args([
                "clippy",
                "--package",
                "weft",
                "--no-default-features",
                "--locked",
            ])
            .args(["--features", features])
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
    miri()?;
    eprintln!("xtask ci: all checks passed");
    Ok(())
}

/// One `cargo miri test` of the codec's library.
struct MiriRun {
    features: &'static [&'static str],
    filter: Option<&'static str>,
    rustflags: Option<&'static str>,
    miriflags: &'static str,
}

/// The codec's unit tests under Miri (the masking code above all), when a nightly toolchain
/// is installed: Miri and its `rust-src` are added to it first if missing. Skipped with a
/// message when there is no nightly or the components cannot be installed.
fn miri() -> Result<(), String> {
    let succeeds = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|output| output.status.success())
    };
    let has_miri = || succeeds("cargo", &["+nightly", "miri", "--version"]);
    if !has_miri() && succeeds("cargo", &["+nightly", "--version"]) {
        eprintln!("xtask ci: installing Miri into the nightly toolchain (rustup component add)");
        let installed = succeeds(
            "rustup",
            &[
                "component",
                "add",
                "--toolchain",
                "nightly",
                "miri",
                "rust-src",
            ],
        );
        if !installed {
            eprintln!("xtask ci: could not install Miri (rustup component add failed)");
        }
    }
    if !has_miri() {
        eprintln!(
            "xtask ci: skipped Miri: no nightly toolchain with Miri \
             (`rustup component add --toolchain nightly miri rust-src`)"
        );
        return Ok(());
    }
    // The mask tests as built (the crate's one `unsafe` module, `mask::wide`, and its portable
    // path); then, since Miri reports a CPU feature present only when it is enabled at compile
    // time, the same with AVX2 enabled, which walks the `unsafe` dispatch and the AVX2 word
    // loop; then the shared timer thread's tests (feature `tokio`), for Miri's data-race
    // checks. That thread runs for the life of the process, which Miri would report as a leak.
    // The rest of the library is safe code; under Miri it took 152 s of CI's 35-minute budget.
    let runs = [
        MiriRun {
            features: &[],
            filter: Some("mask::"),
            rustflags: None,
            miriflags: "-Zmiri-disable-isolation",
        },
        MiriRun {
            features: &[],
            filter: Some("mask::"),
            rustflags: Some("-C target-feature=+avx2"),
            miriflags: "-Zmiri-disable-isolation",
        },
        MiriRun {
            features: &["--features", "tokio"],
            filter: Some("tokio::alarm::"),
            rustflags: None,
            miriflags: "-Zmiri-disable-isolation -Zmiri-ignore-leaks",
        },
    ];
    for MiriRun {
        features,
        filter,
        rustflags,
        miriflags,
    } in runs
    {
        let mut miri = Cmd::new("cargo")
            .args([
                "+nightly",
                "miri",
                "test",
                "--package",
                "weft-codec",
                "--lib",
            ])
            .args(features.iter().copied())
            .args(filter)
            // Property tests run few cases under Miri, which is slow; proptest reads its
            // regression files, which Miri's isolation refuses.
            .env("PROPTEST_CASES", "4")
            .env("MIRIFLAGS", miriflags);
        if let Some(flags) = rustflags {
            miri = miri.env("RUSTFLAGS", flags);
        }
        miri.run()?;
    }
    Ok(())
}
