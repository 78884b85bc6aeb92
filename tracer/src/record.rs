//! Records: the total report of one trace saved as a self-describing file (`ktrace record -o
//! RUN.json`, `ktrace run --record RUN.json`) that `ktrace compare` reads back, possibly on
//! another machine, long after the trace.
//!
//! A record is the report's JSON (schema_version 1, docs/json-schema.md) with the facts a
//! comparison needs to be trusted added at the top level: `record_version`, the host, the
//! kernel's build id, which kernel mechanism produced each figure and how many functions were
//! targeted. One type, [`Record`], is both written and read back, so the two cannot drift
//! apart. The file is written to a temporary file in the same directory and renamed, so a
//! reader never sees half a record; an existing file is replaced only with `--force`.
use std::{
    fs,
    io::{self, Read as _, Write as _},
    os::unix::{
        fs::{FileTypeExt as _, OpenOptionsExt as _},
        process::ExitStatusExt as _,
    },
    path::Path,
    process::ExitStatus,
};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::{export::file, plan::Plan, report::Report};

/// Version of the record layout; bumped on any incompatible change.
pub const RECORD_VERSION: u32 = 1;

/// Where the GNU build-id note of the running kernel can be read without privileges.
const KERNEL_NOTES: &str = "/sys/kernel/notes";
/// ELF note type of a GNU build id (`NT_GNU_BUILD_ID`).
const NT_GNU_BUILD_ID: u32 = 3;

/// What a record says about the trace besides the report, known before anything is attached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordInfo {
    pub host: String,
    /// Hex GNU build id of the running kernel, `unknown` if it has none.
    pub kernel_build_id: String,
    pub backends: Backends,
    /// Functions selected for counting (0 when none were, or when they were sampled instead).
    pub function_targets: usize,
}

/// The kernel mechanism behind each kind of figure in the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backends {
    /// Always `raw_tracepoint` (sys_enter and sys_exit).
    pub syscalls: String,
    /// `perf_event` (cpu-clock sampling) with `--sample`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<String>,
    /// The counting backend (`kprobe-multi`, `fentry`, `kprobe`), or `samples` when the
    /// functions asked for were sampled because no backend works on this kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<String>,
    /// `kprobe` (at each line's address) with `--lines`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<String>,
}

impl RecordInfo {
    /// The facts of this host and of `plan`, before it is attached.
    pub fn new(plan: &Plan) -> Self {
        let build_id = kernel_build_id();
        let functions = match (&plan.functions, &plan.sampled_functions) {
            (Some(f), _) => Some(f.backend.to_string()),
            (None, Some(_)) => Some("samples".to_owned()),
            (None, None) => None,
        };
        Self {
            host: fs::read_to_string("/proc/sys/kernel/hostname")
                .map_or_else(|_| "unknown".to_owned(), |h| h.trim().to_owned()),
            kernel_build_id: build_id.unwrap_or_else(|| "unknown".to_owned()),
            backends: Backends {
                syscalls: "raw_tracepoint".to_owned(),
                samples: plan.sampling.map(|_| "perf_event".to_owned()),
                functions,
                lines: plan.lines.as_ref().map(|_| "kprobe".to_owned()),
            },
            function_targets: plan.functions.as_ref().map_or(0, |f| f.targets.len()),
        }
    }
}

/// A record as written and read: its version, the info, then every field of the total report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub record_version: u32,
    #[serde(flatten)]
    pub info: RecordInfo,
    /// How `run`'s command ended; absent when no command ran (`record`), and in records of
    /// ktrace versions before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_exit: Option<CommandExit>,
    #[serde(flatten)]
    pub report: Report,
}

/// How the traced command ended: `{"status": 3}` or `{"signal": 9}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandExit {
    /// It exited with this status.
    Status(i32),
    /// A signal of this number killed it.
    Signal(i32),
}

