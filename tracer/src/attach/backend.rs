//! Function-tracing mechanisms, and choosing one by trying them on the running kernel (never
//! by comparing kernel versions).
use std::{ffi::CString, fmt, fs};

use aya::Ebpf;
use aya_obj::generated::{bpf_attach_type, bpf_prog_type};

use super::{
    object::Object,
    raw::{self, LoadSpec},
};
use crate::functions::Target;

/// Kprobe PMU type, present when the kernel has CONFIG_KPROBES.
const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe/type";

/// At most this many functions go to fentry when `auto` may choose: one program load and
/// link per function makes it slow to attach and detach in bulk (0.14 s per detach seen).
pub const FENTRY_AUTO_MAX: usize = 32;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// One kprobe.multi link (fprobe) for all functions; the function is found by address.
    KprobeMulti,
    /// One fentry program per function: lowest cost per hit, slow to attach in bulk.
    Fentry,
    /// One kprobe perf event per function: the fallback.
    Kprobe,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::KprobeMulti => "kprobe-multi",
            Self::Fentry => "fentry",
            Self::Kprobe => "kprobe",
        })
    }
}

impl Backend {
    /// Whether the counting program finds the function index by the hit's address in
    /// `IP_TABLE` rather than by attach cookie.
    pub fn finds_index_by_address(self) -> bool {
        matches!(self, Self::KprobeMulti | Self::Fentry)
    }
}

/// The program and its load settings for each backend.
pub fn load_spec(backend: Backend, attach_btf_id: Option<u32>) -> LoadSpec<'static> {
    match backend {
        Backend::KprobeMulti => LoadSpec {
            name: "kt_func_multi",
            prog_type: bpf_prog_type::BPF_PROG_TYPE_KPROBE,
            expected_attach_type: Some(bpf_attach_type::BPF_TRACE_KPROBE_MULTI),
            attach_btf_id: None,
        },
        Backend::Fentry => LoadSpec {
            name: "kt_func_fentry",
            prog_type: bpf_prog_type::BPF_PROG_TYPE_TRACING,
            expected_attach_type: Some(bpf_attach_type::BPF_TRACE_FENTRY),
            attach_btf_id,
        },
        Backend::Kprobe => LoadSpec {
            name: "kt_func_kprobe",
            prog_type: bpf_prog_type::BPF_PROG_TYPE_KPROBE,
            expected_attach_type: None,
            attach_btf_id: None,
        },
    }
}

pub fn kprobe_pmu_type() -> Result<u32, String> {
    let text = fs::read_to_string(KPROBE_PMU).map_err(|e| {
        format!("no kprobe PMU ({KPROBE_PMU}: {e}; kernel without CONFIG_KPROBES?)")
    })?;
    text.trim().parse().map_err(|e| format!("{KPROBE_PMU}: {e}"))
}

/// Whether each backend works here, found by loading its program and attaching it to
/// `probe` (one of the targets) for a moment. Counting is not active yet, so the brief
/// attachment counts nothing.
pub fn probe_all(
    object: &Object,
    ebpf: &Ebpf,
    probe: &Target,
) -> Vec<(Backend, Result<(), String>)> {
    [Backend::KprobeMulti, Backend::Fentry, Backend::Kprobe]
        .into_iter()
        .map(|b| (b, try_backend(object, ebpf, b, probe)))
        .collect()
}

fn try_backend(
    object: &Object,
    ebpf: &Ebpf,
    backend: Backend,
    probe: &Target,
) -> Result<(), String> {
    let name = CString::new(probe.name.as_str()).map_err(|e| e.to_string())?;
    if backend == Backend::Fentry && probe.btf_id.is_none() {
        return Err(format!("{} has no vmlinux BTF id", probe.name));
    }
    let pmu = if backend == Backend::Kprobe { Some(kprobe_pmu_type()?) } else { None };
    let spec = load_spec(backend, probe.btf_id);
    let code = raw::instructions(object, ebpf, spec.name).map_err(|e| format!("{e:#}"))?;
    let prog = raw::load(&spec, &code.insns).map_err(|e| format!("{e:#}"))?;
    let link = match backend {
        Backend::KprobeMulti => raw::kprobe_multi_link(&prog, [name.as_c_str()])
            .map_err(|e| format!("BPF_LINK_CREATE kprobe_multi: {e}")),
        Backend::Fentry => {
            raw::tracing_link(&prog).map_err(|e| format!("BPF_LINK_CREATE fentry: {e}"))
        }
        Backend::Kprobe => {
            let event = raw::kprobe_event(pmu.expect("kprobe PMU"), &name, 0)
                .map_err(|e| format!("perf_event_open kprobe: {e}"))?;
            raw::perf_event_link(&prog, &event, 0)
                .map_err(|e| format!("BPF_LINK_CREATE perf_event: {e}"))
        }
    };
    link.map(drop)
}

