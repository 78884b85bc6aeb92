//! Kernel addresses to function and module names: blazesym over kallsyms, plus the module
//! column of kallsyms (blazesym's kallsyms source does not report modules).
//!
//! One long-lived [`KernelSymbols`] per trace: blazesym caches the parsed kallsyms, and
//! resolved addresses are cached here so that each interval only symbolizes new addresses.
//!
//! JIT-compiled BPF programs (`bpf_prog_<tag>_<name>`), trampolines and dispatchers are in
//! kallsyms under the module `[bpf]` once loaded: their frames are module [`BPF_MODULE`], not
//! vmlinux functions. The module column is read at the first symbolization, after ktrace's
//! own programs are loaded, so that they are among them.
use std::{
    collections::HashMap,
    fs,
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use blazesym::symbolize::{
    Input, Symbolized, Symbolizer,
    source::{Kernel, Source},
};

use crate::kallsyms::{self, CORE_KERNEL};

/// The module kallsyms gives BPF programs, trampolines and dispatchers.
pub const BPF_MODULE: &str = "bpf";

/// The prefix of ktrace's own program names (`kt_sys_enter`, `kt_sample`, ...).
const KTRACE_PROGRAM_PREFIX: &str = "kt_";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelFunction {
    pub name: String,
    pub module: String,
}

impl KernelFunction {
    /// Whether this is one of ktrace's own BPF programs: `bpf_prog_<tag>_kt_...` in `[bpf]`.
    pub fn is_ktrace_program(&self) -> bool {
        self.module == BPF_MODULE
            && program_name(&self.name).is_some_and(|name| name.starts_with(KTRACE_PROGRAM_PREFIX))
    }
}

/// The program's own name in the kallsyms name of a JIT-compiled BPF program,
/// `bpf_prog_<16 hex digits of tag>_<name>`; `None` for any other symbol (vmlinux has
/// functions named `bpf_prog_*` too, such as `bpf_prog_kallsyms_del_all`).
fn program_name(symbol: &str) -> Option<&str> {
    let (tag, name) = symbol.strip_prefix("bpf_prog_")?.split_once('_')?;
    (tag.len() == 16 && tag.bytes().all(|b| b.is_ascii_hexdigit())).then_some(name)
}

pub struct KernelSymbols {
    symbolizer: Symbolizer,
    kallsyms: PathBuf,
    /// Where kallsyms puts module symbols, read at the first symbolization and again when a
    /// symbol appears that was not there (a BPF program loaded since).
    modules: Option<Modules>,
    resolved: HashMap<u64, KernelFunction>,
}

impl KernelSymbols {
    /// Symbols of the running kernel. Needs root: kallsyms shows zero addresses otherwise.
    pub fn running_kernel() -> anyhow::Result<Self> {
        Self::from_kallsyms("/proc/kallsyms")
    }

    pub fn from_kallsyms(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        if !shows_addresses(path)? {
            bail!(
                "{} shows no addresses (kernel.kptr_restrict); ktrace must run as root",
                path.display()
            );
        }
        Ok(Self {
            symbolizer: Symbolizer::new(),
            kallsyms: path.to_owned(),
            modules: None,
            resolved: HashMap::new(),
        })
    }

    /// The function containing each address, in order. Unknown addresses are named by value.
    pub fn functions(&mut self, ips: &[u64]) -> anyhow::Result<Vec<KernelFunction>> {
        let mut missing: Vec<u64> =
            ips.iter().copied().filter(|ip| !self.resolved.contains_key(ip)).collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            if self.modules.is_none() {
                self.modules = Some(Modules::read(&self.kallsyms)?);
            }
            let source = Source::Kernel(Kernel {
                kallsyms: self.kallsyms.clone().into(),
                // Only kallsyms: a vmlinux lookup also wants /proc/modules, which some kernels
                // lack, and would fail the whole batch.
                vmlinux: blazesym::MaybeDefault::None,
                debug_syms: false,
                ..Kernel::default()
            });
            let symbolized = self
                .symbolizer
                .symbolize(&source, Input::AbsAddr(&missing))
                .with_context(|| {
                    format!(
                        "symbolizing {} kernel addresses with {}",
                        missing.len(),
                        self.kallsyms.display()
                    )
                })?;
            let stale = self.modules.as_ref().is_some_and(|m| {
                symbolized.iter().any(|sym| matches!(sym, Symbolized::Sym(s) if m.is_new(s.addr)))
            });
            if stale {
                self.modules = Some(Modules::read(&self.kallsyms)?);
            }
            let modules = self.modules.as_ref().expect("read above");
            for (ip, sym) in missing.iter().zip(symbolized) {
                let function = match sym {
                    Symbolized::Sym(sym) => KernelFunction {
                        module: modules.module(sym.addr, &sym.name).to_owned(),
                        name: sym.name.into_owned(),
                    },
                    Symbolized::Unknown(_) => {
                        KernelFunction { name: format!("{ip:#x}"), module: "?".to_owned() }
                    }
                };
                self.resolved.insert(*ip, function);
            }
        }
        Ok(ips.iter().map(|ip| self.resolved[ip].clone()).collect())
    }
}

