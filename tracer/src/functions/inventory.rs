//! The kernel's own lists that decide what can be traced: ftrace's
//! `available_filter_functions`, kernel BTF (vmlinux and modules), the kprobe blacklist.
use std::{
    collections::{HashMap, HashSet},
    fs, io,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, anyhow};

use super::{CORE_KERNEL, btf::Btf};

const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
const KPROBE_BLACKLIST: &str = "/sys/kernel/debug/kprobes/blacklist";
const BTF_DIR: &str = "/sys/kernel/btf";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// (function, module) pairs ftrace can attach to, first occurrence of each, in file order.
    pub filterable: Vec<(String, String)>,
    /// vmlinux BTF: function -> type id.
    pub vmlinux_btf: HashMap<String, u32>,
    /// Module BTF: module -> its functions.
    pub module_btf: HashMap<String, HashSet<String>>,
    pub blacklist: HashSet<String>,
}

impl Inventory {
    /// Reads the running kernel's lists. Fails with the reason when function tracing is not
    /// possible at all (no tracefs, or a kernel that forbids reading it).
    pub fn read() -> anyhow::Result<Self> {
        let path = TRACEFS
            .iter()
            .map(|dir| Path::new(dir).join("available_filter_functions"))
            .find(|p| p.exists())
            .ok_or_else(|| {
                anyhow!(
                    "no available_filter_functions under {} (tracefs not mounted?)",
                    TRACEFS.join(" or ")
                )
            })?;
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let filterable = parse_filter_functions(&text);
        let vmlinux = read_btf(&Path::new(BTF_DIR).join("vmlinux"), None)?;
        let modules: HashSet<&str> =
            filterable.iter().map(|(_, m)| m.as_str()).filter(|m| *m != CORE_KERNEL).collect();
        let mut module_btf = HashMap::new();
        for module in modules {
            // A module built without BTF simply has no entry: its functions are "not in BTF".
            if let Ok(btf) = read_btf(&Path::new(BTF_DIR).join(module), Some(&vmlinux)) {
                module_btf.insert(module.to_owned(), btf.functions.into_keys().collect());
            }
        }
        let blacklist = match fs::read_to_string(KPROBE_BLACKLIST) {
            Ok(text) => parse_blacklist(&text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => HashSet::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {KPROBE_BLACKLIST}")),
        };
        Ok(Self { filterable, vmlinux_btf: vmlinux.functions, module_btf, blacklist })
    }
}

fn read_btf(path: &PathBuf, base: Option<&Btf>) -> anyhow::Result<Btf> {
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Btf::parse(&data, base).with_context(|| format!("parsing {}", path.display()))
}

/// "name" or "name [module]" per line (newer kernels may add an address column first when
/// reading `available_filter_functions_addrs`; this file has none). Duplicates (static
/// functions of the same name) are kept once: attaching by name reaches one of them.
fn parse_filter_functions(text: &str) -> Vec<(String, String)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(name) = fields.next() else { continue };
        let module = fields
            .next()
            .and_then(|m| m.strip_prefix('[')?.strip_suffix(']'))
            .unwrap_or(CORE_KERNEL);
        if seen.insert((name, module)) {
            out.push((name.to_owned(), module.to_owned()));
        }
    }
    out
}

/// "0xstart-0xend\tname" per line.
fn parse_blacklist(text: &str) -> HashSet<String> {
    text.lines().filter_map(|l| l.split_whitespace().nth(1)).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ftrace_and_kprobe_lists() {
        let text = "vfs_write\nvfs_read\nveth_xmit [veth]\nvfs_write\n\n";
        assert_eq!(
            parse_filter_functions(text),
            [("vfs_write", "vmlinux"), ("vfs_read", "vmlinux"), ("veth_xmit", "veth")]
                .map(|(n, m)| (n.to_owned(), m.to_owned()))
        );
        let blacklist = "0xffffffff81001000-0xffffffff81001040\tdo_int3\n0xffffffffc0001000-0xffffffffc0001010\tfoo [mod]\n";
        assert_eq!(
            parse_blacklist(blacklist),
            HashSet::from(["do_int3".to_owned(), "foo".to_owned()])
        );
    }
}
