//! Host programs for a root file system of their own (a container's rootfs, a guest's
//! initramfs): the program, the shared libraries it loads and the dynamic loader, at the paths
//! the program asks for. Copied to the same paths inside, the program runs unchanged.
//!
//! The libraries come from the program's own loader (`ld-linux-x86-64.so.2 --list`, what
//! `ldd` runs), named in the program's `PT_INTERP` header, so this works where `ldd` is not
//! installed, e.g. inside ktrace's test guests. A static program (no `PT_INTERP`) needs
//! nothing else.
use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};

use crate::output_of;

/// Where programs are looked for, in order.
const PROGRAM_DIRS: &[&str] = &["/usr/bin", "/usr/sbin", "/bin", "/sbin"];

/// The path of the installed program `name`.
pub fn find(name: &str) -> anyhow::Result<PathBuf> {
    PROGRAM_DIRS.iter().map(|dir| Path::new(dir).join(name)).find(|p| p.is_file()).with_context(
        || format!("{name} is not installed on this host (scripts/setup.sh installs it)"),
    )
}

/// `program` and the files it needs at run time: its shared libraries and the dynamic loader.
pub fn with_libraries(program: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let elf = fs::read(program).with_context(|| format!("reading {}", program.display()))?;
    let mut files = vec![program.to_owned()];
    let Some(loader) = interpreter(&elf).with_context(|| format!("{}", program.display()))? else {
        return Ok(files);
    };
    let listed = output_of(std::process::Command::new(&loader).arg("--list").arg(program))?;
    for line in listed.lines() {
        // `libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x...)` or
        // `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vdso has no path.
        let lib = line.split_once("=>").map_or(line, |(_, rest)| rest);
        if let Some(lib) = lib.split_whitespace().next().filter(|l| l.starts_with('/')) {
            files.push(PathBuf::from(lib));
        }
    }
    Ok(files)
}

/// The loader a 64-bit little-endian ELF executable names in its `PT_INTERP` program header;
/// `None` for a static executable.
fn interpreter(elf: &[u8]) -> anyhow::Result<Option<PathBuf>> {
    const PT_INTERP: u32 = 3;
    if elf.get(..6) != Some(b"\x7fELF\x02\x01") {
        bail!("not a 64-bit little-endian ELF file");
    }
    let offset = |at: usize| -> anyhow::Result<usize> {
        Ok(usize::try_from(u64::from_le_bytes(field(elf, at)?))?)
    };
    let table = offset(0x20)?;
    let entry_size = usize::from(u16::from_le_bytes(field(elf, 0x36)?));
    let entries = usize::from(u16::from_le_bytes(field(elf, 0x38)?));
    for header in (0..entries).map(|i| table + i * entry_size) {
        if u32::from_le_bytes(field(elf, header)?) != PT_INTERP {
            continue;
        }
        let (start, size) = (offset(header + 8)?, offset(header + 32)?);
        let name = elf.get(start..start + size).context("truncated ELF file")?;
        let name = name.strip_suffix(&[0]).unwrap_or(name);
        return Ok(Some(PathBuf::from(String::from_utf8_lossy(name).into_owned())));
    }
    Ok(None)
}

/// The `N` bytes of `elf` at `at`.
fn field<const N: usize>(elf: &[u8], at: usize) -> anyhow::Result<[u8; N]> {
    elf.get(at..at + N).and_then(|b| b.try_into().ok()).context("truncated ELF file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_program_brings_its_loader_and_libc() {
        let sh = find("sh").unwrap();
        let files = with_libraries(&sh).unwrap();
        assert_eq!(files[0], sh);
        assert!(files.iter().any(|f| f.to_string_lossy().contains("libc.so")), "{files:?}");
        assert!(files.iter().any(|f| f.to_string_lossy().contains("ld-linux")), "{files:?}");
    }

    #[test]
    fn a_static_program_needs_nothing_else() {
        // busybox-static, installed by scripts/setup.sh.
        let busybox = Path::new("/bin/busybox");
        assert_eq!(interpreter(&fs::read(busybox).unwrap()).unwrap(), None);
        assert_eq!(with_libraries(busybox).unwrap(), [busybox]);
    }

    #[test]
    fn foreign_files_are_refused() {
        assert!(interpreter(b"#!/bin/sh\n").is_err());
        assert!(interpreter(b"\x7fELF\x02\x01\x01").is_err());
    }
}
