//! The controlled workload: exactly the syscalls it is told to make, by raw syscall(2), so
//! that libc caching or wrappers cannot change the numbers.
use std::process::ExitCode;

pub fn run(specs: &[String]) -> ExitCode {
    for spec in specs {
        let Some((name, n)) = spec.split_once('=') else {
            eprintln!("workload: expected NAME=COUNT, got {spec}");
            return ExitCode::from(2);
        };
        let Ok(n) = n.parse::<u64>() else {
            eprintln!("workload: bad count in {spec}");
            return ExitCode::from(2);
        };
        match name {
            // SAFETY: getppid takes no arguments and cannot fail.
            "getppid" => (0..n).for_each(|_| unsafe {
                libc::syscall(libc::SYS_getppid);
            }),
            // fchdir(-1) fails with EBADF every time.
            "fchdir" => {
                for _ in 0..n {
                    // SAFETY: an invalid fd is rejected by the kernel; no memory is passed.
                    let ret = unsafe { libc::syscall(libc::SYS_fchdir, -1) };
                    assert_eq!(ret, -1, "fchdir(-1) must fail");
                }
            }
            _ => {
                eprintln!("workload: unknown syscall {name}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}
