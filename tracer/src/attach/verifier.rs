//! A program the kernel refused to load. The user gets one line that names the program and
//! a file holding the verifier's whole log (often hundreds of lines), kept after ktrace exits
//! so that it can be read or attached to a bug report.
use std::{fmt, io, io::Write as _, path::PathBuf};

use anyhow::anyhow;
use aya::programs::ProgramError;

/// `BPF_PROG_LOAD` refused `program` with `error`; `log` is the verifier's.
#[derive(Debug)]
pub struct Rejection {
    pub program: String,
    pub error: io::Error,
    pub log: String,
}

/// Lines the verifier ends its log with whatever happened.
const STATISTICS: [&str; 3] = ["processed ", "verification time ", "stack depth "];

/// In one line: the program, the error and the verifier's last word, which says why.
impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the kernel refused to load {} ({})", self.program, self.error)?;
        let why = self.log.lines().map(str::trim).rev().find(|line| {
            !line.is_empty() && !STATISTICS.iter().any(|prefix| line.starts_with(prefix))
        });
        match why {
            Some(why) => write!(f, ": {why}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Rejection {}

impl Rejection {
    /// The error for the user: one line naming the program and a file with the whole log.
    pub fn reported(self) -> anyhow::Error {
        if self.log.trim().is_empty() {
            return anyhow!("{self}");
        }
        match keep_log(&self.program, &self.log) {
            Ok(path) => anyhow!("{self}; the verifier's whole log is in {}", path.display()),
            Err(e) => anyhow!("{self}; the verifier's log could not be saved: {e}"),
        }
    }
}

/// aya's error from loading `program`, [`Rejection::reported`] when the kernel refused it.
pub fn load_error(program: &str, error: ProgramError) -> anyhow::Error {
    match error {
        ProgramError::LoadError { io_error, verifier_log } => Rejection {
            program: program.to_owned(),
            error: io_error,
            log: verifier_log.to_string(),
        }
        .reported(),
        other => anyhow::Error::from(other).context(format!("loading {program}")),
    }
}

/// Writes `log` to a new file `ktrace-verifier-<program>-*.log` in the temporary directory.
fn keep_log(program: &str, log: &str) -> io::Result<PathBuf> {
    let mut file = tempfile::Builder::new()
        .prefix(&format!("ktrace-verifier-{program}-"))
        .suffix(".log")
        .tempfile()?;
    file.write_all(log.as_bytes())?;
    let (_, path) = file.keep().map_err(|e| e.error)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_naming_the_program_and_a_file_with_the_whole_log() {
        let log = "0: (b7) r0 = 0\n1: (95) exit\nBPF program is too large\n\
                   processed 1000001 insns (limit 1000000)\nverification time 9 usec\n";
        let rejection = Rejection {
            program: "kt_test".to_owned(),
            error: io::Error::from_raw_os_error(libc::E2BIG),
            log: log.to_owned(),
        };
        let message = rejection.reported().to_string();
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(
            message.starts_with(
                "the kernel refused to load kt_test (Argument list too long (os error 7)): \
                 BPF program is too large; the verifier's whole log is in "
            ),
            "{message}"
        );
        let path = message.rsplit(' ').next().unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), log);
        std::fs::remove_file(path).unwrap();
    }
}
