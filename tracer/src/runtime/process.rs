//! What `/proc` says about processes: their cgroup v2 directory (the `0::` line of
//! `/proc/PID/cgroup`), their parents, names and command lines.
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

/// The cgroup v2 path of process `pid` below the v2 mount (`/` for the root), from its `0::`
/// line; `None` if the process is gone.
pub fn cgroup_of(proc: &Path, pid: u32) -> Option<String> {
    let text = fs::read_to_string(proc.join(pid.to_string()).join("cgroup")).ok()?;
    text.lines().find_map(|line| line.strip_prefix("0::")).map(str::to_owned)
}

/// The processes of the host at one moment: each one's parent, name and start time.
#[derive(Debug, Default)]
pub struct Processes {
    by_pid: BTreeMap<u32, Process>,
}

#[derive(Debug, Clone)]
struct Process {
    ppid: u32,
    /// `comm`: the program name the kernel keeps, at most 15 bytes.
    comm: String,
    /// Clock ticks after boot (field 22 of `stat`): tells a process from a later one that got
    /// the same pid.
    start_time: u64,
}

impl Processes {
    /// Reads every `/proc/PID/stat`; processes that exit meanwhile are left out.
    pub fn read(proc: &Path) -> Self {
        let by_pid = fs::read_dir(proc)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
                Some((pid, parse_stat(&stat)?))
            })
            .collect();
        Self { by_pid }
    }

    pub fn is_alive(&self, pid: u32) -> bool {
        self.by_pid.contains_key(&pid)
    }

    /// Whether `pid` is alive and started at `start_time`, i.e. not a reused pid.
    pub fn started_at(&self, pid: u32, start_time: u64) -> bool {
        self.by_pid.get(&pid).is_some_and(|p| p.start_time == start_time)
    }

    pub fn comm(&self, pid: u32) -> Option<&str> {
        self.by_pid.get(&pid).map(|p| p.comm.as_str())
    }

    /// Processes whose program name satisfies `wanted`.
    pub fn named(&self, wanted: impl Fn(&str) -> bool) -> Vec<u32> {
        self.by_pid.iter().filter(|(_, p)| wanted(&p.comm)).map(|(&pid, _)| pid).collect()
    }

    /// `roots` and all their descendants, in pid order.
    pub fn trees(&self, roots: &[u32]) -> Vec<u32> {
        let mut found: BTreeSet<u32> =
            roots.iter().copied().filter(|&p| self.is_alive(p)).collect();
        // Parents have smaller pids unless pids wrapped, so repeat until nothing is added.
        loop {
            let before = found.len();
            for (&pid, process) in &self.by_pid {
                if found.contains(&process.ppid) {
                    found.insert(pid);
                }
            }
            if found.len() == before {
                return found.into_iter().collect();
            }
        }
    }
}

/// The NUL-separated command line of `pid`.
pub fn cmdline(proc: &Path, pid: u32) -> Vec<String> {
    fs::read(proc.join(pid.to_string()).join("cmdline"))
        .map(|bytes| {
            bytes
                .split(|&b| b == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Parses `pid (comm) state ppid ...`; comm may hold spaces and parentheses, so the fields
/// after it are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<Process> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    // Fields from 3 (state) on; ppid is field 4, starttime field 22.
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    Some(Process {
        ppid: fields.get(1)?.parse().ok()?,
        comm,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let stat = "26591 (runc:[2:INIT]) S 26580 26591 26580 0 -1 4194560 97 0 0 0 0 0 0 0 20 0 \
                    1 0 128616 1085440 301 18446744073709551615";
        let p = parse_stat(stat).unwrap();
        assert_eq!((p.ppid, p.comm.as_str(), p.start_time), (26580, "runc:[2:INIT]", 128616));
        let odd = "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0";
        assert_eq!(parse_stat(odd).unwrap().comm, "a) b (c");
        assert!(parse_stat("7 (x) R").is_none());
    }
}
