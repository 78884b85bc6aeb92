//! VMs started by hand: QEMU (`qemu-system-*`) and Firecracker processes, which keep no state
//! files and never move themselves into a cgroup. Named by QEMU's `-name` or Firecracker's
//! `--id`, else by the pid.
use super::{
    process::{Processes, cmdline},
    workload::{Roots, Runtime, State, Workload, place},
};

pub fn discover(roots: &Roots, processes: &Processes) -> Vec<Workload> {
    let vms = processes.named(|comm| comm.starts_with("qemu-system") || comm == "firecracker");
    vms.into_iter()
        .map(|pid| {
            let argv = cmdline(&roots.proc, pid);
            let (runtime, name_flag) = match processes.comm(pid) {
                Some("firecracker") => (Runtime::Firecracker, "--id"),
                _ => (Runtime::Qemu, "-name"),
            };
            let name = flag_value(&argv, name_flag).unwrap_or_else(|| pid.to_string());
            Workload {
                runtime,
                name,
                id: pid.to_string(),
                state: State::Running,
                placement: place(
                    roots,
                    &[pid],
                    None,
                    "the VM never moves itself into a cgroup and was started from the root",
                ),
                pids: vec![pid],
            }
        })
        .collect()
}

/// The value after `flag` (or in `flag=value`); QEMU's `-name guest=NAME,debug-threads=on`
/// and `-name NAME,...` both give NAME.
fn flag_value(argv: &[String], flag: &str) -> Option<String> {
    let value = argv.iter().enumerate().find_map(|(i, arg)| {
        if arg == flag {
            argv.get(i + 1).cloned()
        } else {
            arg.strip_prefix(flag)?.strip_prefix('=').map(str::to_owned)
        }
    })?;
    let first = value.split(',').next()?;
    let name = first.strip_prefix("guest=").unwrap_or(first);
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn names_come_from_the_name_flags() {
        let libvirt = args("qemu-system-x86_64 -name guest=web,debug-threads=on -m 512");
        assert_eq!(flag_value(&libvirt, "-name").as_deref(), Some("web"));
        assert_eq!(flag_value(&args("qemu -name vm1"), "-name").as_deref(), Some("vm1"));
        assert_eq!(flag_value(&args("firecracker --id=fc7"), "--id").as_deref(), Some("fc7"));
        assert_eq!(flag_value(&args("qemu -m 512"), "-name"), None);
    }
}
