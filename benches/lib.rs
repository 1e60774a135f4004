//! weft's criterion benchmarks live in this package's bench targets (see `Cargo.toml` and
//! `README.md`); run them with `cargo bench -p weft-benches` or `cargo xtask bench`.
