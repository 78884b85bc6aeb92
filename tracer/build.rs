//! Builds the eBPF programs of `tracer-ebpf` with the nightly toolchain and bpf-linker
//! (both installed by scripts/setup.sh) and leaves the object in OUT_DIR, where
//! `src/attach/object.rs` embeds it.
use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let root_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tracer-ebpf");
    // aya-build watches the eBPF crate; the shared types live beside it.
    println!("cargo:rerun-if-changed={}", concat!(env!("CARGO_MANIFEST_DIR"), "/../tracer-common"));
    aya_build::build_ebpf(
        [aya_build::Package { name: "tracer-ebpf", root_dir, ..Default::default() }],
        aya_build::Toolchain::default(),
    )
    .context("building the eBPF programs (run scripts/setup.sh first)")
}
