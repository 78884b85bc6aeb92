//! Kernel functions to source files and lines, from a vmlinux that carries DWARF (Debian's
//! `linux-image-<release>-dbg` package): each function is looked up by name in the image's
//! own symbol table, so no KASLR offset is involved, and DWARF says where its code starts.
//! Build-directory prefixes are stripped so paths read like the kernel tree
//! (`net/core/dev.c`), which is how coverage reports group them.
use std::{
    cell::RefCell,
    collections::HashMap,
    path::{Component, Path, PathBuf},
};

use anyhow::{Context as _, bail};
use blazesym::{
    inspect::{self, Inspector},
    symbolize::{self, Input, Symbolized, Symbolizer},
};

/// The top-level directories of the kernel tree: a DWARF path is cut before the first of them.
const TREE_DIRS: &[&str] = &[
    "arch", "block", "certs", "crypto", "drivers", "fs", "include", "init", "io_uring", "ipc",
    "kernel", "lib", "mm", "net", "rust", "samples", "scripts", "security", "sound", "usr", "virt",
];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceLocation {
    /// Path in the kernel tree, e.g. `fs/read_write.c`.
    pub file: String,
    /// First line of the function.
    pub line: u32,
}

impl SourceLocation {
    /// The kernel-tree directory, e.g. `net/core`.
    pub fn directory(&self) -> &str {
        self.file.rsplit_once('/').map_or("", |(dir, _)| dir)
    }
}

/// One kernel image's DWARF. Locations found are remembered: the records of one study share
/// their kernel and nearly all their function names, and reading 38,000 names' lines takes
/// seconds.
pub struct KernelSources {
    vmlinux: PathBuf,
    inspector: Inspector,
    symbolizer: Symbolizer,
    known: RefCell<HashMap<String, Option<SourceLocation>>>,
}

impl KernelSources {
    pub fn open(vmlinux: &Path) -> anyhow::Result<Self> {
        if !vmlinux.is_file() {
            bail!("{}: no such kernel image", vmlinux.display());
        }
        Ok(Self {
            vmlinux: vmlinux.to_owned(),
            inspector: Inspector::new(),
            symbolizer: Symbolizer::new(),
            known: RefCell::default(),
        })
    }

    /// The usual places of a DWARF vmlinux for kernel `release`: Debian's -dbg package
    /// (installed, or unpacked by ktrace's own scripts) and /boot.
    pub fn find(release: &str) -> Option<PathBuf> {
        [
            format!("/usr/lib/debug/boot/vmlinux-{release}"),
            format!("/usr/lib/debug/lib/modules/{release}/vmlinux"),
            format!("/var/cache/ktrace/debug/{release}/vmlinux"),
            format!("/boot/vmlinux-{release}"),
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
    }

    /// Where each function's code starts; `None` for a function the image does not know or
    /// whose DWARF has no line.
    pub fn locate(&self, functions: &[&str]) -> anyhow::Result<Vec<Option<SourceLocation>>> {
        let mut known = self.known.borrow_mut();
        let mut new: Vec<&str> =
            functions.iter().copied().filter(|f| !known.contains_key(*f)).collect();
        new.sort_unstable();
        new.dedup();
        if !new.is_empty() {
            for (name, location) in new.iter().zip(self.read(&new)?) {
                known.insert((*name).to_owned(), location);
            }
        }
        Ok(functions.iter().map(|f| known[*f].clone()).collect())
    }

    /// [`KernelSources::locate`], from the image.
    fn read(&self, functions: &[&str]) -> anyhow::Result<Vec<Option<SourceLocation>>> {
        let elf = inspect::source::Source::Elf(inspect::source::Elf::new(&self.vmlinux));
        let found = self.inspector.lookup(&elf, functions).with_context(|| {
            format!("looking up {} functions in {}", functions.len(), self.vmlinux.display())
        })?;
        // The first symbol of each name; 0 stands for "not found" and is never symbolized.
        let addrs: Vec<u64> = found.iter().map(|syms| syms.first().map_or(0, |s| s.addr)).collect();
        let known: Vec<u64> = addrs.iter().copied().filter(|&a| a != 0).collect();
        let mut elf = symbolize::source::Elf::new(&self.vmlinux);
        elf.debug_syms = true;
        let symbolized = self
            .symbolizer
            .symbolize(&symbolize::source::Source::Elf(elf), Input::VirtOffset(&known))
            .with_context(|| {
                format!("reading DWARF line information of {}", self.vmlinux.display())
            })?;
        let mut symbolized = symbolized.into_iter();
        Ok(addrs
            .iter()
            .map(|&addr| {
                if addr == 0 {
                    return None;
                }
                let Some(Symbolized::Sym(sym)) = symbolized.next() else { return None };
                let info = sym.code_info?;
                Some(SourceLocation { file: tree_path(&info.to_path()), line: info.line? })
            })
            .collect())
    }
}

/// `path` from its first kernel-tree directory on: Debian's DWARF names files under its build
/// directory (`debian/build/build_amd64_none_cloud-amd64/fs/read_write.c`).
pub(crate) fn tree_path(path: &Path) -> String {
    let parts: Vec<&str> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect();
    let start = parts.iter().position(|p| TREE_DIRS.contains(p)).unwrap_or(0);
    parts[start..].join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_build_directories() {
        assert_eq!(
            tree_path(Path::new("./debian/build/build_amd64_none_cloud-amd64/fs/read_write.c")),
            "fs/read_write.c"
        );
        assert_eq!(tree_path(Path::new("/build/linux-6.12/net/core/dev.c")), "net/core/dev.c");
        assert_eq!(tree_path(Path::new("weird.c")), "weird.c");
        let loc = SourceLocation { file: "net/core/dev.c".into(), line: 1823 };
        assert_eq!(loc.directory(), "net/core");
    }

    /// Against a Debian debug image in ktrace's cache; `cargo xtask test` fetches the 6.12
    /// guest kernel's before it runs the tests.
    #[test]
    fn locates_functions_in_debian_debug_image() {
        let cached = std::fs::read_dir("/var/cache/ktrace/debug")
            .into_iter()
            .flatten()
            .filter_map(|e| Some(e.ok()?.path().join("vmlinux")))
            .find(|p| p.is_file());
        let Some(vmlinux) = cached else {
            eprintln!(
                "skipped: no debug vmlinux in /var/cache/ktrace/debug (cargo xtask test fetches one)"
            );
            return;
        };
        let sources = KernelSources::open(&vmlinux).unwrap();
        let found = sources
            .locate(&["vfs_write", "is_skb_forwardable", "ktrace_no_such_function"])
            .unwrap();
        assert_eq!(found[0].as_ref().map(|l| l.file.as_str()), Some("fs/read_write.c"));
        assert_eq!(found[1].as_ref().map(|l| l.file.as_str()), Some("net/core/dev.c"));
        assert!(found[0].as_ref().unwrap().line > 0);
        assert_eq!(found[2], None);
    }
}
