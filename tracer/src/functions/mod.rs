//! Which kernel functions to count: `--functions`, `--module`, `--all` and `--exclude` over
//! the set of traceable functions.
//!
//! Traceable = in kernel BTF (vmlinux or the module's), in ftrace's
//! `available_filter_functions` (the kernel can attach there), not in the kprobe blacklist,
//! and not in ktrace's own deny list of functions that the counting program itself runs
//! through (BPF helpers and maps, RCU, preemption, the fprobe/ftrace machinery): counting
//! those would count ktrace and make it recurse.
mod inventory;

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use globset::{Glob, GlobSet, GlobSetBuilder};

pub use self::inventory::{Filterable, Inventory};
use crate::kallsyms::CORE_KERNEL;

/// Built-in deny list (globs), see the module documentation.
pub const DENY_LIST: &[&str] = &[
    "bpf_*",
    "__bpf_*",
    "___bpf_*",
    "*_map_lookup_elem*",
    "*_map_update_elem*",
    "htab_*",
    "__htab_*",
    "array_map_*",
    "percpu_array_*",
    "pcpu_*",
    "__rcu_read_lock",
    "__rcu_read_unlock",
    "rcu_read_lock*",
    "rcu_read_unlock*",
    "rcu_is_watching",
    "migrate_disable",
    "migrate_enable",
    "preempt_count_*",
    "__preempt_count_*",
    "fprobe_*",
    "__fprobe_*",
    "rethook_*",
    "kprobe_*",
    "__kprobe_*",
    "ftrace_*",
    "__ftrace_*",
    "arch_ftrace_*",
    "*_trampoline*",
    "__x86_indirect_thunk_*",
    "__x86_return_thunk",
    "srso_*",
    "__cfi_*",
    "task_dfl_cgroup*",
    "cgroup_ancestor*",
    "get_perf_callchain*",
];

/// A function ktrace counts. Its index in [`Selection::targets`] is the index of its counter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    pub name: String,
    /// `vmlinux` or the module's name.
    pub module: String,
    /// Type id in vmlinux BTF (fentry attaches by id; module functions have none here).
    pub btf_id: Option<u32>,
    /// Where ftrace patches it in, see [`Filterable::patch_sites`].
    pub patch_sites: Vec<u64>,
}

/// Why a function that matched the user's patterns is not traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exclusion {
    NotInBtf,
    KprobeBlacklist,
    DenyList,
    ExcludePattern,
}

impl Exclusion {
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotInBtf => "not in kernel BTF",
            Self::KprobeBlacklist => "in the kprobe blacklist",
            Self::DenyList => "in ktrace's deny list (the probe runs through them)",
            Self::ExcludePattern => "matched --exclude",
        }
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub patterns: Vec<String>,
    pub modules: Vec<String>,
    pub all: bool,
    pub exclude: Vec<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty() && self.modules.is_empty() && !self.all
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub targets: Vec<Target>,
    /// Functions that matched but are not traced, by reason.
    pub excluded: BTreeMap<Exclusion, usize>,
}

/// A compiled [`Filter`].
#[derive(Debug, Clone)]
pub struct Matcher {
    patterns: Vec<GlobSet>,
    modules: Vec<String>,
    all: bool,
    exclude: GlobSet,
}

impl Matcher {
    pub fn new(filter: &Filter) -> anyhow::Result<Self> {
        Ok(Self {
            patterns: filter
                .patterns
                .iter()
                .map(|p| globs(&[p.as_str()]))
                .collect::<anyhow::Result<_>>()?,
            modules: filter.modules.clone(),
            all: filter.all,
            exclude: globs(&filter.exclude.iter().map(String::as_str).collect::<Vec<_>>())?,
        })
    }

    /// Whether the user asked for this function (ignoring `--exclude`).
    pub fn asked_for(&self, name: &str, module: &str) -> bool {
        self.all
            || self.patterns.iter().any(|p| p.is_match(name))
            || self.modules.iter().any(|m| m == module)
    }

    pub fn excludes(&self, name: &str) -> bool {
        self.exclude.is_match(name)
    }

    /// `asked_for` and not excluded.
    pub fn matches(&self, name: &str, module: &str) -> bool {
        self.asked_for(name, module) && !self.excludes(name)
    }
}