/// The module column of kallsyms at one moment.
struct Modules {
    /// Start address of every module symbol -> its module.
    module_of: HashMap<u64, String>,
    /// The highest address of a core kernel symbol: above it are modules and BPF programs.
    core_end: u64,
}

impl Modules {
    /// The module of each module symbol as kallsyms lists them now.
    fn read(kallsyms: &Path) -> anyhow::Result<Self> {
        let text = read(kallsyms)?;
        let mut modules = Self { module_of: HashMap::new(), core_end: 0 };
        for symbol in kallsyms::symbols(&text) {
            if symbol.module == CORE_KERNEL {
                modules.core_end = modules.core_end.max(symbol.address);
            } else {
                modules.module_of.insert(symbol.address, symbol.module.to_owned());
            }
        }
        Ok(modules)
    }

    /// The module of the symbol `name` at `symbol`. A BPF program that the module column does
    /// not list at that address is still one: the 6.12 guest's samples named ktrace's own
    /// programs under vmlinux for about a tenth of their addresses.
    fn module(&self, symbol: u64, name: &str) -> &str {
        match self.module_of.get(&symbol) {
            Some(module) => module,
            None if program_name(name).is_some() => BPF_MODULE,
            None => CORE_KERNEL,
        }
    }

    /// A symbol above the core kernel that was not listed: loaded since (another trace's BPF
    /// programs, say).
    fn is_new(&self, symbol: u64) -> bool {
        symbol > self.core_end && !self.module_of.contains_key(&symbol)
    }
}

