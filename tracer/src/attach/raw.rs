//! What aya (0.14) cannot do, done by hand with the bpf(2) and perf_event_open(2) syscalls:
//! loading a program with an expected attach type of our choosing (kprobe.multi), loading one
//! program many times (fentry, one load per target), links with attach cookies, batch map
//! updates, and reading program statistics.
//!
//! The instructions come from the same object aya loaded: re-parsed with aya-obj and
//! relocated against the maps aya created, so all loads share one set of maps.
use std::{
    collections::HashSet,
    ffi::{CStr, CString},
    io, mem,
    os::fd::{AsFd as _, AsRawFd as _, FromRawFd as _, OwnedFd, RawFd},
};

use anyhow::{Context as _, bail};
use aya::{Ebpf, maps::Map};
use aya_obj::generated::{
    bpf_attach_type, bpf_attr, bpf_cmd, bpf_insn, bpf_prog_info, bpf_prog_type,
};

use super::{object::Object, verifier::Rejection};

/// A program's instructions, relocated to refer to maps by descriptor; the descriptors stay
/// open as long as this lives, which must be until the program is loaded.
pub struct Code {
    pub insns: Vec<bpf_insn>,
    _map_fds: Vec<OwnedFd>,
}

/// The relocated code of `program` in `object`, pointing at the maps `ebpf` created from it.
pub fn instructions(object: &Object, ebpf: &Ebpf, program: &str) -> anyhow::Result<Code> {
    let mut obj = aya_obj::Object::parse(object.elf()).context("parsing ktrace's eBPF object")?;
    let mut fds: Vec<(String, OwnedFd)> = Vec::new();
    for (name, map) in ebpf.maps() {
        fds.push((name.to_owned(), map_fd(map).with_context(|| format!("map {name}"))?));
    }
    let obj_maps = obj.maps.clone();
    let maps = fds
        .iter()
        .filter_map(|(name, fd)| Some((name.as_str(), fd.as_raw_fd(), obj_maps.get(name)?)));
    let text_sections: HashSet<usize> = obj.functions.keys().map(|(section, _)| *section).collect();
    obj.relocate_maps(maps, &text_sections).context("relocating map references")?;
    obj.relocate_calls(&text_sections).context("relocating calls")?;
    let key = obj
        .programs
        .get(program)
        .with_context(|| format!("program {program} missing from the eBPF object"))?
        .function_key();
    let insns = obj
        .functions
        .get(&key)
        .with_context(|| format!("code of {program} missing"))?
        .instructions
        .clone();
    Ok(Code { insns, _map_fds: fds.into_iter().map(|(_, fd)| fd).collect() })
}

/// BPF_MAP_UPDATE_BATCH (Linux 5.6+; arrays 5.7+): `values[i]` at `keys[i]` in one call,
/// where one update per element costs a syscall each.
pub fn map_update_batch<V>(map: &Map, keys: &[u32], values: &[V]) -> anyhow::Result<()> {
    anyhow::ensure!(keys.len() == values.len(), "{} keys for {} values", keys.len(), values.len());
    let fd = map_fd(map)?;
    let mut attr = zeroed_attr();
    // SAFETY: writing the BPF_MAP_*_BATCH member of the union.
    let batch = unsafe { &mut attr.batch };
    batch.map_fd = fd.as_raw_fd() as u32;
    batch.keys = keys.as_ptr() as u64;
    batch.values = values.as_ptr() as u64;
    batch.count = keys.len() as u32;
    bpf(bpf_cmd::BPF_MAP_UPDATE_BATCH, &mut attr)?;
    Ok(())
}

