//! Builds the eBPF programs of `tracer-ebpf` with the nightly toolchain and bpf-linker
//! (both installed by scripts/setup.sh) and leaves the object in OUT_DIR, where
//! `src/attach/object.rs` embeds it.
use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    // The checkout being built, read when the script runs: a build script binary compiled in
    // another checkout that shares the target directory (a git worktree) would otherwise build
    // and watch that checkout's eBPF crate, and embed a stale object.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?;
    let root_dir = format!("{manifest_dir}/../tracer-ebpf");
    // aya-build watches the eBPF crate; the shared types live beside it.
    println!("cargo:rerun-if-changed={manifest_dir}/../tracer-common");
    aya_build::build_ebpf(
        [aya_build::Package { name: "tracer-ebpf", root_dir: &root_dir, ..Default::default() }],
        aya_build::Toolchain::default(),
    )
    .context("building the eBPF programs (run scripts/setup.sh first)")
}
