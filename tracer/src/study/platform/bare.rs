//! A bare process: the benchmark's shell runs on the host in the run's cgroup, as `ktrace
//! run` runs a command. The baseline the isolation platforms are compared with; in the
//! network benchmark it joins the client namespace of a veth pair.
use std::{ffi::OsStr, fs};

use anyhow::Context as _;

use super::{Job, command_line, output};

#[derive(Debug)]
pub struct Bare;

impl Bare {
    pub fn describe(&self) -> String {
        "a process on the host (the host's sh), in a cgroup of its own".to_owned()
    }

    pub async fn run(&self, job: &Job<'_>) -> anyhow::Result<String> {
        let workdir = job.scratch.join("bench");
        fs::create_dir_all(&workdir).with_context(|| format!("creating {}", workdir.display()))?;
        let workdir = workdir.to_str().context("a non-UTF-8 scratch directory")?;
        let script = job.script(workdir);
        let shell: [&OsStr; 3] = ["sh".as_ref(), "-c".as_ref(), script.as_ref()];
        output(
            job.cgroup,
            &command_line(job.network, &shell),
            &format!("the {} benchmark", job.benchmark),
        )
        .await
    }
}
