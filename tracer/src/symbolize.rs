//! Kernel addresses to function and module names: blazesym over kallsyms, plus the module
//! column of kallsyms (blazesym's kallsyms source does not report modules).
//!
//! One long-lived [`KernelSymbols`] per trace: blazesym caches the parsed kallsyms, and
//! resolved addresses are cached here so that each interval only symbolizes new addresses.
use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use blazesym::symbolize::{
    Input, Symbolized, Symbolizer,
    source::{Kernel, Source},
};

use crate::kallsyms::{self, CORE_KERNEL};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelFunction {
    pub name: String,
    pub module: String,
}

pub struct KernelSymbols {
    symbolizer: Symbolizer,
    kallsyms: PathBuf,
    /// Start address of every module symbol -> its module.
    module_of: HashMap<u64, String>,
    resolved: HashMap<u64, KernelFunction>,
}

impl KernelSymbols {
    /// Symbols of the running kernel. Needs root: kallsyms shows zero addresses otherwise.
    pub fn running_kernel() -> anyhow::Result<Self> {
        Self::from_kallsyms("/proc/kallsyms")
    }

    pub fn from_kallsyms(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut module_of = HashMap::new();
        let mut any_address = false;
        for symbol in kallsyms::symbols(&text) {
            any_address |= symbol.address != 0;
            if symbol.module != CORE_KERNEL {
                module_of.insert(symbol.address, symbol.module.to_owned());
            }
        }
        if !any_address {
            bail!(
                "{} shows no addresses (kernel.kptr_restrict); ktrace must run as root",
                path.display()
            );
        }
        Ok(Self {
            symbolizer: Symbolizer::new(),
            kallsyms: path.to_owned(),
            module_of,
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
            for (ip, sym) in missing.iter().zip(symbolized) {
                let function = match sym {
                    Symbolized::Sym(sym) => KernelFunction {
                        name: sym.name.into_owned(),
                        module: self
                            .module_of
                            .get(&sym.addr)
                            .cloned()
                            .unwrap_or_else(|| CORE_KERNEL.to_owned()),
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

    #[test]
    fn hidden_addresses_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kallsyms");
        fs::write(&path, "0000000000000000 T vfs_write\n0000000000000000 T vfs_read\n").unwrap();
        let err = KernelSymbols::from_kallsyms(&path).err().expect("must fail");
        assert!(format!("{err:#}").contains("must run as root"), "{err:#}");
    }
}
