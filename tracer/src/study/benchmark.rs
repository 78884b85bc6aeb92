//! The study's microbenchmarks, the seed study's four kinds: CPU, memory and file I/O with
//! sysbench, network with iperf3 against a server at the far end of a private network
//! ([`super::network`]). Each is a POSIX shell script that runs unchanged on every platform
//! (the host's `sh`, busybox `sh` in a container or in the microVM) and prints the tool's own
//! report, from which [`Benchmark::score`] reads the benchmark's figure. One thread each, so
//! that platforms with one vCPU compare fairly.
use std::{fmt, net::Ipv4Addr, str::FromStr};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// sysbench fileio's working set: four files of 16 MiB, small enough for a microVM's disk and
/// for gVisor's gofer to prepare quickly.
const FILEIO_OPTIONS: &str = "--file-total-size=64M --file-num=4";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Benchmark {
    Cpu,
    Memory,
    Fileio,
    Network,
}

impl Benchmark {
    pub const ALL: [Benchmark; 4] =
        [Benchmark::Cpu, Benchmark::Memory, Benchmark::Fileio, Benchmark::Network];

    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Fileio => "fileio",
            Self::Network => "network",
        }
    }

    /// The unit of [`Benchmark::score`].
    pub fn unit(self) -> &'static str {
        match self {
            Self::Cpu => "events/s",
            Self::Memory => "MiB/s",
            Self::Fileio => "ops/s",
            Self::Network => "Gbit/s",
        }
    }

    /// What the benchmark runs and what its score counts, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Cpu => "sysbench cpu (primes up to 10,000): events per second",
            Self::Memory => "sysbench memory (1 KiB writes): MiB per second",
            Self::Fileio => {
                "sysbench fileio rndrw on 4 files of 16 MiB: reads and writes per second"
            }
            Self::Network => "iperf3 TCP to a server over a private link: Gbit/s received",
        }
    }

    /// The script that runs the benchmark for `seconds`: file I/O in the directory `workdir`,
    /// the network benchmark against the iperf3 server at `server`.
    pub fn script(self, seconds: u32, workdir: &str, server: Ipv4Addr) -> String {
        match self {
            Self::Cpu => format!("exec sysbench cpu --threads=1 --time={seconds} run"),
            Self::Memory => format!("exec sysbench memory --threads=1 --time={seconds} run"),
            Self::Fileio => format!(
                "set -e\n\
                 cd '{workdir}'\n\
                 sysbench fileio {FILEIO_OPTIONS} prepare >/dev/null\n\
                 sysbench fileio {FILEIO_OPTIONS} --file-test-mode=rndrw --threads=1 \
                 --time={seconds} run\n\
                 sysbench fileio {FILEIO_OPTIONS} cleanup >/dev/null\n"
            ),
            Self::Network => format!("exec iperf3 --client {server} --time {seconds} --json"),
        }
    }

    /// The benchmark's figure from what its script printed.
    pub fn score(self, output: &str) -> anyhow::Result<f64> {
        let score = match self {
            Self::Cpu => labelled(output, "events per second:")?,
            Self::Memory => {
                // "553.29 MiB transferred (539.77 MiB/sec)"
                let line = output
                    .lines()
                    .find(|l| l.contains("MiB transferred"))
                    .context("no `MiB transferred` line")?;
                let rate = line.split_once('(').map_or("", |(_, rest)| rest);
                number(rate.split_whitespace().next().unwrap_or(""))?
            }
            Self::Fileio => labelled(output, "reads/s:")? + labelled(output, "writes/s:")?,
            Self::Network => iperf3_gbits(output)?,
        };
        Ok(score)
    }
}

impl fmt::Display for Benchmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Benchmark {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|b| b.name() == s).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|b| b.name()).collect();
            format!("unknown benchmark `{s}`; the benchmarks are {}", names.join(", "))
        })
    }
}

/// The number after `label` on the first line that has it ("    reads/s:   5554.42").
fn labelled(output: &str, label: &str) -> anyhow::Result<f64> {
    let value = output
        .lines()
        .find_map(|l| l.split_once(label).map(|(_, value)| value))
        .with_context(|| format!("no `{label}` line"))?;
    number(value.trim())
}

