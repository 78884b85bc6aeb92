//! The eBPF side's rare diagnostics, with aya-log: a function hit at an address that is not
//! in ktrace's function table, a failed map lookup, a task whose cgroup could not be read or
//! that moved between cgroups inside a syscall. With `-v` they are printed on stderr whenever
//! ktrace takes a snapshot (every `-i` interval, and at the end).
//!
//! Without `-v` the loader sets aya-log's level global to "off". The global is read-only, so
//! the verifier knows the level and drops the logging code: the programs then carry none of
//! it, and a hit costs what it cost before there was any.
use anyhow::Context as _;
use aya::{Ebpf, EbpfLoader};
use aya_log::{EbpfLogger, Level};

/// Whether the eBPF side's diagnostics reach stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Diagnostics {
    Off,
    Stderr,
}

/// aya-log's ring buffer, the smallest the kernel takes (a page) when nothing reads it.
const UNREAD_RING_BYTES: u32 = 4096;

/// aya-log's level global: nothing logged, or everything up to debug.
static LEVEL_OFF: u8 = 0;
static LEVEL_DEBUG: u8 = Level::Debug as u8;

/// Sets what the eBPF side logs.
pub fn configure(loader: &mut EbpfLoader<'_>, diagnostics: Diagnostics) {
    match diagnostics {
        Diagnostics::Off => {
            loader
                .override_global(aya_log::LEVEL, &LEVEL_OFF, true)
                .map_max_entries("AYA_LOGS", UNREAD_RING_BYTES);
        }
        Diagnostics::Stderr => {
            loader.override_global(aya_log::LEVEL, &LEVEL_DEBUG, true);
        }
    }
}

/// Reads the diagnostics and prints them.
pub struct Printer(EbpfLogger<Stderr>);

impl Printer {
    /// Takes aya-log's ring buffer out of `ebpf`: only once every program is loaded (the raw
    /// loads of attach/raw.rs relocate against the maps `ebpf` still holds).
    pub fn start(ebpf: &mut Ebpf) -> anyhow::Result<Self> {
        let logger = EbpfLogger::init_with_logger(ebpf, Stderr)
            .context("reading the eBPF side's diagnostics (aya-log)")?;
        Ok(Self(logger))
    }

    /// Prints what the eBPF side logged since the last call.
    pub fn print(&mut self) {
        self.0.flush();
    }
}

/// Writes each record as one status line.
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        eprintln!("ktrace: eBPF {}: {}", record.level().as_str().to_lowercase(), record.args());
    }

    fn flush(&self) {}
}
