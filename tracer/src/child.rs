//! Starting `ktrace run`'s command inside its cgroup and turning its exit into ktrace's exit
//! status.
use std::{
    ffi::{CString, OsString},
    fs::File,
    io,
    os::{
        fd::AsRawFd as _,
        unix::{ffi::OsStrExt as _, process::ExitStatusExt as _},
    },
    path::Path,
    process::{ExitStatus, Stdio},
    ptr,
};

use anyhow::Context as _;
use tokio::process::{Child, Command};

use crate::cgroup::OwnedCgroup;

/// Spawns `argv` so that it joins `cgroup` between fork and exec: not one of its syscalls,
/// nor any of its children's, happens outside. With `output`, the command's stdout and stderr
/// go there and its stdin is empty: the live view owns the terminal.
///
/// With `view` (the cgroup v2 mount), the command gets a mount namespace of its own in which
/// `cgroup` is mounted over `view`: it sees its cgroup as the root of the v2 tree, so a
/// container runtime it starts creates the container's cgroup inside `cgroup`. The bind
/// mount does not propagate back to the host.
pub fn spawn_in(
    cgroup: &OwnedCgroup,
    view: Option<&Path>,
    argv: &[OsString],
    output: Option<&File>,
) -> anyhow::Result<Child> {
    let (program, args) = argv.split_first().context("no command given")?;
    let procs = cgroup.procs_file()?;
    let procs_fd = procs.as_raw_fd();
    // Made before the fork: the child may not allocate.
    let c_path = |path: &Path| {
        CString::new(path.as_os_str().as_bytes())
            .with_context(|| format!("{} contains a NUL byte", path.display()))
    };
    let view =
        view.map(|mount| anyhow::Ok((c_path(cgroup.path())?, c_path(mount)?))).transpose()?;
    let mut command = Command::new(program);
    command.args(args);
    if let Some(file) = output {
        let (out, err) = (file.try_clone()?, file.try_clone()?);
        command.stdin(Stdio::null()).stdout(out).stderr(err);
    }
    // SAFETY: the hook runs in the forked child and only calls unshare(2), mount(2) and
    // write(2), which are async-signal-safe, on strings made before the fork; `procs` outlives
    // `spawn` and is O_CLOEXEC, so exec closes it.
    unsafe {
        command.pre_exec(move || {
            // Before joining: the namespace's setup is not the command's work.
            if let Some((cgroup, mount)) = &view {
                let ok = libc::unshare(libc::CLONE_NEWNS) == 0
                    && libc::mount(
                        ptr::null(),
                        c"/".as_ptr(),
                        ptr::null(),
                        libc::MS_SLAVE | libc::MS_REC,
                        ptr::null(),
                    ) == 0
                    && libc::mount(
                        cgroup.as_ptr(),
                        mount.as_ptr(),
                        ptr::null(),
                        libc::MS_BIND,
                        ptr::null(),
                    ) == 0;
                if !ok {
                    return Err(io::Error::last_os_error());
                }
            }
            if libc::write(procs_fd, b"0".as_ptr().cast(), 1) == 1 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
    command.spawn().with_context(|| format!("cannot start `{}`", program.to_string_lossy()))
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