/// BPF_MAP_CREATE of a per-CPU array (for programs assembled by hand, as the benchmark's).
pub fn create_per_cpu_array(key_size: u32, value_size: u32, entries: u32) -> io::Result<OwnedFd> {
    let mut attr = zeroed_attr();
    // SAFETY: writing the BPF_MAP_CREATE member of the union.
    let create = unsafe { &mut attr.__bindgen_anon_1 };
    create.map_type = aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32;
    create.key_size = key_size;
    create.value_size = value_size;
    create.max_entries = entries;
    let fd = bpf(bpf_cmd::BPF_MAP_CREATE, &mut attr)?;
    // SAFETY: a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A descriptor of the map behind `map`.
fn map_fd(map: &Map) -> anyhow::Result<OwnedFd> {
    let data = match map {
        Map::Array(d)
        | Map::PerCpuArray(d)
        | Map::HashMap(d)
        | Map::PerCpuHashMap(d)
        | Map::StackTraceMap(d)
        | Map::RingBuf(d)
        // Task storage, which aya does not wrap.
        | Map::Unsupported(d) => d,
        _ => bail!("unexpected map type"),
    };
    let fd = data.info()?.fd()?;
    Ok(fd.as_fd().try_clone_to_owned()?)
}

fn bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<i64> {
    // SAFETY: `attr` is a fully initialized bpf_attr of the size we pass.
    let ret = unsafe {
        libc::syscall(libc::SYS_bpf, cmd as i64, attr as *mut bpf_attr, mem::size_of::<bpf_attr>())
    };
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

fn zeroed_attr() -> bpf_attr {
    // SAFETY: bpf_attr is plain old data; all-zero is the kernel's "unset".
    unsafe { mem::zeroed() }
}

/// How a program is loaded.
pub struct LoadSpec<'a> {
    pub name: &'a str,
    pub prog_type: bpf_prog_type,
    pub expected_attach_type: Option<bpf_attach_type>,
    /// BTF id of the traced function (fentry).
    pub attach_btf_id: Option<u32>,
}

/// Room for the verifier's log when a load fails: its last lines say why, so the buffer is
/// large (a log that does not fit is cut short at the end on kernels before 6.4).
const VERIFIER_LOG_BYTES: usize = 16 << 20;

/// BPF_PROG_LOAD; on failure the error carries the verifier's log.
pub fn load(spec: &LoadSpec, insns: &[bpf_insn]) -> Result<OwnedFd, Rejection> {
    let license = CString::new("GPL").expect("no NUL");
    let mut attr = zeroed_attr();
    // SAFETY: writing the BPF_PROG_LOAD member of the union.
    let load = unsafe { &mut attr.__bindgen_anon_3 };
    load.prog_type = spec.prog_type as u32;
    load.insns = insns.as_ptr() as u64;
    load.insn_cnt = insns.len() as u32;
    load.license = license.as_ptr() as u64;
    if let Some(t) = spec.expected_attach_type {
        load.expected_attach_type = t as u32;
    }
    if let Some(id) = spec.attach_btf_id {
        load.attach_btf_id = id;
    }
    for (dst, src) in load.prog_name.iter_mut().zip(spec.name.bytes().take(15)) {
        *dst = src as libc::c_char;
    }
    let fd = match bpf(bpf_cmd::BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => fd,
        Err(error) => {
            // Again with the verifier log, only on failure: logging slows loading down.
            let mut log = vec![0u8; VERIFIER_LOG_BYTES];
            // SAFETY: as above.
            let load = unsafe { &mut attr.__bindgen_anon_3 };
            load.log_level = 1;
            load.log_buf = log.as_mut_ptr() as u64;
            load.log_size = log.len() as u32;
            let _ = bpf(bpf_cmd::BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let log = String::from_utf8_lossy(&log[..end]).into_owned();
            return Err(Rejection { program: spec.name.to_owned(), error, log });
        }
    };
    // SAFETY: the kernel returned a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// BPF_LINK_CREATE of a kprobe.multi link (Linux 5.18+) on kernel functions by name, without
/// attach cookies (the program finds the function by address).
pub fn kprobe_multi_link<'a>(
    prog: &OwnedFd,
    symbols: impl IntoIterator<Item = &'a CStr>,
) -> io::Result<OwnedFd> {
    let syms: Vec<u64> = symbols.into_iter().map(|s| s.as_ptr() as u64).collect();
    let mut attr = zeroed_attr();
    // SAFETY: writing the BPF_LINK_CREATE member of the union.
    let link = unsafe { &mut attr.link_create };
    link.__bindgen_anon_1.prog_fd = prog.as_raw_fd() as u32;
    link.attach_type = bpf_attach_type::BPF_TRACE_KPROBE_MULTI as u32;
    link.__bindgen_anon_3.kprobe_multi.cnt = syms.len() as u32;
    link.__bindgen_anon_3.kprobe_multi.syms = syms.as_ptr() as u64;
    let fd = bpf(bpf_cmd::BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// BPF_RAW_TRACEPOINT_OPEN (Linux 4.17+): attaches a loaded raw tracepoint program to the
/// tracepoint `name` (for programs assembled by hand, as the benchmark's).
pub fn raw_tracepoint_open(prog: &OwnedFd, name: &CStr) -> io::Result<OwnedFd> {
    let mut attr = zeroed_attr();
    // SAFETY: writing the BPF_RAW_TRACEPOINT_OPEN member of the union.
    let open = unsafe { &mut attr.raw_tracepoint };
    open.name = name.as_ptr() as u64;
    open.prog_fd = prog.as_raw_fd() as u32;
    let fd = bpf(bpf_cmd::BPF_RAW_TRACEPOINT_OPEN, &mut attr)?;
    // SAFETY: a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// BPF_LINK_CREATE of a perf event link (kprobe backend) with an attach cookie (Linux 5.15+).
pub fn perf_event_link(prog: &OwnedFd, perf_event: &OwnedFd, cookie: u64) -> io::Result<OwnedFd> {
    let mut attr = zeroed_attr();
    // SAFETY: writing the BPF_LINK_CREATE member of the union.
    let link = unsafe { &mut attr.link_create };
    link.__bindgen_anon_1.prog_fd = prog.as_raw_fd() as u32;
    link.__bindgen_anon_2.target_fd = perf_event.as_raw_fd() as u32;
    link.attach_type = bpf_attach_type::BPF_PERF_EVENT as u32;
    link.__bindgen_anon_3.perf_event.bpf_cookie = cookie;
    let fd = bpf(bpf_cmd::BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// BPF_LINK_CREATE of a tracing link for a loaded fentry program (Linux 5.10+; the target is
/// the attach_btf_id given at load).
pub fn tracing_link(prog: &OwnedFd) -> io::Result<OwnedFd> {
    let mut attr = zeroed_attr();
    // SAFETY: writing the BPF_LINK_CREATE member of the union.
    let link = unsafe { &mut attr.link_create };
    link.__bindgen_anon_1.prog_fd = prog.as_raw_fd() as u32;
    link.attach_type = bpf_attach_type::BPF_TRACE_FENTRY as u32;
    let fd = bpf(bpf_cmd::BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A kprobe perf event at `function+offset` (all CPUs, all tasks; offset 0 is the entry),
/// through the kprobe PMU (Linux 4.17+).
pub fn kprobe_event(pmu_type: u32, function: &CString, offset: u64) -> io::Result<OwnedFd> {
    // SAFETY: perf_event_attr is plain old data.
    let mut attr: PerfEventAttr = unsafe { mem::zeroed() };
    attr.type_ = pmu_type;
    attr.size = mem::size_of::<PerfEventAttr>() as u32;
    attr.config1 = function.as_ptr() as u64; // kprobe_func
    attr.config2 = offset; // probe_offset
    attr.sample_period = 1;
    attr.wakeup_events = 1;
    // pid -1, cpu 0, as libbpf does: a BPF program on a kprobe event runs on every CPU, the
    // event's CPU only filters perf samples, which ktrace does not read.
    // SAFETY: `attr` is valid and `function` outlives the call.
    let fd = unsafe {
        libc::syscall(libc::SYS_perf_event_open, &attr as *const _, -1, 0, -1, PERF_FLAG_FD_CLOEXEC)
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// From include/uapi/linux/perf_event.h.
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

/// The part of `struct perf_event_attr` a kprobe event needs (PERF_ATTR_SIZE_VER5 layout).
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
    config2: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
    sample_regs_intr: u64,
    aux_watermark: u32,
    sample_max_stack: u16,
    _reserved_2: u16,
}

/// Run-time statistics of a loaded program.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgramStats {
    pub id: u32,
    /// Total run time; counted only while `kernel.bpf_stats_enabled` is 1.
    pub run_time_ns: u64,
    pub run_count: u64,
    /// Runs skipped because the program was already running on that CPU (it traced itself).
    pub recursion_misses: u64,
}

pub fn program_stats(prog: &OwnedFd) -> io::Result<ProgramStats> {
    // SAFETY: bpf_prog_info is plain old data.
    let mut info: bpf_prog_info = unsafe { mem::zeroed() };
    let mut attr = zeroed_attr();
    // SAFETY: writing the BPF_OBJ_GET_INFO_BY_FD member of the union.
    let get = unsafe { &mut attr.info };
    get.bpf_fd = prog.as_raw_fd() as u32;
    get.info_len = mem::size_of::<bpf_prog_info>() as u32;
    get.info = &mut info as *mut bpf_prog_info as u64;
    bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(ProgramStats {
        id: info.id,
        run_time_ns: info.run_time_ns,
        run_count: info.run_cnt,
        recursion_misses: info.recursion_misses,
    })
}
