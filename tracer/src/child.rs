//! Starting `ktrace run`'s command inside its cgroup and turning its exit into ktrace's exit
//! status.
use std::{
    ffi::OsString,
    fs::File,
    io,
    os::{fd::AsRawFd as _, unix::process::ExitStatusExt as _},
    process::ExitStatus,
    process::Stdio,
};

use anyhow::Context as _;
use tokio::process::{Child, Command};

use crate::cgroup::OwnedCgroup;

/// `argv` as a command. With `output`, its stdout and stderr go there and its stdin is empty:
/// the live view owns the terminal.
pub fn command(argv: &[OsString], output: Option<&File>) -> anyhow::Result<Command> {
    let (program, args) = argv.split_first().context("no command given")?;
    let mut command = Command::new(program);
    command.args(args);
    if let Some(file) = output {
        let (out, err) = (file.try_clone()?, file.try_clone()?);
        command.stdin(Stdio::null()).stdout(out).stderr(err);
    }
    Ok(command)
}

/// Spawns `command` so that it joins `cgroup` between fork and exec: not one of its syscalls,
/// nor any of its children's, happens outside.
pub fn spawn_in(cgroup: &OwnedCgroup, mut command: Command) -> anyhow::Result<Child> {
    let procs = cgroup.procs_file()?;
    let procs_fd = procs.as_raw_fd();
    // SAFETY: the hook runs in the forked child and only calls write(2), which is
    // async-signal-safe; `procs` outlives `spawn` and is O_CLOEXEC, so exec closes it.
    unsafe {
        command.pre_exec(move || {
            if libc::write(procs_fd, b"0".as_ptr().cast(), 1) == 1 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
    let program = command.as_std().get_program().to_string_lossy().into_owned();
    command.spawn().with_context(|| format!("cannot start `{program}`"))
}

/// The shell convention: the exit code, or 128 + the signal that killed the command.
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => 128u8.saturating_add(sig as u8),
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGKILL)), 137);
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
    }
}