/// Applies `filter` to the kernel's functions. A pattern that matches nothing and a module
/// with no traceable function are errors: the user meant something else.
pub fn select(inventory: &Inventory, filter: &Filter) -> anyhow::Result<Selection> {
    let matcher = Matcher::new(filter)?;
    let deny = globs(DENY_LIST)?;
    let mut matched_per_pattern = vec![0usize; filter.patterns.len()];
    let mut matched_per_module: BTreeMap<&str, usize> =
        filter.modules.iter().map(|m| (m.as_str(), 0)).collect();
    let mut selection = Selection::default();
    for Filterable { name, module, patch_sites } in &inventory.filterable {
        for (pattern, hits) in matcher.patterns.iter().zip(&mut matched_per_pattern) {
            *hits += usize::from(pattern.is_match(name));
        }
        if let Some(hits) = matched_per_module.get_mut(module.as_str()) {
            *hits += 1;
        }
        if !matcher.asked_for(name, module) {
            continue;
        }
        let btf_id = inventory.vmlinux_btf.get(name).copied().filter(|_| module == CORE_KERNEL);
        let in_btf =
            btf_id.is_some() || inventory.module_btf.get(module).is_some_and(|f| f.contains(name));
        let exclusion = if matcher.excludes(name) {
            Some(Exclusion::ExcludePattern)
        } else if deny.is_match(name) {
            Some(Exclusion::DenyList)
        } else if inventory.blacklist.contains(name) {
            Some(Exclusion::KprobeBlacklist)
        } else if !in_btf {
            Some(Exclusion::NotInBtf)
        } else {
            None
        };
        match exclusion {
            Some(why) => *selection.excluded.entry(why).or_default() += 1,
            None => selection.targets.push(Target {
                name: name.clone(),
                module: module.clone(),
                btf_id,
                patch_sites: patch_sites.clone(),
            }),
        }
    }
    for (pattern, hits) in filter.patterns.iter().zip(matched_per_pattern) {
        if hits == 0 {
            bail!("--functions '{pattern}' matches no function in available_filter_functions");
        }
    }
    for (module, hits) in matched_per_module {
        if hits == 0 {
            bail!(
                "--module {module}: no function of module `{module}` can be traced (is the module loaded?)"
            );
        }
    }
    if selection.targets.is_empty() {
        let reasons: Vec<String> =
            selection.excluded.iter().map(|(why, n)| format!("{n} {}", why.describe())).collect();
        bail!("every matching function is excluded: {}", reasons.join(", "));
    }
    Ok(selection)
}

fn globs(patterns: &[&str]) -> anyhow::Result<GlobSet> {
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        set.add(Glob::new(p).with_context(|| format!("bad pattern `{p}`"))?);
    }
    set.build().context("building patterns")
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn inventory() -> Inventory {
        let filterable = [
            ("vfs_write", "vmlinux"),
            ("vfs_read", "vmlinux"),
            ("ksys_write", "vmlinux"),
            ("no_btf_fn", "vmlinux"),
            ("bpf_map_lookup_elem", "vmlinux"),
            ("do_int3", "vmlinux"),
            ("veth_xmit", "veth"),
            ("veth_poll", "veth"),
        ];
        let btf = ["vfs_write", "vfs_read", "ksys_write", "bpf_map_lookup_elem", "do_int3"];
        Inventory {
            filterable: filterable
                .iter()
                .map(|(n, m)| Filterable {
                    name: n.to_string(),
                    module: m.to_string(),
                    patch_sites: Vec::new(),
                })
                .collect(),
            vmlinux_btf: btf.iter().zip(1..).map(|(n, id)| (n.to_string(), id)).collect(),
            module_btf: HashMap::from([(
                "veth".to_owned(),
                HashSet::from(["veth_xmit".to_owned(), "veth_poll".to_owned()]),
            )]),
            blacklist: HashSet::from(["do_int3".to_owned()]),
        }
    }

    fn names(s: &Selection) -> Vec<&str> {
        s.targets.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn patterns_modules_and_exclusions() {
        let inv = inventory();
        let s =
            select(&inv, &Filter { patterns: vec!["vfs_*".into()], ..Default::default() }).unwrap();
        assert_eq!(names(&s), ["vfs_write", "vfs_read"]);
        assert_eq!(s.targets[0].btf_id, Some(1));

        let s = select(
            &inv,
            &Filter {
                modules: vec!["veth".into()],
                exclude: vec!["*_poll".into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(names(&s), ["veth_xmit"]);
        assert_eq!((s.targets[0].module.as_str(), s.targets[0].btf_id), ("veth", None));
        assert_eq!(s.excluded, BTreeMap::from([(Exclusion::ExcludePattern, 1)]));
    }

    #[test]
    fn all_leaves_out_what_cannot_or_must_not_be_traced() {
        let s = select(&inventory(), &Filter { all: true, ..Default::default() }).unwrap();
        assert_eq!(names(&s), ["vfs_write", "vfs_read", "ksys_write", "veth_xmit", "veth_poll"]);
        assert_eq!(
            s.excluded,
            BTreeMap::from([
                (Exclusion::NotInBtf, 1),
                (Exclusion::KprobeBlacklist, 1),
                (Exclusion::DenyList, 1)
            ])
        );
    }

    #[test]
    fn nothing_matched_is_an_error_that_says_what() {
        let inv = inventory();
        let err = select(&inv, &Filter { patterns: vec!["nope_*".into()], ..Default::default() })
            .unwrap_err();
        assert!(format!("{err:#}").contains("'nope_*' matches no function"), "{err:#}");
        let err = select(&inv, &Filter { modules: vec!["kvm".into()], ..Default::default() })
            .unwrap_err();
        assert!(format!("{err:#}").contains("--module kvm"), "{err:#}");
        let err = select(&inv, &Filter { patterns: vec!["bpf_*".into()], ..Default::default() })
            .unwrap_err();
        assert!(format!("{err:#}").contains("1 in ktrace's deny list"), "{err:#}");
        assert!(
            select(&inv, &Filter { patterns: vec!["[".into()], ..Default::default() }).is_err()
        );
    }
}
