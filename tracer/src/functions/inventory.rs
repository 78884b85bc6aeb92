//! The kernel's own lists that decide what can be traced: ftrace's
//! `available_filter_functions` (with addresses where the kernel has
//! `available_filter_functions_addrs`, Linux 6.5+), kernel BTF (vmlinux and modules), the
//! kprobe blacklist.
use std::{
    collections::{HashMap, HashSet},
    fs, io,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, anyhow};

use crate::{
    btf::Btf,
    kallsyms::{self, CORE_KERNEL},
};

const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
const DEBUGFS: &str = "/sys/kernel/debug";
const KPROBE_BLACKLIST: &str = "/sys/kernel/debug/kprobes/blacklist";
const BTF_DIR: &str = "/sys/kernel/btf";

/// A function ftrace can attach to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filterable {
    pub name: String,
    /// `vmlinux` or the module's name.
    pub module: String,
    /// Where ftrace patches it in (its `call __fentry__`), one per function of this name;
    /// empty when the kernel does not list them (before Linux 6.5).
    pub patch_sites: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Functions ftrace can attach to, one per (name, module), in file order.
    pub filterable: Vec<Filterable>,
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
        let tracefs = tracefs()?;
        let with_addrs = tracefs.join("available_filter_functions_addrs");
        let (path, addrs) = if with_addrs.exists() {
            (with_addrs, Addresses::Listed)
        } else {
            (tracefs.join("available_filter_functions"), Addresses::Absent)
        };
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let filterable = parse_filter_functions(&text, addrs);
        let vmlinux = read_btf(&Path::new(BTF_DIR).join("vmlinux"), None)?;
        let modules: HashSet<&str> =
            filterable.iter().map(|f| f.module.as_str()).filter(|m| *m != CORE_KERNEL).collect();
        let mut module_btf = HashMap::new();
        for module in modules {
            // A module built without BTF simply has no entry: its functions are "not in BTF".
            if let Ok(btf) = read_btf(&Path::new(BTF_DIR).join(module), Some(&vmlinux)) {
                module_btf.insert(module.to_owned(), btf.functions.into_keys().collect());
            }
        }
        if !Path::new(KPROBE_BLACKLIST).exists() {
            mount_if_absent("debugfs", DEBUGFS, "the kprobe blacklist")?;
        }
        let blacklist = match fs::read_to_string(KPROBE_BLACKLIST) {
            Ok(text) => parse_blacklist(&text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => HashSet::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {KPROBE_BLACKLIST}")),
        };
        Ok(Self { filterable, vmlinux_btf: vmlinux.functions, module_btf, blacklist })
    }
}

/// Where ftrace's files are. A system that booted without tracefs mounted (a fresh Debian
/// host can) gets it mounted at /sys/kernel/tracing, as perf does, and left there.
fn tracefs() -> anyhow::Result<&'static Path> {
    let listed = || {
        TRACEFS.iter().map(Path::new).find(|dir| dir.join("available_filter_functions").exists())
    };
    if let Some(dir) = listed() {
        return Ok(dir);
    }
    mount_if_absent("tracefs", TRACEFS[0], "ftrace's list of traceable functions")?;
    listed().ok_or_else(|| {
        anyhow!("no available_filter_functions under {} (kernel without ftrace?)", TRACEFS[0])
    })
}

/// Mounts file system `kind` at `target` unless something is mounted there already, saying
/// so on stderr; a failure names the command that would fix it.
fn mount_if_absent(kind: &str, target: &str, needed_for: &str) -> anyhow::Result<()> {
    let c = |s: &str| std::ffi::CString::new(s).expect("no NUL in a constant");
    let (source, dir, fstype) = (c("nodev"), c(target), c(kind));
    // SAFETY: all pointers are NUL-terminated strings that outlive the call; no data argument.
    let mounted =
        unsafe { libc::mount(source.as_ptr(), dir.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    match mounted {
        0 => {
            eprintln!("ktrace: mounted {kind} at {target} for {needed_for}; it stays mounted");
            Ok(())
        }
        _ => match io::Error::last_os_error() {
            // Mounted already, only without the file ktrace looked for.
            e if e.raw_os_error() == Some(libc::EBUSY) => Ok(()),
            e => Err(anyhow!(
                "{kind} is not mounted at {target} and mounting it failed ({e}); {needed_for} \
                 is read there: mount it with `mount -t {kind} nodev {target}`"
            )),
        },
    }
}

fn read_btf(path: &PathBuf, base: Option<&Btf>) -> anyhow::Result<Btf> {
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Btf::parse(&data, base).with_context(|| format!("parsing {}", path.display()))
}

/// Whether a line of the ftrace function list starts with the patch site's address.
#[derive(Clone, Copy)]
enum Addresses {
    Listed,
    Absent,
}

/// "name" or "name [module]" per line, after "address " in `available_filter_functions_addrs`.
/// Names can repeat (static functions of the same name): each is kept once, with all its
/// patch sites, since attaching by name reaches one of them.
fn parse_filter_functions(text: &str, addrs: Addresses) -> Vec<Filterable> {
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut out: Vec<Filterable> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let patch_site = match addrs {
            Addresses::Listed => {
                let Some(Ok(addr)) = fields.next().map(|a| u64::from_str_radix(a, 16)) else {
                    continue;
                };
                Some(addr)
            }
            Addresses::Absent => None,
        };
        let Some(name) = fields.next() else { continue };
        let module = kallsyms::module(fields.next());
        let at = *index.entry((name, module)).or_insert_with(|| {
            out.push(Filterable {
                name: name.to_owned(),
                module: module.to_owned(),
                patch_sites: Vec::new(),
            });
            out.len() - 1
        });
        out[at].patch_sites.extend(patch_site);
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

    fn filterable(name: &str, module: &str, patch_sites: &[u64]) -> Filterable {
        Filterable { name: name.into(), module: module.into(), patch_sites: patch_sites.into() }
    }

    #[test]
    fn parses_ftrace_and_kprobe_lists() {
        let text = "vfs_write\nvfs_read\nveth_xmit [veth]\nvfs_write\n\n";
        assert_eq!(
            parse_filter_functions(text, Addresses::Absent),
            [
                filterable("vfs_write", "vmlinux", &[]),
                filterable("vfs_read", "vmlinux", &[]),
                filterable("veth_xmit", "veth", &[])
            ]
        );
        let text = "ffffffff81001004 vfs_write\nffffffffc0001000 veth_xmit [veth]\n\
                    ffffffff81002000 vfs_write\n";
        assert_eq!(
            parse_filter_functions(text, Addresses::Listed),
            [
                filterable("vfs_write", "vmlinux", &[0xffffffff81001004, 0xffffffff81002000]),
                filterable("veth_xmit", "veth", &[0xffffffffc0001000])
            ]
        );
        let blacklist = "0xffffffff81001000-0xffffffff81001040\tdo_int3\n0xffffffffc0001000-0xffffffffc0001010\tfoo [mod]\n";
        assert_eq!(
            parse_blacklist(blacklist),
            HashSet::from(["do_int3".to_owned(), "foo".to_owned()])
        );
    }
}
