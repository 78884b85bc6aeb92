//! The pieces of a benchmark's Markdown report that `cargo xtask bench` relies on: figures as
//! "median [min-max]", the targets judged by their median and tabulated, the same targets as
//! tab-separated lines (target, median, min, max, met) for xtask to compare runs, and the
//! report written whole or not at all.
use std::{fmt::Write as _, fs, path::Path};

use anyhow::Context as _;

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// "median [min-max]" with `decimals` places; "-" for no values.
pub fn spread(mut values: Vec<f64>, decimals: usize) -> String {
    values.sort_by(f64::total_cmp);
    match (values.first(), values.last()) {
        (Some(min), Some(max)) => {
            format!("{:.decimals$} [{min:.decimals$}-{max:.decimals$}]", median(values.clone()))
        }
        _ => "-".to_owned(),
    }
}

/// A target: met when the median of its values is at most `limit`.
pub struct Target {
    pub name: String,
    /// One value per round.
    pub values: Vec<f64>,
    pub limit: f64,
    /// Said beside the verdict (e.g. what bounds the target on this machine); may be empty.
    pub note: String,
}

/// The targets judged: a Markdown table, the tab-separated lines and the names of those missed.
pub struct Verdicts {
    pub table: String,
    pub tsv: String,
    pub missed: Vec<String>,
}

pub fn judge(targets: Vec<Target>) -> Verdicts {
    let mut verdicts = Verdicts {
        table: "| target | measured | met |\n|---|---:|---|\n".to_owned(),
        tsv: String::new(),
        missed: Vec::new(),
    };
    for Target { name, mut values, limit, note } in targets {
        values.sort_by(f64::total_cmp);
        let middle = median(values.clone());
        let met = middle <= limit;
        let _ = writeln!(
            verdicts.tsv,
            "{name}\t{middle:.3}\t{:.3}\t{:.3}\t{}",
            values.first().unwrap_or(&f64::NAN),
            values.last().unwrap_or(&f64::NAN),
            if met { "yes" } else { "no" }
        );
        let verdict = if met { "yes" } else { "**no**" };
        let note = if note.is_empty() { String::new() } else { format!(" ({note})") };
        // Three places: a median a hair over its limit must not read as equal to it.
        let _ = writeln!(verdicts.table, "| {name} | {} | {verdict}{note} |", spread(values, 3));
        if !met {
            verdicts.missed.push(name);
        }
    }
    verdicts
}

/// Writes `text` to a temporary file beside `path`, then renames it over `path`.
pub fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().context("report path without a directory")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.persist(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