/// `auto`: fentry for small sets (cheapest per hit), kprobe.multi otherwise, kprobe as the
/// fallback. fentry only when it can take every target: it attaches by vmlinux BTF id, which
/// module functions do not have here. Returns the choice and why.
pub fn choose(
    available: &[(Backend, Result<(), String>)],
    targets: &[Target],
) -> Option<(Backend, String)> {
    let ok = |b: Backend| available.iter().any(|(x, r)| *x == b && r.is_ok());
    let n = targets.len();
    let fentry_fits = ok(Backend::Fentry) && targets.iter().all(|t| t.btf_id.is_some());
    if n <= FENTRY_AUTO_MAX && fentry_fits {
        return Some((
            Backend::Fentry,
            format!("{n} functions (at most {FENTRY_AUTO_MAX}): fentry costs least per hit"),
        ));
    }
    if ok(Backend::KprobeMulti) {
        return Some((
            Backend::KprobeMulti,
            format!("{n} functions: one kprobe.multi link attaches them all at once"),
        ));
    }
    if fentry_fits {
        return Some((
            Backend::Fentry,
            "kprobe.multi unavailable; fentry attaches one function at a time".to_owned(),
        ));
    }
    ok(Backend::Kprobe).then(|| {
        (Backend::Kprobe, "kprobe.multi unavailable (and fentry cannot take module functions); kprobe attaches one function at a time".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avail(ok: &[Backend]) -> Vec<(Backend, Result<(), String>)> {
        [Backend::KprobeMulti, Backend::Fentry, Backend::Kprobe]
            .into_iter()
            .map(|b| (b, if ok.contains(&b) { Ok(()) } else { Err("no".to_owned()) }))
            .collect()
    }

    fn targets(n: usize, module: bool) -> Vec<Target> {
        (0..n)
            .map(|i| Target {
                name: format!("f{i}"),
                module: if module { "veth".into() } else { "vmlinux".into() },
                btf_id: (!module).then_some(i as u32 + 1),
                patch_sites: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn auto_prefers_fentry_for_few_and_kprobe_multi_for_many() {
        let all = avail(&[Backend::KprobeMulti, Backend::Fentry, Backend::Kprobe]);
        assert_eq!(choose(&all, &targets(3, false)).unwrap().0, Backend::Fentry);
        assert_eq!(choose(&all, &targets(33, false)).unwrap().0, Backend::KprobeMulti);
        let no_multi = avail(&[Backend::Fentry, Backend::Kprobe]);
        assert_eq!(choose(&no_multi, &targets(1000, false)).unwrap().0, Backend::Fentry);
        assert_eq!(
            choose(&avail(&[Backend::Kprobe]), &targets(5, false)).unwrap().0,
            Backend::Kprobe
        );
        assert_eq!(choose(&avail(&[]), &targets(5, false)), None);
    }

    #[test]
    fn module_functions_never_go_to_fentry() {
        let all = avail(&[Backend::KprobeMulti, Backend::Fentry, Backend::Kprobe]);
        assert_eq!(choose(&all, &targets(3, true)).unwrap().0, Backend::KprobeMulti);
        let no_multi = avail(&[Backend::Fentry, Backend::Kprobe]);
        assert_eq!(choose(&no_multi, &targets(3, true)).unwrap().0, Backend::Kprobe);
        assert_eq!(choose(&avail(&[Backend::Fentry]), &targets(3, true)), None);
    }
}
