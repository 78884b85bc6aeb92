//! Programs for the guest: ktrace and the `root` integration test binary built statically (the
//! guest has no libc).
//!
//! The static build uses its own target directory so that the flags do not invalidate the
//! host build's cache.
use std::{
    path::PathBuf,
    process::{Command, Stdio},
};

use anyhow::Context as _;
use tracer_images::output_of;

use crate::workspace_file;

const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The static ktrace and test binaries.
pub struct Static {
    pub ktrace: PathBuf,
    pub root_tests: PathBuf,
}

/// Builds ktrace and the `root` test binary with a static glibc.
pub fn build_static() -> anyhow::Result<Static> {
    eprintln!("xtask: building static ktrace and root tests for the guest");
    let built = cargo_static(&["test", "--no-run", "--release", "-p", "tracer", "--test", "root"])?;
    let find = |name: &str, kind: &str| {
        built.iter().find(|a| a.name == name && a.kinds.iter().any(|k| k == kind))
    };
    Ok(Static {
        ktrace: find("ktrace", "bin").context("cargo built no ktrace executable")?.exe.clone(),
        root_tests: find("root", "test")
            .context("cargo built no `root` test executable")?
            .exe
            .clone(),
    })
}

/// Builds the `attach` benchmark (tracer/benches/attach.rs) with a static glibc.
pub fn build_static_bench() -> anyhow::Result<PathBuf> {
    eprintln!("xtask: building the static attach benchmark for the guest");
    let built = cargo_static(&["bench", "--no-run", "-p", "tracer", "--bench", "attach"])?;
    let bench =
        built.into_iter().find(|a| a.name == "attach" && a.kinds.iter().any(|k| k == "bench"));
    Ok(bench.context("cargo built no `attach` bench executable")?.exe)
}

/// An executable cargo built.
struct Artifact {
    name: String,
    kinds: Vec<String>,
    exe: PathBuf,
}

/// Runs cargo with `args` for a static glibc in target/guest; cargo's JSON messages name the
/// executables.
fn cargo_static(args: &[&str]) -> anyhow::Result<Vec<Artifact>> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(args)
        .args(["--target", TARGET, "--message-format=json-render-diagnostics"])
        .arg("--target-dir")
        .arg(workspace_file("target/guest"))
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .stderr(Stdio::inherit());
    let messages = output_of(&mut cmd)?;
    Ok(messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|msg| {
            let exe = msg["executable"].as_str()?;
            let kinds = msg["target"]["kind"]
                .as_array()?
                .iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect();
            Some(Artifact {
                name: msg["target"]["name"].as_str()?.to_owned(),
                kinds,
                exe: PathBuf::from(exe),
            })
        })
        .collect())
}