fn number(text: &str) -> anyhow::Result<f64> {
    let value: f64 = text.parse().with_context(|| format!("`{text}` is not a number"))?;
    if !value.is_finite() || value < 0.0 {
        bail!("`{text}` is not a benchmark figure");
    }
    Ok(value)
}

/// Received throughput from iperf3's `--json` report, in Gbit/s.
fn iperf3_gbits(output: &str) -> anyhow::Result<f64> {
    // A serial console may print something before the document.
    let start = output.find('{').context("no JSON document")?;
    let mut documents = serde_json::Deserializer::from_str(&output[start..]).into_iter();
    let report: serde_json::Value =
        documents.next().context("no JSON document")?.context("reading iperf3's JSON report")?;
    if let Some(error) = report.get("error").and_then(|e| e.as_str()) {
        bail!("iperf3: {error}");
    }
    let bits = report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .context("no end.sum_received.bits_per_second in iperf3's report")?;
    Ok(bits / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed outputs of sysbench 1.0.20 and iperf3 3.12 on this machine kind.
    const CPU: &str = "CPU speed:\n    events per second:   345.75\n\nGeneral statistics:\n";
    const MEMORY: &str = "Total operations: 566564 (552729.23 per second)\n\n\
                          553.29 MiB transferred (539.77 MiB/sec)\n";
    const FILEIO: &str = "File operations:\n    reads/s:                      5554.42\n    \
                          writes/s:                     3702.95\n    fsyncs/s:          373.04\n";
    const NETWORK: &str = r#"{"start": {"version": "iperf 3.12"},
        "end": {"sum_received": {"bits_per_second": 1794015798.5}}}"#;

    #[test]
    fn scores_come_from_each_tools_report() {
        assert_eq!(Benchmark::Cpu.score(CPU).unwrap(), 345.75);
        assert_eq!(Benchmark::Memory.score(MEMORY).unwrap(), 539.77);
        assert_eq!(Benchmark::Fileio.score(FILEIO).unwrap(), 5554.42 + 3702.95);
        assert_eq!(Benchmark::Network.score(NETWORK).unwrap(), 1.7940157985);
        // A serial console's carriage returns and a line before the document.
        let console = format!("ktrace-study: eth0 up\r\n{}", NETWORK.replace('\n', "\r\n"));
        assert_eq!(Benchmark::Network.score(&console).unwrap(), 1.7940157985);
    }

    #[test]
    fn missing_or_failed_reports_are_errors() {
        let err = |b: Benchmark, out: &str| format!("{:#}", b.score(out).unwrap_err());
        assert_eq!(err(Benchmark::Cpu, ""), "no `events per second:` line");
        assert_eq!(err(Benchmark::Fileio, "reads/s: 1\n"), "no `writes/s:` line");
        assert_eq!(
            err(Benchmark::Cpu, "events per second: NaN"),
            "`NaN` is not a benchmark figure"
        );
        assert_eq!(
            err(Benchmark::Network, r#"{"start": {}, "error": "unable to connect to server"}"#),
            "iperf3: unable to connect to server"
        );
        assert_eq!(err(Benchmark::Network, "sh: iperf3: not found"), "no JSON document");
    }

    #[test]
    fn names_parse_back_and_unknown_ones_list_the_choices() {
        for b in Benchmark::ALL {
            assert_eq!(b.name().parse::<Benchmark>(), Ok(b));
        }
        assert_eq!(
            "disk".parse::<Benchmark>().unwrap_err(),
            "unknown benchmark `disk`; the benchmarks are cpu, memory, fileio, network"
        );
    }

    #[test]
    fn scripts_use_the_workdir_and_server() {
        let server = Ipv4Addr::new(198, 18, 2, 1);
        let fileio = Benchmark::Fileio.script(3, "/bench", server);
        assert!(fileio.contains("cd '/bench'") && fileio.contains("--time=3 run"), "{fileio}");
        assert_eq!(
            Benchmark::Network.script(2, "/", server),
            "exec iperf3 --client 198.18.2.1 --time 2 --json"
        );
    }
}