impl From<ExitStatus> for CommandExit {
    fn from(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (None, Some(signal)) => Self::Signal(signal),
            (code, _) => Self::Status(code.unwrap_or(-1)),
        }
    }
}

impl Record {
    /// A record of this version, of a trace without a command.
    pub fn new(info: RecordInfo, report: Report) -> Self {
        Self { record_version: RECORD_VERSION, info, command_exit: None, report }
    }

    /// A record of `run`, whose command ended with `status`.
    pub fn of_command(info: RecordInfo, report: Report, status: ExitStatus) -> Self {
        Self { command_exit: Some(status.into()), ..Self::new(info, report) }
    }
}

/// The hex GNU build id of the running kernel, if its notes carry one.
pub fn kernel_build_id() -> Option<String> {
    fs::read(KERNEL_NOTES).ok().and_then(|notes| gnu_build_id(&notes))
}

/// The hex GNU build id among the ELF notes of `/sys/kernel/notes`: a sequence of (namesz,
/// descsz, type, name, desc) entries in native byte order, name and desc padded to 4 bytes.
fn gnu_build_id(notes: &[u8]) -> Option<String> {
    let word = |at: usize| -> Option<usize> {
        let bytes = notes.get(at..at + 4)?;
        Some(u32::from_ne_bytes(bytes.try_into().ok()?) as usize)
    };
    let padded = |n: usize| n.checked_add(3).map(|n| n & !3);
    let mut at = 0;
    while at + 12 <= notes.len() {
        let (namesz, descsz, kind) = (word(at)?, word(at + 4)?, word(at + 8)?);
        let name_at = at + 12;
        let desc_at = name_at.checked_add(padded(namesz)?)?;
        let desc = notes.get(desc_at..desc_at.checked_add(descsz)?)?;
        if kind == NT_GNU_BUILD_ID as usize && notes.get(name_at..name_at + namesz)? == b"GNU\0" {
            return Some(desc.iter().map(|b| format!("{b:02x}")).collect());
        }
        at = desc_at.checked_add(padded(descsz)?)?;
    }
    None
}

/// Writes `record` to `path`, atomically (see [`file::write_atomically`]).
pub fn write(path: &Path, record: &Record, force: bool) -> anyhow::Result<()> {
    file::write_atomically(path, force, |out| {
        serde_json::to_writer_pretty(&mut *out, record)?;
        writeln!(out)
    })
    .with_context(|| format!("writing the record {}", path.display()))
}

/// Reads a record, refusing anything that is not a ktrace record of a version this ktrace
/// knows, and anything that is not a regular file of at most [`MAX_RECORD_BYTES`]: a FIFO or
/// a device (`/dev/zero`) is refused before a byte is read, so it can neither block nor fill
/// memory.
pub fn read(path: &Path) -> anyhow::Result<Record> {
    let file = open_regular(path)?;
    // The size was checked; `take` holds even if the file grows while it is read.
    let reader = io::BufReader::new(file.take(MAX_RECORD_BYTES + 1));
    parse(reader).with_context(|| format!("{}", path.display()))
}

/// The largest record `read` accepts. A record of `--all` (38,976 functions on a Debian 6.12
/// kernel) with 16 cgroups that all entered every function is 16 MB; one cgroup that entered
/// none is 3.6 MB. Four times the largest leaves room for bigger kernels while keeping a
/// foreign file from taking gigabytes of memory.
pub const MAX_RECORD_BYTES: u64 = 64 << 20;

