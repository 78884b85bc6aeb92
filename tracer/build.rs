//! Builds the eBPF programs of `tracer-ebpf` with the nightly toolchain and bpf-linker
//! (both installed by scripts/setup.sh) and leaves the object in OUT_DIR, where
//! `src/attach/object.rs` embeds it, without its DWARF.
use anyhow::Context as _;
use object::build::elf::{Builder, SectionData};

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
    .context("building the eBPF programs (run scripts/setup.sh first)")?;
    let object = format!("{}/tracer", std::env::var("OUT_DIR").context("OUT_DIR")?);
    strip_dwarf(&object).with_context(|| format!("stripping the DWARF of {object}"))
}

/// Removes the DWARF sections and their relocations from the ELF object at `path`. bpf-linker
/// needs the debug info to write BTF, which stays (.BTF, and .BTF.ext with the line info that
/// verifier messages show), but the kernel never reads DWARF: it is three quarters of the
/// object, which ktrace embeds, copies and parses on every load.
fn strip_dwarf(path: &str) -> anyhow::Result<()> {
    let data = std::fs::read(path)?;
    let mut elf = Builder::read(&*data)?;
    for section in &mut elf.sections {
        let name = section.name.as_slice();
        section.delete = name.starts_with(b".debug_") || name.starts_with(b".rel.debug_");
    }
    elf.delete_orphans();
    // bpf-linker keeps section names in .strtab with the symbols', which the writer cannot do.
    if !elf.sections.iter().any(|s| matches!(s.data, SectionData::SectionString)) {
        let names = elf.sections.add();
        names.name = b".shstrtab"[..].into();
        names.sh_type = object::elf::SHT_STRTAB;
        names.sh_addralign = 1;
        names.data = SectionData::SectionString;
    }
    let mut stripped = Vec::new();
    elf.write(&mut stripped)?;
    std::fs::write(path, stripped)?;
    Ok(())
}
