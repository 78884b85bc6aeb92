//! `ktrace ps`: the workloads [`crate::runtime`] finds, as a table for people or a JSON array.
//!
//! The table's NAME is what `--cgroup` takes; below it, every workload without a cgroup v2
//! directory of its own gets a line saying why and what to do.
use std::io::{self, Write};

use crate::runtime::{Placement, Workload};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// Ids are 64 hex digits for Docker and Podman: 12 tell them apart, as `docker ps` shows.
const ID_WIDTH: usize = 12;
/// PIDS lists this many, then `+N`.
const PIDS_SHOWN: usize = 3;

pub fn write(out: &mut impl Write, workloads: &[Workload], format: Format) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, workloads)?;
            writeln!(out)
        }
        Format::Table => table(out, workloads),
    }
}

fn table(out: &mut impl Write, workloads: &[Workload]) -> io::Result<()> {
    let rows: Vec<[String; 6]> = workloads
        .iter()
        .map(|w| {
            [
                w.runtime.to_string(),
                w.name.clone(),
                w.id.chars().take(ID_WIDTH).collect(),
                w.state.to_string(),
                pids(&w.pids),
                w.placement.cgroup().unwrap_or("-").to_owned(),
            ]
        })
        .collect();
    let header = ["RUNTIME", "NAME", "ID", "STATE", "PIDS", "CGROUP"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            line += &format!("{cell:<width$}  ");
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    if workloads.is_empty() {
        writeln!(out, "(no containers, sandboxes or VMs found)")?;
    }
    for w in workloads {
        if let Placement::None { why, fix } = &w.placement {
            writeln!(out, "{} `{}` has no cgroup of its own: {why}; {fix}", w.runtime, w.name)?;
        }
    }
    Ok(())
}

fn pids(pids: &[u32]) -> String {
    let mut shown: Vec<String> = pids.iter().take(PIDS_SHOWN).map(u32::to_string).collect();
    if pids.len() > PIDS_SHOWN {
        shown.push(format!("+{}", pids.len() - PIDS_SHOWN));
    }
    if shown.is_empty() { "-".to_owned() } else { shown.join(",") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Runtime, State};

    fn workloads() -> Vec<Workload> {
        vec![
            Workload {
                runtime: Runtime::Runc,
                name: "web".into(),
                id: "web".into(),
                state: State::Running,
                pids: vec![100],
                placement: Placement::Own { cgroup: "/web".into() },
            },
            Workload {
                runtime: Runtime::Runsc,
                name: "gvisor".into(),
                id: "0123456789abcdef".into(),
                state: State::Running,
                pids: vec![200, 201, 202, 203],
                placement: Placement::None { why: "in the root".into(), fix: "move it".into() },
            },
        ]
    }

    #[test]
    fn the_table_aligns_and_explains_workloads_without_a_cgroup() {
        let mut out = Vec::new();
        write(&mut out, &workloads(), Format::Table).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\
RUNTIME  NAME    ID            STATE    PIDS            CGROUP
runc     web     web           running  100             /web
runsc    gvisor  0123456789ab  running  200,201,202,+1  -
runsc `gvisor` has no cgroup of its own: in the root; move it
"
        );
    }

    #[test]
    fn json_is_an_array_with_the_placement_flattened() {
        let mut out = Vec::new();
        write(&mut out, &workloads(), Format::Json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v[0]["cgroup"], "/web");
        assert_eq!(v[1]["why"], "in the root");
        assert_eq!(v[1]["pids"].as_array().unwrap().len(), 4);
    }
}
