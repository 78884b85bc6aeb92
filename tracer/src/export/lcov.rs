//! lcov tracefiles of kernel function coverage, the format `genhtml` renders into the
//! familiar per-directory report and lcov's own tools diff and merge.
//!
//! Counted functions give function data (FN, FNDA, FNF, FNH) and, so that genhtml's line
//! columns mean something, one line per function: its first line, hit as often as the
//! function was entered (DA, LF, LH). Lines counted with `--lines` give line data (DA) of
//! their own, which genhtml shows beside the source like gcov's counts.
use std::{
    collections::BTreeMap,
    io::{self, Write},
};

use crate::sources::SourceLocation;

/// A traced function with its entry count and where its code starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoveredFunction<'a> {
    pub name: &'a str,
    pub count: u64,
    pub location: &'a SourceLocation,
}

/// A source line with its counted hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoveredLine<'a> {
    pub file: &'a str,
    pub line: u32,
    pub hits: u64,
}

/// Writes one tracefile: test name `test`, one record per source file.
pub fn write(
    out: &mut dyn Write,
    test: &str,
    functions: &[CoveredFunction],
    counted_lines: &[CoveredLine],
) -> io::Result<()> {
    let mut by_file: BTreeMap<&str, (Vec<&CoveredFunction>, Vec<&CoveredLine>)> = BTreeMap::new();
    for f in functions {
        by_file.entry(&f.location.file).or_default().0.push(f);
    }
    for l in counted_lines {
        by_file.entry(l.file).or_default().1.push(l);
    }
    writeln!(out, "TN:{}", test.replace(|c: char| !c.is_ascii_alphanumeric(), "_"))?;
    for (file, (mut functions, counted)) in by_file {
        functions.sort_by_key(|f| (f.location.line, f.name));
        writeln!(out, "SF:{file}")?;
        if !functions.is_empty() {
            for f in &functions {
                writeln!(out, "FN:{},{}", f.location.line, f.name)?;
            }
            for f in &functions {
                writeln!(out, "FNDA:{},{}", f.count, f.name)?;
            }
            writeln!(out, "FNF:{}", functions.len())?;
            writeln!(out, "FNH:{}", functions.iter().filter(|f| f.count > 0).count())?;
        }
        // Functions sharing a first line (macros) share its hits.
        let mut lines: BTreeMap<u32, u64> = BTreeMap::new();
        for f in &functions {
            let hits = lines.entry(f.location.line).or_default();
            *hits = hits.saturating_add(f.count);
        }
        // A counted line that is also a function's first line: both count its runs.
        for l in counted {
            let hits = lines.entry(l.line).or_default();
            *hits = (*hits).max(l.hits);
        }
        for (line, hits) in &lines {
            writeln!(out, "DA:{line},{hits}")?;
        }
        writeln!(out, "LF:{}", lines.len())?;
        writeln!(out, "LH:{}", lines.values().filter(|&&h| h > 0).count())?;
        writeln!(out, "end_of_record")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{fs, process::Command};

    use super::*;

    fn at(file: &str, line: u32) -> SourceLocation {
        SourceLocation { file: file.to_owned(), line }
    }

    fn sample() -> Vec<u8> {
        let (dev, write_loc, read_loc, xmit) = (
            at("net/core/dev.c", 1823),
            at("fs/read_write.c", 671),
            at("fs/read_write.c", 552),
            at("drivers/net/veth.c", 340),
        );
        let functions = [
            CoveredFunction { name: "is_skb_forwardable", count: 200, location: &dev },
            CoveredFunction { name: "vfs_write", count: 7, location: &write_loc },
            CoveredFunction { name: "vfs_read", count: 0, location: &read_loc },
            CoveredFunction { name: "veth_xmit", count: 0, location: &xmit },
        ];
        let mut out = Vec::new();
        write(&mut out, "lxc-net", &functions, &[]).unwrap();
        out
    }

    #[test]
    fn one_record_per_file_with_function_and_line_data() {
        let expected = "\
TN:lxc_net
SF:drivers/net/veth.c
FN:340,veth_xmit
FNDA:0,veth_xmit
FNF:1
FNH:0
DA:340,0
LF:1
LH:0
end_of_record
SF:fs/read_write.c
FN:552,vfs_read
FN:671,vfs_write
FNDA:0,vfs_read
FNDA:7,vfs_write
FNF:2
FNH:1
DA:552,0
DA:671,7
LF:2
LH:1
end_of_record
SF:net/core/dev.c
FN:1823,is_skb_forwardable
FNDA:200,is_skb_forwardable
FNF:1
FNH:1
DA:1823,200
LF:1
LH:1
end_of_record
";
        assert_eq!(String::from_utf8(sample()).unwrap(), expected);
    }

    #[test]
    fn counted_lines_join_their_file_and_take_the_larger_count() {
        let dev = at("net/core/dev.c", 2254);
        let functions = [CoveredFunction { name: "is_skb_forwardable", count: 3, location: &dev }];
        let header = "include/linux/netdevice.h";
        let lines = [
            CoveredLine { file: header, line: 4070, hits: 42 },
            CoveredLine { file: header, line: 4083, hits: 0 },
            CoveredLine { file: "net/core/dev.c", line: 2254, hits: 5 },
        ];
        let mut out = Vec::new();
        write(&mut out, "net", &functions, &lines).unwrap();
        let expected = "\
TN:net
SF:include/linux/netdevice.h
DA:4070,42
DA:4083,0
LF:2
LH:1
end_of_record
SF:net/core/dev.c
FN:2254,is_skb_forwardable
FNDA:3,is_skb_forwardable
FNF:1
FNH:1
DA:2254,5
LF:1
LH:1
end_of_record
";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    /// Debian's genhtml (package lcov, installed by scripts/setup.sh) renders it by directory.
    #[test]
    fn genhtml_renders_the_directories() {
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join("run.info");
        fs::write(&info, sample()).unwrap();
        let html = dir.path().join("html");
        let output = Command::new("genhtml")
            .arg("--no-source")
            .arg("--output-directory")
            .arg(&html)
            .arg(&info)
            .output()
            .expect("genhtml (Debian package lcov) must be installed: run scripts/setup.sh");
        assert!(output.status.success(), "genhtml: {}", String::from_utf8_lossy(&output.stderr));
        let index = fs::read_to_string(html.join("index.html")).unwrap();
        for dir in ["net/core", "fs", "drivers/net"] {
            assert!(index.contains(&format!(">{dir}</a>")), "{dir} missing from index.html");
        }
        // fs: one of two functions hit.
        assert!(index.contains("50.0&nbsp;%"), "no 50% coverage in index.html");
    }
}