/// Whether kallsyms at `path` shows a nonzero address; reads up to the first one, not the
/// whole 5 MB: that buffer, freed, would raise glibc's mmap threshold, and the large buffers
/// of the attach that follows (the kernel's BTF, read twice) would then stay on the heap:
/// `ktrace attach --sample` on 16 cgroups peaked at 34.2 MiB with it, 30.6 MiB without.
fn shows_addresses(path: &Path) -> anyhow::Result<bool> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if kallsyms::symbols(&line).any(|symbol| symbol.address != 0) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn read(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> KernelSymbols {
        KernelSymbols::from_kallsyms(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/kallsyms"
        ))
        .unwrap()
    }

    fn f(name: &str, module: &str) -> KernelFunction {
        KernelFunction { name: name.to_owned(), module: module.to_owned() }
    }

    #[test]
    fn names_core_and_module_functions() {
        let mut symbols = fixture();
        let ips = [
            0xffff_ffff_816b_9250,
            0xffff_ffff_81d3_3b04,
            0xffff_ffff_c0a0_1010,
            0xffff_ffff_c0b0_0000,
            0xffff_ffff_816b_9250,
        ];
        assert_eq!(
            symbols.functions(&ips).unwrap(),
            [
                f("vfs_write", "vmlinux"),
                f("write_null", "vmlinux"),
                f("veth_xmit", "veth"),
                f("kvm_vcpu_ioctl", "kvm"),
                f("vfs_write", "vmlinux")
            ]
        );
        // Cached: a second lookup needs no symbolization.
        assert_eq!(
            symbols.functions(&[0xffff_ffff_816b_9250]).unwrap(),
            [f("vfs_write", "vmlinux")]
        );
    }

    /// ktrace's own programs were listed as vmlinux functions: the module column was read
    /// before they were loaded.
    #[test]
    fn bpf_programs_loaded_after_the_start_are_in_the_bpf_module() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kallsyms");
        let core = "ffffffff81000000 T _text\nffffffff816b9240 T vfs_write\n";
        fs::write(&path, core).unwrap();
        let mut symbols = KernelSymbols::from_kallsyms(&path).unwrap();
        // The programs are loaded after the symbolizer was made, before the first sample.
        let programs = "\
ffffffffc0c00000 t bpf_prog_47fe02895b516e1c_kt_sys_enter\t[bpf]
ffffffffc0c01000 t bpf_prog_0123456789abcdef_other_tool\t[bpf]
ffffffffc0c02000 t bpf_trampoline_6442491981\t[bpf]
";
        fs::write(&path, format!("{core}{programs}")).unwrap();
        let found = symbols
            .functions(&[
                0xffff_ffff_c0c0_0010,
                0xffff_ffff_c0c0_1010,
                0xffff_ffff_c0c0_2010,
                0xffff_ffff_816b_9250,
            ])
            .unwrap();
        assert_eq!(
            found,
            [
                f("bpf_prog_47fe02895b516e1c_kt_sys_enter", "bpf"),
                f("bpf_prog_0123456789abcdef_other_tool", "bpf"),
                f("bpf_trampoline_6442491981", "bpf"),
                f("vfs_write", "vmlinux"),
            ]
        );
        let own: Vec<bool> = found.iter().map(KernelFunction::is_ktrace_program).collect();
        assert_eq!(own, [true, false, false, false]);
        // Another trace loads its programs after this one's first symbolization.
        let later = "ffffffffc0c03000 t bpf_prog_fedcba9876543210_kt_sys_exit\t[bpf]\n";
        fs::write(&path, format!("{core}{programs}{later}")).unwrap();
        assert_eq!(
            symbols.functions(&[0xffff_ffff_c0c0_3010]).unwrap(),
            [f("bpf_prog_fedcba9876543210_kt_sys_exit", "bpf")]
        );
        assert!(!f("bpf_prog_47fe02895b516e1c_kt_sys_enter", "vmlinux").is_ktrace_program());
    }

    #[test]
    fn hidden_addresses_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kallsyms");
        fs::write(&path, "0000000000000000 T vfs_write\n0000000000000000 T vfs_read\n").unwrap();
        let err = KernelSymbols::from_kallsyms(&path).err().expect("must fail");
        assert!(format!("{err:#}").contains("must run as root"), "{err:#}");
    }

    /// Seen in the 6.12 guest: ktrace's programs symbolized at an address the module column
    /// did not list, and counted as vmlinux functions (its own share then came out short).
    #[test]
    fn bpf_programs_are_in_module_bpf_wherever_the_address() {
        let modules = Modules {
            module_of: HashMap::from([(0xffff_c000, BPF_MODULE.to_owned())]),
            core_end: 0xffff_0000,
        };
        let program = "bpf_prog_0123456789abcdef_kt_sys_exit";
        assert_eq!(modules.module(0xffff_c000, program), BPF_MODULE);
        assert_eq!(modules.module(0xffff_c800, program), BPF_MODULE);
        assert_eq!(modules.module(0xffff_c800, "bpf_prog_kallsyms_del_all"), CORE_KERNEL);
        assert_eq!(modules.module(0x1000, "vfs_write"), CORE_KERNEL);
    }
}
