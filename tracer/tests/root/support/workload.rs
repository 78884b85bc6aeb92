//! The controlled workload: exactly the syscalls it is told to make, by raw syscall(2), so
//! that libc caching or wrappers cannot change the numbers; plus a kernel-heavy loop and an
//! idle sleep for the sampling tests, `join=CGROUP_DIR` to move itself mid-run,
//! `wait=FIFO` to block until the test writes to FIFO, `seccomp=getcwd` to have every later
//! getcwd refused before it enters the kernel, `i386-getpid=N` for 32-bit calls (`int 0x80`)
//! from this 64-bit program, `futex-timeout=N` for failing calls that block, and
//! `nanosleep-MSms=N` for N nanosleep(2) calls of MS milliseconds each, which after
//! `timings=FILE` also writes how long each took, as this process measured it, to FILE.
use std::{
    fs::{File, OpenOptions},
    io::{BufWriter, Write as _},
    process::ExitCode,
    time::{Duration, Instant},
};

pub fn run(specs: &[String]) -> ExitCode {
    let mut timings = None;
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
        if name == "seccomp" {
            if n != "getcwd" {
                eprintln!("workload: seccomp=getcwd is the only filter, got {spec}");
                return ExitCode::from(2);
            }
            if let Err(e) = refuse_getcwd() {
                eprintln!("workload: installing the seccomp filter: {e}");
                return ExitCode::from(2);
            }
            continue;
        }
        if name == "timings" {
            match File::create(n) {
                Ok(file) => timings = Some(BufWriter::new(file)),
                Err(e) => {
                    eprintln!("workload: creating {n}: {e}");
                    return ExitCode::from(2);
                }
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
        if let Some(ms) = name.strip_prefix("nanosleep-").and_then(|ms| ms.strip_suffix("ms")) {
            let Ok(ms) = ms.parse::<i64>() else {
                eprintln!("workload: bad duration in {spec}");
                return ExitCode::from(2);
            };
            for _ in 0..n {
                let took = nanosleep_ms(ms);
                if let Some(file) = &mut timings {
                    writeln!(file, "{}", took.as_nanos()).expect("writing a sleep's time");
                }
            }
            continue;
        }
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
            // Fails with EPERM after seccomp=getcwd, succeeds before.
            "getcwd" => {
                let mut buf = [0u8; 256];
                for _ in 0..n {
                    // SAFETY: the kernel writes at most buf.len() bytes into buf.
                    unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
                }
            }
            "i386-getpid" => (0..n).for_each(|_| i386_getpid()),
            // Each waits 1 ms on a futex nobody wakes and fails with ETIMEDOUT: a failing call
            // that blocks, so that the task is switched out inside it.
            "futex-timeout" => {
                let word = 0u32;
                let timeout = libc::timespec { tv_sec: 0, tv_nsec: 1_000_000 };
                for _ in 0..n {
                    // SAFETY: FUTEX_WAIT reads `word` and `timeout`, both alive for the call.
                    let ret = unsafe {
                        libc::syscall(
                            libc::SYS_futex,
                            &raw const word,
                            libc::FUTEX_WAIT,
                            0,
                            &raw const timeout,
                        )
                    };
                    assert_eq!(ret, -1, "a futex wait nobody wakes must time out");
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
    if let Some(mut file) = timings {
        file.flush().expect("writing the sleeps' times");
    }
    ExitCode::SUCCESS
}

/// One nanosleep(2) of `ms` milliseconds, by its own syscall (glibc's nanosleep() calls
/// clock_nanosleep), and how long it took on CLOCK_MONOTONIC, the eBPF side's clock: a span
/// that holds the kernel's entry-to-return time.
fn nanosleep_ms(ms: i64) -> Duration {
    let request = libc::timespec { tv_sec: ms / 1000, tv_nsec: ms % 1000 * 1_000_000 };
    // Instant reads CLOCK_MONOTONIC, through the vDSO where the clock source allows.
    let start = Instant::now();
    // SAFETY: the kernel reads `request`, alive for the call; no remainder is asked for.
    let ret = unsafe { libc::syscall(libc::SYS_nanosleep, &raw const request, 0usize) };
    let took = start.elapsed();
    assert_eq!(ret, 0, "an uninterrupted nanosleep succeeds");
    took
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

/// Installs a seccomp filter that makes getcwd fail with EPERM before it enters the kernel
/// (the kernel's sys_enter tracepoint never sees it) and allows everything else.
fn refuse_getcwd() -> std::io::Result<()> {
    let statement = |code: u32, k: u32| libc::sock_filter { code: code as u16, jt: 0, jf: 0, k };
    let jump =
        |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter { code: code as u16, jt, jf, k };
    let mut filter = [
        // The syscall number (struct seccomp_data starts with it).
        statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        jump(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, libc::SYS_getcwd as u32, 0, 1),
        statement(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        statement(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let program = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_mut_ptr() };
    // SAFETY: prctl with these options reads `program`, which outlives the calls; no new
    // privileges is required to install a filter without CAP_SYS_ADMIN and harmless here.
    let ok = unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &raw const program) == 0
    };
    if ok { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// One 32-bit getpid: `int 0x80` with eax = 20, getpid's number in the i386 table. A 64-bit
/// program may do this: the kernel runs it as a compat syscall.
fn i386_getpid() {
    let mut eax: u64 = 20;
    // SAFETY: getpid takes no arguments, reads and writes no memory, and returns in eax;
    // older kernels zero r8-r11 on this path, which the C ABI clobbers allow for.
    unsafe { std::arch::asm!("int 0x80", inout("rax") eax, clobber_abi("C"), options(nostack)) };
    debug_assert!(eax > 0, "getpid returned {eax}");
}
