//! The built-in workload of `ktrace run` without a command: the study's four benchmarks (cpu,
//! memory, fileio with sysbench; network with iperf3 over a private veth pair) on the bare
//! platform, one after the other, each in a cgroup of its own under the run's, so that the
//! report has one column per benchmark, as in the seed study. `KTRACE_WORKLOAD_SECONDS` sets
//! each phase's length (default 3).
use std::fs;

use anyhow::{Context as _, anyhow, bail};

use crate::{
    cgroup::{Cgroup, Hierarchy, OwnedCgroup},
    study::{
        self, Benchmark, Kind,
        network::Network,
        platform::{Job, Platform},
    },
};

/// How reports name the built-in workload.
pub const LABEL: &str = "(built-in default workload)";
/// Each phase's length without `KTRACE_WORKLOAD_SECONDS`.
const DEFAULT_SECONDS: u32 = 3;
/// The variable that sets it.
const SECONDS_VARIABLE: &str = "KTRACE_WORKLOAD_SECONDS";

/// The phases and the cgroups they run in, removed on drop with everything in them.
pub struct Phases {
    /// The run cgroup's name: phases and their networks are named after it.
    run: String,
    phases: Vec<(Benchmark, OwnedCgroup, Cgroup)>,
    /// The iperf3 server's cgroup, beside the phases: not traced.
    servers: OwnedCgroup,
    seconds: u32,
    scratch: tempfile::TempDir,
}

impl Phases {
    /// A cgroup per benchmark below the run's cgroup `run` (a name directly below the v2
    /// root), labelled with the benchmark's name; each phase `seconds` long.
    pub fn create(hierarchy: &Hierarchy, run: &str, seconds: u32) -> anyhow::Result<Self> {
        let phases = Benchmark::ALL
            .into_iter()
            .map(|benchmark| {
                let (owned, mut cgroup) = hierarchy.create(&format!("{run}/{benchmark}"))?;
                cgroup.label = benchmark.to_string();
                Ok((benchmark, owned, cgroup))
            })
            .collect::<anyhow::Result<_>>()?;
        let (servers, _) = hierarchy.create(&format!("{run}/iperf3-server"))?;
        let scratch = study::scratch(run)?;
        Ok(Self { run: run.to_owned(), phases, servers, seconds, scratch })
    }

    /// The phases' cgroups, in the order they run: the report's columns.
    pub fn cgroups(&self) -> Vec<Cgroup> {
        self.phases.iter().map(|(_, _, cgroup)| cgroup.clone()).collect()
    }

    pub fn seconds(&self) -> u32 {
        self.seconds
    }

    /// Runs the phases one after the other, saying each one's score on stderr.
    pub async fn run(&self) -> anyhow::Result<()> {
        let bare = Platform::prepare(Kind::Bare).await?;
        for (benchmark, owned, _) in &self.phases {
            let name = format!("{}-{benchmark}", self.run);
            let scratch = self.scratch.path().join(benchmark.name());
            fs::create_dir(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
            let network = match benchmark {
                Benchmark::Network => {
                    Some(Network::start(&name, bare.link(), &self.servers).await?)
                }
                _ => None,
            };
            eprintln!(
                "ktrace: workload: {benchmark}: {}, {} s",
                benchmark.describe(),
                self.seconds
            );
            let job = Job {
                name: &name,
                cgroup: owned,
                benchmark: *benchmark,
                seconds: self.seconds,
                scratch: &scratch,
                network: network.as_ref(),
            };
            let limit = study::time_limit(self.seconds);
            let output = tokio::time::timeout(limit, bare.run(&job)).await.map_err(|_| {
                anyhow!("the {benchmark} phase did not end within {} s", limit.as_secs())
            })??;
            let score = benchmark.score(&output)?;
            eprintln!(
                "ktrace: workload: {benchmark}: {} {}",
                study::figure(score),
                benchmark.unit()
            );
        }
        Ok(())
    }
}

/// Each phase's length, from `KTRACE_WORKLOAD_SECONDS`: checked before anything is created,
/// so that a bad value is one line and exit status 2, not a run that never ends.
pub fn phase_seconds() -> anyhow::Result<u32> {
    seconds(std::env::var(SECONDS_VARIABLE).ok().as_deref())
}

/// A phase's length from the variable's value, if set.
fn seconds(value: Option<&str>) -> anyhow::Result<u32> {
    let Some(value) = value else { return Ok(DEFAULT_SECONDS) };
    match value.trim().parse::<u32>() {
        Ok(n @ 1..=3600) => Ok(n),
        _ => bail!("{SECONDS_VARIABLE}={value}: must be a whole number of seconds from 1 to 3600"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_length_is_checked() {
        assert_eq!(seconds(None).unwrap(), 3);
        assert_eq!(seconds(Some("10")).unwrap(), 10);
        for bad in ["0", "-1", "1.5", "x", "4000"] {
            let err = seconds(Some(bad)).unwrap_err().to_string();
            assert!(err.starts_with(&format!("KTRACE_WORKLOAD_SECONDS={bad}: ")), "{err}");
        }
    }
}
