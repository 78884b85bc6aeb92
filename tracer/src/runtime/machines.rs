//! Machines registered with systemd-machined, which libvirt's QEMU domains and
//! systemd-nspawn containers are: `/run/systemd/machines/NAME`, `KEY=value` lines with the
//! leader process (`LEADER`), the scope unit that is its cgroup (`SCOPE`) and who registered
//! it (`SERVICE`: `libvirt-qemu`, `nspawn`).
use std::fs;

use super::{
    process::Processes,
    workload::{Roots, Runtime, State, Workload, place},
};

pub fn discover(roots: &Roots, processes: &Processes) -> Vec<Workload> {
    let dir = roots.run.join("systemd/machines");
    let mut entries: Vec<_> =
        fs::read_dir(&dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    entries.sort();
    entries
        .iter()
        // `unit:SCOPE` entries are links to the machine files.
        .filter(|p| p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with("unit:")))
        .filter_map(|path| {
            let text = fs::read_to_string(path).ok()?;
            let field = |key: &str| {
                text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('=')).map(str::to_owned)
            };
            let name =
                field("NAME").or_else(|| Some(path.file_name()?.to_string_lossy().into()))?;
            let runtime = match field("SERVICE")?.as_str() {
                s if s.starts_with("libvirt") => Runtime::Libvirt,
                "nspawn" => Runtime::SystemdNspawn,
                _ => return None,
            };
            let leader: u32 = field("LEADER").and_then(|l| l.parse().ok()).unwrap_or(0);
            let pids = if processes.is_alive(leader) { vec![leader] } else { Vec::new() };
            Some(Workload {
                runtime,
                id: field("ID").unwrap_or_else(|| name.clone()),
                name,
                state: if pids.is_empty() { State::Stopped } else { State::Running },
                placement: place(roots, &pids, None, "systemd did not give it a scope"),
                pids,
            })
        })
        .collect()
}
