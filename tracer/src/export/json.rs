//! `--output json`: one compact JSON document per report and line (JSON Lines), so that an
//! interval stream can be read line by line. Schema: docs/json-schema.md.
use std::io::{self, Write};

use crate::report::Report;

pub fn write(out: &mut impl Write, report: &Report) -> io::Result<()> {
    serde_json::to_writer(&mut *out, report)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn one_line_per_report_with_metadata_and_counts() {
        let mut out = Vec::new();
        write(&mut out, &sample()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["scope"], "total");
        assert_eq!(v["kernel_release"], "6.18.0-test");
        assert_eq!(v["duration_secs"], 2.0);
        assert_eq!(v["cgroups"][1]["label"], "gvisor");
        assert_eq!(v["cgroups"][1]["path"], "/sys/fs/cgroup/gvisor");
        assert_eq!(v["cgroups"][1]["id"], 2);
        assert_eq!(v["syscalls"][0]["name"], "getppid");
        assert_eq!(v["syscalls"][0]["nr"], 110);
        assert_eq!(v["syscalls"][0]["counts"][0]["calls"], 100_000);
        assert_eq!(v["syscalls"][2]["counts"][1]["errors"], 3);
        assert_eq!(v["totals"][0]["calls"], 100_005);
        assert!(v.get("command").is_none());
    }
}
