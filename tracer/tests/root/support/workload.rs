//! The controlled workload: exactly the syscalls it is told to make, by raw syscall(2), so
//! that libc caching or wrappers cannot change the numbers; plus a kernel-heavy loop and an
//! idle sleep for the sampling tests, `join=CGROUP_DIR` to move itself mid-run, and
//! `wait=FIFO` to block until the test writes to FIFO.
use std::{
    fs::OpenOptions,
    io::Write as _,
    process::ExitCode,
    time::{Duration, Instant},
};

pub fn run(specs: &[String]) -> ExitCode {
    for spec in specs {
        let Some((name, n)) = spec.split_once('=') else {
            eprintln!("workload: expected NAME=COUNT, got {spec}");
            return ExitCode::from(2);
        };
        if name == "join" {
            // Moves this very process, running on: no task switch marks the move.
            let procs = std::path::Path::new(n).join("cgroup.procs");
            if let Err(e) = std::fs::write(&procs, "0") {
                eprintln!("workload: joining {}: {e}", procs.display());
                return ExitCode::from(2);
            }
            continue;
        }
        if name == "wait" {
            // Blocks in open(2) until the test opens the FIFO for writing.
            if let Err(e) = std::fs::read(n) {
                eprintln!("workload: waiting on {n}: {e}");
                return ExitCode::from(2);
            }
            continue;
        }
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
            // Kernel-heavy for n milliseconds: small writes to /dev/null.
            "write-null-ms" => write_null_for(Duration::from_millis(n)),
            "sleep-ms" => std::thread::sleep(Duration::from_millis(n)),
            _ => {
                eprintln!("workload: unknown syscall {name}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}

fn write_null_for(duration: Duration) {
    let mut null = OpenOptions::new().write(true).open("/dev/null").expect("open /dev/null");
    let start = Instant::now();
    while start.elapsed() < duration {
        for _ in 0..1000 {
            null.write_all(&[0; 64]).expect("write /dev/null");
        }
    }
}
