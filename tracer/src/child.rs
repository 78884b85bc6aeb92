//! Starting `ktrace run`'s command inside its cgroup and turning its exit into ktrace's exit
//! status.
use std::{
    env,
    ffi::{CString, OsStr, OsString},
    fs::File,
    io,
    os::{
        fd::{AsFd as _, AsRawFd as _},
        unix::{ffi::OsStrExt as _, fs::PermissionsExt as _, process::ExitStatusExt as _},
    },
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    ptr,
};

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};

use crate::cgroup::OwnedCgroup;

/// The default search path of execvp(3) in glibc when PATH is unset.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Spawns `argv` so that it joins `cgroup` between fork and exec (see [`spawn_command_in`]).
/// With `output`, the command's stdout and stderr go there and its stdin is empty: the live
/// view owns the terminal. Without, its stdout goes to ktrace's stderr, its stdin and stderr
/// are ktrace's.
pub fn spawn_in(
    cgroup: &OwnedCgroup,
    view: Option<&Path>,
    argv: &[OsString],
    output: Option<&File>,
) -> anyhow::Result<Child> {
    let mut command = command(argv)?;
    match output {
        Some(file) => {
            let (out, err) = (file.try_clone()?, file.try_clone()?);
            command.stdin(Stdio::null()).stdout(out).stderr(err);
        }
        // ktrace's stdout carries the reports only (`-o json | jq` must parse): the command
        // writes to ktrace's stderr, as its status lines do.
        None => {
            let stderr = io::stderr().as_fd().try_clone_to_owned().context("duplicating stderr")?;
            command.stdout(stderr);
        }
    }
    spawn_command_in(cgroup, view, command)
        .with_context(|| format!("cannot start `{}`", argv[0].to_string_lossy()))
}

/// `argv` as a command, its program looked up in PATH here, before any fork: a search in the
/// child would be counted as one execve per PATH entry tried, all but the last failing.
pub fn command(argv: &[OsString]) -> anyhow::Result<Command> {
    let (program, args) = argv.split_first().context("no command given")?;
    let path = env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    let mut command = Command::new(resolve(program, &path)?);
    // The command sees the name it was given as argv[0], as a shell would pass it.
    command.arg0(program);
    command.args(args);
    Ok(command)
}

/// Spawns `command` so that it joins `cgroup` between fork and exec: not one of its syscalls,
/// nor any of its children's, happens outside.
///
/// With `view` (the cgroup v2 mount), the command gets a mount namespace of its own in which
/// `cgroup` is mounted over `view`: it sees its cgroup as the root of the v2 tree, so a
/// container runtime it starts creates the container's cgroup inside `cgroup`. The bind
/// mount does not propagate back to the host.
pub fn spawn_command_in(
    cgroup: &OwnedCgroup,
    view: Option<&Path>,
    mut command: Command,
) -> anyhow::Result<Child> {
    let procs = cgroup.procs_file()?;
    let procs_fd = procs.as_raw_fd();
    // Made before the fork: the child may not allocate.
    let c_path = |path: &Path| {
        CString::new(path.as_os_str().as_bytes())
            .with_context(|| format!("{} contains a NUL byte", path.display()))
    };
    let view =
        view.map(|mount| anyhow::Ok((c_path(cgroup.path())?, c_path(mount)?))).transpose()?;
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
    Ok(command.spawn()?)
}

/// Where execvp(3) would find `program` in `search_path`: a name with a `/` as it is, else the
/// first executable regular file of that name in the PATH's directories (an empty entry is
/// the working directory).
fn resolve(program: &OsStr, search_path: &OsStr) -> anyhow::Result<PathBuf> {
    let name = program.to_string_lossy();
    if program.is_empty() {
        bail!("cannot start ``: empty command name");
    }
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let mut not_executable = None;
    for dir in env::split_paths(search_path) {
        let candidate =
            if dir.as_os_str().is_empty() { Path::new(".") } else { &dir }.join(program);
        match candidate.metadata() {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                return Ok(candidate);
            }
            Ok(meta) if meta.is_file() => {
                not_executable.get_or_insert(candidate);
            }
            _ => {}
        }
    }
    match not_executable {
        Some(file) => bail!("cannot start `{name}`: {} is not executable", file.display()),
        None => bail!("cannot start `{name}`: not found in PATH"),
    }
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
    fn commands_are_found_like_execvp_finds_them() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        let tool = dir.path().join("tool");
        std::fs::write(&tool, "").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let search = env::join_paths(["/nonexistent", dir.path().to_str().unwrap()]).unwrap();
        assert_eq!(resolve(OsStr::new("tool"), &search).unwrap(), tool);
        assert_eq!(resolve(OsStr::new("./x/y"), &search).unwrap(), PathBuf::from("./x/y"));
        let err = resolve(OsStr::new("plain"), &search).unwrap_err().to_string();
        assert!(err.contains("is not executable"), "{err}");
        let err = resolve(OsStr::new("missing"), &search).unwrap_err().to_string();
        assert_eq!(err, "cannot start `missing`: not found in PATH");
        assert!(resolve(OsStr::new(""), &search).is_err());
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGKILL)), 137);
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
    }
}