/// Opens `path` for reading if it is a regular file of a plausible size. Opened without
/// blocking, so that a FIFO without a writer is refused rather than waited for.
fn open_regular(path: &Path) -> anyhow::Result<fs::File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let meta = file.metadata().with_context(|| format!("reading {}", path.display()))?;
    let kind = meta.file_type();
    let what = match () {
        () if kind.is_file() => None,
        () if kind.is_dir() => Some("a directory"),
        () if kind.is_fifo() => Some("a FIFO"),
        () if kind.is_socket() => Some("a socket"),
        () if kind.is_char_device() || kind.is_block_device() => Some("a device"),
        () => Some("not a regular file"),
    };
    if let Some(what) = what {
        bail!("{} is {what}, not a ktrace record file", path.display());
    }
    if meta.len() > MAX_RECORD_BYTES {
        bail!(
            "{} is {} bytes, more than the {} MiB a ktrace record can be: not a ktrace record",
            path.display(),
            meta.len(),
            MAX_RECORD_BYTES >> 20
        );
    }
    Ok(file)
}

fn parse(reader: impl io::Read) -> anyhow::Result<Record> {
    let value: serde_json::Value =
        serde_json::from_reader(reader).context("not a ktrace record (not a JSON document)")?;
    match value.get("record_version").map(serde_json::Value::as_u64) {
        None => bail!("not a ktrace record (no record_version)"),
        Some(Some(v)) if v == u64::from(RECORD_VERSION) => {}
        Some(v) => bail!(
            "record_version {} is not supported (this ktrace reads version {RECORD_VERSION})",
            v.map_or_else(|| value["record_version"].to_string(), |v| v.to_string())
        ),
    }
    let record: Record = serde_json::from_value(value).context("not a valid ktrace record")?;
    let report = &record.report;
    let columns = report.cgroups.len();
    let aligned = report.syscalls.iter().all(|s| s.counts.len() == columns)
        && report.kernel_functions.as_ref().is_none_or(|f| {
            f.functions.iter().all(|r| r.counts.len() == columns)
                && f.modules.iter().all(|m| m.counts.len() == columns && m.hit.len() == columns)
        })
        && report.kernel_samples.as_ref().is_none_or(|s| {
            s.functions.iter().all(|r| r.samples.len() == columns)
                && s.modules.iter().all(|m| m.samples.len() == columns)
        })
        && report.kernel_lines.as_ref().is_none_or(|l| {
            l.functions.iter().flat_map(|f| &f.lines).all(|line| {
                line.hits.fits(columns) && line.copies.iter().all(|c| c.hits.fits(columns))
            })
        });
    if !aligned {
        bail!("not a valid ktrace record (counts do not match its {columns} cgroups)");
    }
    Ok(record)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{
        attach::{Backend, FunctionPlan, Sampling},
        report::{
            Kind,
            tests::{counted, sample},
        },
    };

    pub(crate) fn info() -> RecordInfo {
        RecordInfo {
            host: "build-7".to_owned(),
            kernel_build_id: "00ff".to_owned(),
            backends: Backends {
                syscalls: "raw_tracepoint".to_owned(),
                samples: None,
                functions: Some("kprobe-multi".to_owned()),
                lines: None,
            },
            function_targets: 4,
        }
    }

    /// A checked-in record, as text.
    fn fixture(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
        fs::read_to_string(path).unwrap()
    }

    /// One ELF note: header, name and desc each padded to 4 bytes.
    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for word in [name.len() as u32, desc.len() as u32, kind] {
            out.extend(word.to_ne_bytes());
        }
        for part in [name, desc] {
            out.extend(part);
            out.resize(out.len().next_multiple_of(4), 0);
        }
        out
    }

    #[test]
    fn build_id_is_the_gnu_note_after_others() {
        let notes = [
            note(b"Xen\0", 3, &[1, 2, 3, 4, 5]),
            note(b"GNU\0", 1, &[9; 16]),
            note(b"GNU\0", 3, &[0xde, 0xad, 0xbe, 0xef, 0x01]),
        ]
        .concat();
        assert_eq!(gnu_build_id(&notes).as_deref(), Some("deadbeef01"));
        assert_eq!(gnu_build_id(&notes[..notes.len() - 4]), None);
        assert_eq!(gnu_build_id(&note(b"Xen\0", 3, &[1])), None);
        assert_eq!(gnu_build_id(&[]), None);
    }

    #[test]
    fn info_names_the_backends_of_the_plan() {
        let plan = Plan {
            sampling: Some(Sampling { frequency_hz: 99, stacks: false }),
            latency: false,
            functions: Some(FunctionPlan { backend: Backend::Fentry, targets: Vec::new() }),
            sampled_functions: None,
            sampled_because: None,
            lines: None,
            interrupts: Default::default(),
            notes: Vec::new(),
        };
        let info = RecordInfo::new(&plan);
        assert_eq!(
            info.backends,
            Backends {
                syscalls: "raw_tracepoint".to_owned(),
                samples: Some("perf_event".to_owned()),
                functions: Some("fentry".to_owned()),
                lines: None
            }
        );
        assert_eq!(info.function_targets, 0);
        assert!(!info.host.is_empty() && !info.kernel_build_id.is_empty());
        assert_eq!(RecordInfo::new(&Plan::default()).backends.functions, None);
    }

    #[test]
    fn a_record_is_the_report_plus_its_info_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        let record = Record::new(info(), counted());
        write(&path, &record, false).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["record_version"], 1);
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["host"], "build-7");
        assert_eq!(v["kernel_build_id"], "00ff");
        assert_eq!(
            v["backends"],
            serde_json::json!({"syscalls": "raw_tracepoint", "functions": "kprobe-multi"})
        );
        assert_eq!(v["function_targets"], 4);
        assert_eq!(v["kernel_release"], "6.18.0-test");
        assert_eq!(v["kernel_functions"]["modules"][1]["hit"], serde_json::json!([0, 1]));
        assert_eq!(read(&path).unwrap(), record);
    }

    /// `run --record` kept no trace of how its command ended.
    #[test]
    fn records_of_run_keep_the_command_exit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        for (raw, exit, json) in [
            (3 << 8, CommandExit::Status(3), serde_json::json!({"status": 3})),
            (libc::SIGKILL, CommandExit::Signal(9), serde_json::json!({"signal": 9})),
        ] {
            let record = Record::of_command(info(), counted(), ExitStatus::from_raw(raw));
            write(&path, &record, true).unwrap();
            let v: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(v["command_exit"], json);
            assert_eq!(read(&path).unwrap().command_exit, Some(exit));
        }
        write(&path, &Record::new(info(), counted()), true).unwrap();
        assert_eq!(read(&path).unwrap().command_exit, None);
    }

    /// `text` as this version writes it back: unchanged but for the syscall counts' `blocked`
    /// figure, which version-1 records predate (read as 0).
    fn written_back(text: &str) -> serde_json::Value {
        let add_blocked = |counts: &mut serde_json::Value| {
            for count in counts.as_array_mut().unwrap() {
                count.as_object_mut().unwrap().entry("blocked").or_insert(0.into());
            }
        };
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        for row in v["syscalls"].as_array_mut().unwrap() {
            add_blocked(&mut row["counts"]);
        }
        add_blocked(&mut v["totals"]);
        v
    }

    /// Records an earlier ktrace wrote: one that counted functions with kprobe.multi (in the
    /// Debian 6.12 guest) and one that sampled (on a host without function tracing).
    #[test]
    fn version_1_records_read_and_write_back_unchanged() {
        let text = fixture("record-v1-counted.json");
        let counted = parse(text.as_bytes()).unwrap();
        assert_eq!(serde_json::to_value(&counted).unwrap(), written_back(&text));
        assert_eq!(counted.info.backends.functions.as_deref(), Some("kprobe-multi"));
        assert_eq!(counted.command_exit, None);
        let report = &counted.report;
        assert_eq!(report.kernel_release, "6.12.117+deb12-cloud-amd64");
        assert_eq!(
            (report.syscalls[0].name.as_str(), report.syscalls[0].counts[0].calls),
            ("mmap", 333)
        );
        let functions = report.kernel_functions.as_ref().unwrap();
        assert_eq!(
            (functions.kind, functions.backend, functions.attached),
            (Kind::Counts, Backend::KprobeMulti, 50)
        );
        assert_eq!(
            (functions.functions[0].name.as_str(), functions.functions[0].counts[0]),
            ("__dev_forward_skb2", 42)
        );
        assert_eq!(functions.functions.len() + functions.not_entered.len(), 50);

        let text = fixture("record-v1-sampled.json");
        let sampled = parse(text.as_bytes()).unwrap();
        assert_eq!(serde_json::to_value(&sampled).unwrap(), written_back(&text));
        assert_eq!(sampled.info.backends.samples.as_deref(), Some("perf_event"));
        assert_eq!(sampled.report.syscalls[0].counts[0].calls, 300_000);
        let samples = sampled.report.kernel_samples.as_ref().unwrap();
        assert_eq!(
            (samples.kind, samples.frequency_hz, samples.totals[0].kernel),
            (Kind::Samples, 999, 141)
        );
        assert_eq!(sampled.report.kernel_functions, None);
    }

    #[test]
    fn writes_atomically_and_refuses_to_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        file::check_target(&path, false).unwrap();
        write(&path, &Record::new(info(), sample()), false).unwrap();
        let first = fs::read_to_string(&path).unwrap();
        let err = file::check_target(&path, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{} exists; pass --force to replace it", path.display())
        );
        assert!(write(&path, &Record::new(info(), counted()), false).is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), first);
        file::check_target(&path, true).unwrap();
        write(&path, &Record::new(info(), counted()), true).unwrap();
        assert!(fs::read_to_string(&path).unwrap().contains("kernel_functions"));
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no/such/dir/run.json");
        assert!(
            file::check_target(&missing, false)
                .unwrap_err()
                .to_string()
                .contains("is not a directory")
        );
    }

    /// `/dev/zero` used to grow to gigabytes of memory, and a FIFO blocked forever.
    #[test]
    fn files_that_cannot_be_records_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: `c_path` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let refused = |path: &Path| format!("{:#}", read(path).unwrap_err());
        let shown = fifo.display();
        assert_eq!(refused(&fifo), format!("{shown} is a FIFO, not a ktrace record file"));
        assert_eq!(
            refused(Path::new("/dev/zero")),
            "/dev/zero is a device, not a ktrace record file"
        );
        assert_eq!(
            refused(dir.path()),
            format!("{} is a directory, not a ktrace record file", dir.path().display())
        );
        let big = dir.path().join("big.json");
        fs::File::create(&big).unwrap().set_len(MAX_RECORD_BYTES + 1).unwrap();
        assert_eq!(
            refused(&big),
            format!(
                "{} is 67108865 bytes, more than the 64 MiB a ktrace record can be: not a \
                 ktrace record",
                big.display()
            )
        );
    }

    #[test]
    fn foreign_files_and_unknown_versions_are_refused_in_one_line() {
        let err = |text: &str| format!("{:#}", parse(text.as_bytes()).unwrap_err());
        assert_eq!(
            err("hello"),
            "not a ktrace record (not a JSON document): expected value at line 1 column 1"
        );
        assert_eq!(err(r#"{"schema_version": 1}"#), "not a ktrace record (no record_version)");
        assert_eq!(
            err(r#"{"record_version": 2}"#),
            "record_version 2 is not supported (this ktrace reads version 1)"
        );
        assert_eq!(
            err(r#"{"record_version": "x"}"#),
            r#"record_version "x" is not supported (this ktrace reads version 1)"#
        );
        assert!(
            err(r#"{"record_version": 1}"#).starts_with("not a valid ktrace record: missing field")
        );
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone.json");
        assert!(
            format!("{:#}", read(&missing).unwrap_err())
                .starts_with(&format!("reading {}: ", missing.display()))
        );
    }
}
