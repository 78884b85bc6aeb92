//! Programs for the guest: ktrace and the `root` integration test binary built statically (the
//! guest has no libc), and host programs (workloads, container runtimes) with the shared
//! libraries `ldd` names for them.
//!
//! The static build uses its own target directory so that the flags do not invalidate the
//! host build's cache.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::Context as _;

use super::output_of;
use crate::workspace_file;

const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The static ktrace and test binaries.
pub struct Static {
    pub ktrace: PathBuf,
    pub root_tests: PathBuf,
}

/// Builds ktrace and the `root` test binary with a static glibc; cargo's JSON messages name
/// the executables.
pub fn build_static() -> anyhow::Result<Static> {
    eprintln!("xtask: building static ktrace and root tests for the guest");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["test", "--no-run", "--release", "-p", "tracer", "--test", "root"])
        .args(["--target", TARGET, "--message-format=json-render-diagnostics"])
        .arg("--target-dir")
        .arg(workspace_file("target/guest"))
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .stderr(Stdio::inherit());
    let messages = output_of(&mut cmd)?;
    let (mut ktrace, mut root_tests) = (None, None);
    for line in messages.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        let kinds = msg["target"]["kind"].as_array().into_iter().flatten();
        let kinds: Vec<_> = kinds.filter_map(|k| k.as_str()).collect();
        match msg["target"]["name"].as_str() {
            Some("ktrace") if kinds.contains(&"bin") => ktrace = Some(PathBuf::from(exe)),
            Some("root") if kinds.contains(&"test") => root_tests = Some(PathBuf::from(exe)),
            _ => {}
        }
    }
    Ok(Static {
        ktrace: ktrace.context("cargo built no ktrace executable")?,
        root_tests: root_tests.context("cargo built no `root` test executable")?,
    })
}

/// A host program and the files it needs at run time: the program itself, its shared
/// libraries and the dynamic loader, at the paths `ldd` gives, which are the paths the program
/// asks for. The guest gets them at the same paths.
pub fn host_program(name: &str) -> anyhow::Result<Vec<PathBuf>> {
    let path = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .with_context(|| {
            format!("{name} is not installed on this host (scripts/setup.sh installs it)")
        })?;
    let ldd = Command::new("ldd").arg(&path).output().context("running ldd")?;
    let mut files = vec![path];
    // ldd fails for a static executable (runsc), which needs nothing else.
    if ldd.status.success() {
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            // `libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x...)` or
            // `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vdso has no path.
            let lib = line.split_once("=>").map_or(line, |(_, rest)| rest);
            if let Some(lib) = lib.split_whitespace().next().filter(|l| l.starts_with('/')) {
                files.push(PathBuf::from(lib));
            }
        }
    }
    Ok(files)
}
