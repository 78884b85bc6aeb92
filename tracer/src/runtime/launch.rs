//! Recognising a command that starts a container in a cgroup of its own making, so that
//! `ktrace run` can follow it.
//!
//! `runc run` and `runc create` (crun's too, and runsc's where it makes cgroups: pure v2
//! hosts with a `cgroupsPath`) put the container in a cgroup they create at the top of the
//! v2 tree, `/<id>`, or at the config's `linux.cgroupsPath`, whichever cgroup their caller is
//! in. `ktrace run` therefore shows such a command the run's cgroup as the v2 mount (a private
//! mount namespace), and the container's cgroup lands inside the run's.
use std::{ffi::OsString, path::Path};

const RUNTIMES: [&str; 3] = ["runc", "crun", "runsc"];
/// Global options of these runtimes that take a value as the next argument.
const VALUE_OPTIONS: [&str; 9] = [
    "--root",
    "--log",
    "--log-format",
    "--criu",
    "--rootless",
    "--platform",
    "--network",
    "--debug-log",
    "--panic-log",
];

/// Whether `argv` runs runc, crun or runsc with `run` or `create`.
pub fn creates_its_own_cgroup(argv: &[OsString]) -> bool {
    let Some((program, args)) = argv.split_first() else {
        return false;
    };
    let program = Path::new(program).file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if !RUNTIMES.contains(&program) {
        return false;
    }
    let mut args = args.iter().filter_map(|a| a.to_str());
    while let Some(arg) = args.next() {
        if !arg.starts_with('-') {
            return arg == "run" || arg == "create";
        }
        // Go's flag package also accepts one dash.
        let option = format!("--{}", arg.trim_start_matches('-'));
        if VALUE_OPTIONS.contains(&option.as_str()) {
            args.next();
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn run_and_create_of_runtimes_are_recognised() {
        assert!(creates_its_own_cgroup(&argv("runc run web")));
        assert!(creates_its_own_cgroup(&argv("/usr/sbin/runc --root /tmp/r create -b . web")));
        assert!(creates_its_own_cgroup(&argv("runsc --platform ptrace --network=none run gv")));
        assert!(creates_its_own_cgroup(&argv("crun -root /x run c")));
        assert!(!creates_its_own_cgroup(&argv("runc exec web sh")));
        assert!(!creates_its_own_cgroup(&argv("runc --root run list")));
        assert!(!creates_its_own_cgroup(&argv("docker run web")));
        assert!(!creates_its_own_cgroup(&argv("sh -c runc run web")));
        assert!(!creates_its_own_cgroup(&[]));
    }
}
