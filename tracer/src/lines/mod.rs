//! Which source lines of chosen kernel functions to count, and where (`--lines FUNCTION`).
//!
//! Function-entry counts cannot see code the compiler inlined: on Debian's 6.12 build the
//! seed study's `is_skb_forwardable` check lives in `__is_skb_forwardable`, a static inline
//! copied into `__dev_forward_skb2` and two other functions. Its lines can still be counted:
//! the kernel's DWARF ([`dwarf`]) says where each line's code starts in every copy, and a
//! kprobe at each of those addresses (`symbol+offset`, attach/lines.rs) counts the hits per
//! traced cgroup. A line's hits are summed over its copies; the report keeps each copy's
//! share, named by the function it was inlined into.
//!
//! The DWARF must be the running kernel's own: the image's GNU build id is checked against
//! `/sys/kernel/notes`. The analysis reads only the compilation units that mention the
//! function (about 0.7 s for `__is_skb_forwardable` in Debian's 340 MB debug vmlinux).
//! Needs kprobes (CONFIG_KPROBES) on the traced kernel; vmlinux functions only (a module's
//! DWARF lives in the module's own debug file).
pub mod dwarf;
pub(crate) mod report;

use std::{
    collections::{BTreeSet, HashMap},
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use self::dwarf::{DebugImage, FunctionCode};
pub use self::report::{CopyCount, LineCount, LineFunction, LineReport, SkippedLineProbe};
use crate::{record, session, sources::KernelSources};

/// At most this many probe addresses per trace: each is a kprobe perf event and a BPF link,
/// attached one at a time (about 8 ms each under QEMU TCG) and holding a file descriptor.
pub const MAX_PROBES: usize = 512;

/// What `--lines` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineRequest {
    /// The functions whose lines to count.
    pub functions: Vec<String>,
    /// The running kernel's vmlinux with DWARF (default: the standard debug locations).
    pub vmlinux: Option<PathBuf>,
    /// A kernel source tree, for the text of each line.
    pub source: Option<PathBuf>,
}

/// The lines to count and the probes that count them, for the running kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlan {
    pub functions: Vec<FunctionLines>,
    /// Every probe, in counter order.
    pub probes: Vec<Probe>,
    /// The image the plan comes from, and how long reading it took.
    pub vmlinux: PathBuf,
    pub analysis: Duration,
}

/// Which function: found in the DWARF ([`dwarf::FunctionCode`]), planned ([`FunctionLines`])
/// and reported ([`LineFunction`]) under this one identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceFunction {
    pub name: String,
    /// Kernel-tree path of the file that defines it, e.g. `include/linux/netdevice.h`.
    pub file: String,
    /// Line of its declaration (its name).
    pub decl_line: u32,
    /// When most of its out-of-line body is one function inlined into it (a wrapper): that
    /// function, which holds the lines that matter.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<String>,
}

/// One function whose lines are counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionLines {
    pub function: SourceFunction,
    /// Its out-of-line body and inlined copies.
    pub copies: Vec<FunctionCopy>,
    /// Its lines with code, ascending, and their text when the source tree has them.
    pub lines: Vec<SourceLine>,
}

/// One copy of a function's code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FunctionCopy {
    /// The function whose code holds it: the function itself when out of line.
    pub container: String,
    /// `file:line:column` of the call it was inlined for; absent for the out-of-line body.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub call_site: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    pub line: u32,
    pub text: Option<String>,
}

/// A kprobe at `symbol+offset`, where `lines` of one copy of a function start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Index into [`LinePlan::functions`].
    pub function: usize,
    /// Index into that function's copies.
    pub copy: usize,
    pub symbol: String,
    pub offset: u64,
    pub lines: Vec<u32>,
    /// Why no kprobe can go here, known before trying.
    pub unprobeable: Option<String>,
}

/// The plan for `request` on the running kernel: its DWARF image found (or taken from the
/// request) and checked to be that kernel's, then analysed. Every function must have code.
pub fn plan(request: &LineRequest) -> anyhow::Result<LinePlan> {
    let release = session::kernel_release();
    let vmlinux = match &request.vmlinux {
        Some(path) => path.clone(),
        None => KernelSources::find(&release).with_context(|| {
            format!(
                "--lines needs the running kernel's DWARF: no vmlinux with DWARF for {release} \
                 in the standard places; pass --vmlinux (Debian: package linux-image-{release}-dbg)"
            )
        })?,
    };
    let image = DebugImage::open(&vmlinux)?;
    match (image.build_id()?, record::kernel_build_id()) {
        (Some(image_id), Some(running)) if image_id != running => bail!(
            "{} is not the running kernel's image (build id {image_id}, running kernel {running})",
            vmlinux.display()
        ),
        (None, _) => bail!("{} has no GNU build id to match the running kernel", vmlinux.display()),
        (Some(_), None) => eprintln!(
            "ktrace: warning: the running kernel has no build id in /sys/kernel/notes: \
             cannot check that {} is its image",
            vmlinux.display()
        ),
        (Some(_), Some(_)) => {}
    }
    let started = Instant::now();
    let names: Vec<&str> = request.functions.iter().map(String::as_str).collect();
    let found = image
        .functions(&names)
        .with_context(|| format!("reading the DWARF of {}", vmlinux.display()))?;
    let analysis = started.elapsed();
    for name in &names {
        if !found.iter().any(|f| f.function.name == *name) {
            bail!(
                "--lines {name}: the DWARF of {} has no code for {name} (a kernel module's \
                 function, or not a function)",
                vmlinux.display()
            );
        }
    }
    let plan = build(found, request.source.as_deref(), vmlinux, analysis);
    if plan.probes.is_empty() {
        bail!("--lines: no line of {} starts anywhere in the kernel's code", names.join(", "));
    }
    if plan.probes.len() > MAX_PROBES {
        bail!(
            "--lines {}: {} addresses to probe, more than ktrace attaches at once ({MAX_PROBES}); \
             ask for fewer functions",
            names.join(", "),
            plan.probes.len()
        );
    }
    Ok(plan)
}

