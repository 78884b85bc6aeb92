//! The label of each record in a comparison: the names its columns carry in every output.
//!
//! A record is labelled by its file's stem (`runs/net.json` is `net`). Where two stems are
//! the same, each label grows by parent directories until they differ (`d1/r` and `d2/r`):
//! the shortest path suffix that tells the files apart. `--label NAME`, one per file, replaces
//! them. The same file given twice is refused: a run compared with itself says nothing, and
//! its two columns could not be told apart.
use std::{
    collections::HashMap,
    fs,
    os::unix::fs::MetadataExt as _,
    path::{Component, Path},
};

use anyhow::{Context as _, bail};

/// The labels of the records at `paths`: `given` (`--label`, one per file) when there are any,
/// else the shortest distinguishing path suffixes. Refuses a file given twice, however it was
/// spelled.
pub fn labels(paths: &[&Path], given: &[String]) -> anyhow::Result<Vec<String>> {
    refuse_repeated_files(paths)?;
    if given.is_empty() {
        return shortest_suffixes(paths);
    }
    if given.len() != paths.len() {
        bail!(
            "--label given {} times for {} records: give one per record, in their order",
            given.len(),
            paths.len()
        );
    }
    for (i, label) in given.iter().enumerate() {
        if label.trim().is_empty() {
            bail!("--label must not be empty");
        }
        if given[..i].contains(label) {
            bail!("--label `{label}` given twice: columns need labels of their own");
        }
    }
    Ok(given.to_vec())
}

fn refuse_repeated_files(paths: &[&Path]) -> anyhow::Result<()> {
    let mut seen: HashMap<(u64, u64), &Path> = HashMap::new();
    for &path in paths {
        let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if let Some(first) = seen.insert((meta.dev(), meta.ino()), path) {
            bail!(
                "{} and {} are the same file: give each record once",
                first.display(),
                path.display()
            );
        }
    }
    Ok(())
}

/// Each path's stem, grown by parent directories where it equals another's.
fn shortest_suffixes(paths: &[&Path]) -> anyhow::Result<Vec<String>> {
    // Innermost first: stem, parent, grandparent, ... of the absolute path.
    let parts = paths
        .iter()
        .map(|path| {
            let full =
                fs::canonicalize(path).with_context(|| format!("reading {}", path.display()))?;
            let mut parts: Vec<String> = full
                .parent()
                .into_iter()
                .flat_map(Path::components)
                .filter_map(|c| match c {
                    Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect();
            let stem = full.file_stem().unwrap_or(full.as_os_str());
            parts.push(stem.to_string_lossy().into_owned());
            parts.reverse();
            anyhow::Ok(parts)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(suffixes(&parts))
}

/// The shortest suffixes of `parts` (innermost first) that differ; two paths that differ
/// nowhere (`r.json` and `r.txt` in one directory) keep their whole path.
fn suffixes(parts: &[Vec<String>]) -> Vec<String> {
    let label = |p: &[String], k: usize| {
        p[..k.min(p.len())].iter().rev().cloned().collect::<Vec<_>>().join("/")
    };
    let mut lengths = vec![1; parts.len()];
    loop {
        let labels: Vec<String> = parts.iter().zip(&lengths).map(|(p, &k)| label(p, k)).collect();
        let mut grew = false;
        for i in 0..parts.len() {
            let clashes = labels.iter().enumerate().any(|(j, l)| j != i && *l == labels[i]);
            if clashes && lengths[i] < parts[i].len() {
                lengths[i] += 1;
                grew = true;
            }
        }
        if !grew {
            return labels;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(paths: &[&str]) -> Vec<Vec<String>> {
        paths.iter().map(|p| p.split('/').rev().map(str::to_owned).collect()).collect()
    }

    /// `d1/r.json` and `d2/r.json` were both labelled `r`.
    #[test]
    fn equal_stems_grow_by_parent_directories_until_they_differ() {
        assert_eq!(suffixes(&parts(&["h/d1/r", "h/d2/r"])), ["d1/r", "d2/r"]);
        assert_eq!(suffixes(&parts(&["h/a/x/r", "h/b/x/r", "h/b/y"])), ["a/x/r", "b/x/r", "y"]);
        assert_eq!(suffixes(&parts(&["h/net", "h/disk"])), ["net", "disk"]);
        // A path that is a suffix of another's keeps all it has.
        assert_eq!(suffixes(&parts(&["r", "d/r"])), ["r", "d/r"]);
    }

    #[test]
    fn files_are_labelled_by_their_real_paths_and_never_twice() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["d1", "d2"] {
            fs::create_dir(dir.path().join(d)).unwrap();
            fs::write(dir.path().join(d).join("r.json"), "{}").unwrap();
        }
        let (a, b) = (dir.path().join("d1/r.json"), dir.path().join("d2/r.json"));
        assert_eq!(labels(&[&a, &b], &[]).unwrap(), ["d1/r", "d2/r"]);
        let again = dir.path().join("d2/../d1/r.json");
        assert_eq!(
            format!("{:#}", labels(&[&a, &again], &[]).unwrap_err()),
            format!(
                "{} and {} are the same file: give each record once",
                a.display(),
                again.display()
            )
        );
        let given = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            labels(&[&a, &b], &names).map_err(|e| e.to_string())
        };
        assert_eq!(given(&["runc", "gvisor"]).unwrap(), ["runc", "gvisor"]);
        assert_eq!(
            given(&["runc"]).unwrap_err(),
            "--label given 1 times for 2 records: give one per record, in their order"
        );
        assert_eq!(
            given(&["x", "x"]).unwrap_err(),
            "--label `x` given twice: columns need labels of their own"
        );
        assert_eq!(given(&["x", " "]).unwrap_err(), "--label must not be empty");
    }
}