/// Turns the functions' code into line lists and probes.
fn build(
    found: Vec<FunctionCode>,
    source: Option<&Path>,
    vmlinux: PathBuf,
    analysis: Duration,
) -> LinePlan {
    let mut tree = source.map(SourceTree::new);
    let mut functions = Vec::new();
    let mut probes = Vec::new();
    for (f, code) in found.into_iter().enumerate() {
        let mut lines = BTreeSet::new();
        let copies = code.copies.into_iter().filter(|c| !c.starts.is_empty());
        let mut kept = Vec::new();
        for (c, copy) in copies.enumerate() {
            for start in copy.starts {
                lines.extend(start.lines.iter().copied());
                probes.push(Probe {
                    function: f,
                    copy: c,
                    symbol: start.symbol,
                    offset: start.offset,
                    lines: start.lines,
                    unprobeable: start.unprobeable,
                });
            }
            kept.push(FunctionCopy { container: copy.container, call_site: copy.call_site });
        }
        let lines = lines
            .into_iter()
            .map(|line| SourceLine {
                line,
                text: tree.as_mut().and_then(|t| t.line(&code.function.file, line)),
            })
            .collect();
        functions.push(FunctionLines { function: code.function, copies: kept, lines });
    }
    LinePlan { functions, probes, vmlinux, analysis }
}

impl LinePlan {
    /// Status lines for stderr: what is counted where, and what a wrapper's body is.
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![format!(
            "ktrace: counting source lines with kprobes at {} addresses (DWARF of {} read in {:.2} s)",
            self.probes.len(),
            self.vmlinux.display(),
            self.analysis.as_secs_f64()
        )];
        for f in &self.functions {
            let function = &f.function;
            out.push(format!(
                "ktrace:   {} ({}:{}): {} lines in {}",
                function.name,
                function.file,
                function.decl_line,
                f.lines.len(),
                describe_copies(&f.copies)
            ));
            if let Some(body) = &function.body {
                out.push(format!(
                    "ktrace:   note: most of {}'s code is {body}, inlined into it: {body}'s lines \
                     run there and wherever else it is inlined; count them with --lines {body}",
                    function.name
                ));
            }
        }
        out
    }
}

impl FunctionCopy {
    /// "X (out of line)" or "inlined into X".
    pub fn describe(&self) -> String {
        match &self.call_site {
            None => format!("{} (out of line)", self.container),
            Some(_) => format!("inlined into {}", self.container),
        }
    }
}

/// "3 copies: out of line, inlined into a, b (2 call sites)".
pub fn describe_copies(copies: &[FunctionCopy]) -> String {
    let mut inlined: Vec<(&str, usize)> = Vec::new();
    for copy in copies.iter().filter(|c| c.call_site.is_some()) {
        match inlined.iter_mut().find(|(name, _)| *name == copy.container) {
            Some((_, sites)) => *sites += 1,
            None => inlined.push((&copy.container, 1)),
        }
    }
    let mut parts = Vec::new();
    if copies.iter().any(|c| c.call_site.is_none()) {
        parts.push("out of line".to_owned());
    }
    if !inlined.is_empty() {
        let names: Vec<String> = inlined
            .iter()
            .map(|&(name, sites)| match sites {
                1 => name.to_owned(),
                n => format!("{name} ({n} call sites)"),
            })
            .collect();
        parts.push(format!("inlined into {}", names.join(", ")));
    }
    let n = copies.len();
    format!("{n} {}: {}", if n == 1 { "copy" } else { "copies" }, parts.join(", "))
}

/// Lines of files of a kernel source tree, each file read once.
struct SourceTree {
    root: PathBuf,
    files: HashMap<String, Option<Vec<String>>>,
}

impl SourceTree {
    fn new(root: &Path) -> Self {
        Self { root: root.to_owned(), files: HashMap::new() }
    }

    /// The text of `line` of `file` (a kernel-tree path), trimmed; `None` if the tree lacks it.
    fn line(&mut self, file: &str, line: u32) -> Option<String> {
        let lines = self.files.entry(file.to_owned()).or_insert_with(|| {
            let text = fs::read(self.root.join(file)).ok()?;
            Some(String::from_utf8_lossy(&text).lines().map(|l| l.trim().to_owned()).collect())
        });
        lines.as_ref()?.get(line.checked_sub(1)? as usize).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::{
        dwarf::{CodeCopy, LineStart},
        *,
    };

    fn start(symbol: &str, offset: u64, lines: &[u32]) -> LineStart {
        LineStart { symbol: symbol.to_owned(), offset, lines: lines.to_vec(), unprobeable: None }
    }

    /// `__is_skb_forwardable` as Debian's 6.12 DWARF has it, shortened: two copies with line
    /// starts and one (a self-inlined tail) without.
    fn found() -> Vec<FunctionCode> {
        vec![FunctionCode {
            function: SourceFunction {
                name: "__is_skb_forwardable".to_owned(),
                file: "include/linux/netdevice.h".to_owned(),
                decl_line: 4063,
                body: None,
            },
            copies: vec![
                CodeCopy {
                    container: "__dev_forward_skb2".to_owned(),
                    call_site: Some("include/linux/netdevice.h:4108:6".to_owned()),
                    starts: vec![
                        start("__dev_forward_skb2", 54, &[4070]),
                        start("__dev_forward_skb2", 90, &[4083]),
                    ],
                },
                CodeCopy {
                    container: "is_skb_forwardable".to_owned(),
                    call_site: Some("net/core/dev.c:2256:9".to_owned()),
                    starts: vec![],
                },
                CodeCopy {
                    container: "__bpf_redirect".to_owned(),
                    call_site: Some("include/linux/netdevice.h:4108:6".to_owned()),
                    starts: vec![start("__bpf_redirect", 271, &[4068, 4070])],
                },
            ],
        }]
    }

    #[test]
    fn one_probe_per_line_start_and_the_lines_of_all_copies() {
        let dir = tempfile::tempdir().unwrap();
        let header = dir.path().join("include/linux/netdevice.h");
        fs::create_dir_all(header.parent().unwrap()).unwrap();
        let mut text = vec!["".to_owned(); 4083];
        text[4069] = "\tif (!(dev->flags & IFF_UP))".to_owned();
        text[4082] = "\tif (skb_is_gso(skb))".to_owned();
        fs::write(&header, text.join("\n")).unwrap();
        let plan = build(found(), Some(dir.path()), "vmlinux".into(), Duration::ZERO);
        let f = &plan.functions[0];
        assert_eq!(
            describe_copies(&f.copies),
            "2 copies: inlined into __dev_forward_skb2, __bpf_redirect"
        );
        let lines: Vec<_> = f.lines.iter().map(|l| (l.line, l.text.as_deref())).collect();
        assert_eq!(
            lines,
            [
                (4068, Some("")),
                (4070, Some("if (!(dev->flags & IFF_UP))")),
                (4083, Some("if (skb_is_gso(skb))"))
            ]
        );
        let probes: Vec<_> = plan
            .probes
            .iter()
            .map(|p| (p.copy, p.symbol.as_str(), p.offset, p.lines.clone()))
            .collect();
        assert_eq!(
            probes,
            [
                (0, "__dev_forward_skb2", 54, vec![4070]),
                (0, "__dev_forward_skb2", 90, vec![4083]),
                (1, "__bpf_redirect", 271, vec![4068, 4070])
            ]
        );
        // Without a source tree, no text.
        let plan = build(found(), None, "vmlinux".into(), Duration::ZERO);
        assert!(plan.functions[0].lines.iter().all(|l| l.text.is_none()));
    }

    #[test]
    fn a_wrapper_gets_a_note_naming_its_body() {
        let mut wrapper = found();
        wrapper[0].function.body = Some("inner".to_owned());
        let plan = build(wrapper, None, "vmlinux".into(), Duration::ZERO);
        let text = plan.describe().join("\n");
        assert!(text.contains("3 lines in 2 copies: inlined into"), "{text}");
        assert!(text.contains("count them with --lines inner"), "{text}");
    }

    /// The host's kernel is not the cached debug image's: refused in one line.
    #[test]
    fn an_image_of_another_kernel_is_refused() {
        let Some(vmlinux) = fs::read_dir("/var/cache/ktrace/debug")
            .into_iter()
            .flatten()
            .filter_map(|e| Some(e.ok()?.path().join("vmlinux")))
            .find(|p| p.is_file())
        else {
            eprintln!("skipped: no debug vmlinux in /var/cache/ktrace/debug");
            return;
        };
        if record::kernel_build_id().is_none() {
            eprintln!("skipped: this kernel has no build id to compare");
            return;
        }
        if session::kernel_release().starts_with("6.12") {
            eprintln!("skipped: this may be the image's own kernel");
            return;
        }
        let request = LineRequest {
            functions: vec!["__is_skb_forwardable".to_owned()],
            vmlinux: Some(vmlinux),
            source: None,
        };
        let err = format!("{:#}", plan(&request).unwrap_err());
        assert!(err.contains("is not the running kernel's image"), "{err}");
    }
}
