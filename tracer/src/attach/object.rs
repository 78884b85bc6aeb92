//! ktrace's eBPF object, the one tracer/build.rs builds from tracer-ebpf, and finding its
//! programs and maps by name, with errors that say which one is missing or of the wrong type.
use anyhow::{Context as _, ensure};
use aya::{
    Ebpf, EbpfLoader,
    maps::{Map, MapError},
    programs::{Program, ProgramError, RawTracePoint},
};
use aya_obj::generated::bpf_func_id;
use tracer_common::{PER_CPU_VARIABLE, PreemptCount, TASK_CAST_CALL};

/// The object's ELF bytes, embedded at build time.
static EMBEDDED: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer"));

/// `ld_imm64` (BPF_LD | BPF_IMM | BPF_DW), the one instruction that spans two slots.
const LD_IMM64: u8 = 0x18;
/// An `ld_imm64` source marking its immediate as a kernel BTF type id (a ksym).
const BPF_PSEUDO_BTF_ID: u8 = 3;
/// `call` (BPF_JMP | BPF_CALL).
const CALL: u8 = 0x85;
/// A `call` source marking its immediate as a kernel function's BTF type id (a kfunc).
const BPF_PSEUDO_KFUNC_CALL: u8 = 2;

/// What the object's task casts (tracer-common's `TASK_CAST_CALL`) become on this kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskCast {
    /// The `bpf_rdonly_cast` kfunc (Linux 6.2+), by its type id in kernel BTF.
    Kfunc(u32),
    /// The `bpf_get_current_task_btf` helper (Linux 5.11+).
    Helper,
}

/// ktrace's eBPF object as this kernel gets it: the embedded ELF with the task casts turned
/// into what the kernel has and, for `--irq`, the per-CPU variable that holds the preempt count
/// written in (see tracer-common's `TASK_CAST_CALL` and `PER_CPU_VARIABLE`). aya loads most
/// programs from it; raw.rs re-parses it for the programs it loads itself, so that both see
/// the same instructions.
pub struct Object {
    /// The rewritten copy, in words for the 8-byte alignment the ELF parser needs.
    words: Vec<u64>,
}

impl Object {
    /// The object, with the task casts as `task_cast` says and `preempt_count`'s variable
    /// written in unless it has none (`--irq task`, where the eBPF side never asks for it).
    pub fn new(task_cast: TaskCast, preempt_count: &PreemptCount) -> anyhow::Result<Self> {
        let mut object = Self { words: vec![0u64; EMBEDDED.len().div_ceil(8)] };
        let elf = object.elf_mut();
        elf.copy_from_slice(EMBEDDED);
        ensure!(write_task_casts(elf, task_cast) > 0, "ktrace's eBPF object never casts a task");
        if preempt_count.variable != 0 {
            let written = write_in(elf, PER_CPU_VARIABLE, preempt_count.variable);
            ensure!(written > 0, "ktrace's eBPF object never asks for the preempt count");
        }
        Ok(object)
    }

    fn elf_mut(&mut self) -> &mut [u8] {
        // SAFETY: the words' memory holds at least EMBEDDED.len() bytes, any byte is a valid
        // u8, and the borrow of `self` keeps the words from being used otherwise meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast(), EMBEDDED.len()) }
    }

    /// The ELF bytes.
    pub fn elf(&self) -> &[u8] {
        // SAFETY: the words' memory holds at least EMBEDDED.len() initialized bytes, and any
        // byte is a valid u8.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast(), EMBEDDED.len()) }
    }

    /// Loads the object with `loader`'s settings: maps are created, programs are not loaded
    /// yet.
    pub fn load(&self, loader: &mut EbpfLoader) -> anyhow::Result<Ebpf> {
        loader.load(self.elf()).context("loading ktrace's eBPF object")
    }
}

/// Turns every `ld_imm64 rX, marker` in `elf` into a load of kernel BTF type `btf_id`;
/// returns how many. Instructions sit 8-byte aligned in the code sections (little-endian:
/// x86_64), and nothing else in the object holds the marker inside such an instruction pair.
fn write_in(elf: &mut [u8], marker: u64, btf_id: u32) -> usize {
    let low = (marker as u32).to_le_bytes();
    let high = ((marker >> 32) as u32).to_le_bytes();
    let mut written = 0;
    for at in (0..elf.len().saturating_sub(15)).step_by(8) {
        let pair = &mut elf[at..at + 16];
        // [code, dst | src << 4, offset (2), immediate (4)], then [0, 0, 0 (2), upper
        // immediate (4)].
        let is_marker = pair[0] == LD_IMM64
            && pair[1] >> 4 == 0
            && pair[2..4] == [0, 0]
            && pair[4..8] == low
            && pair[8..12] == [0; 4]
            && pair[12..16] == high;
        if is_marker {
            pair[1] |= BPF_PSEUDO_BTF_ID << 4;
            pair[4..8].copy_from_slice(&btf_id.to_le_bytes());
            // The upper immediate names the BTF object: 0 for vmlinux.
            pair[12..16].fill(0);
            written += 1;
        }
    }
    written
}

/// Turns every `call TASK_CAST_CALL` in `elf` into `task_cast`; returns how many. Found as
/// [`write_in`] finds its pairs.
fn write_task_casts(elf: &mut [u8], task_cast: TaskCast) -> usize {
    let marker = TASK_CAST_CALL.to_le_bytes();
    let mut written = 0;
    for at in (0..elf.len().saturating_sub(7)).step_by(8) {
        // [code, dst | src << 4, offset (2), immediate (4)]
        let insn = &mut elf[at..at + 8];
        if insn[0] == CALL && insn[1..4] == [0, 0, 0] && insn[4..8] == marker {
            let (source, immediate) = match task_cast {
                TaskCast::Kfunc(btf_id) => (BPF_PSEUDO_KFUNC_CALL, btf_id),
                TaskCast::Helper => (0, bpf_func_id::BPF_FUNC_get_current_task_btf as u32),
            };
            // The offset stays 0: the kfunc is vmlinux's.
            insn[1] = source << 4;
            insn[4..8].copy_from_slice(&immediate.to_le_bytes());
            written += 1;
        }
    }
    written
}

/// Program `name` as aya type `P` (`RawTracePoint`, `PerfEvent`, ...).
pub fn program_mut<'a, P>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<&'a mut P>
where
    &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
{
    ebpf.program_mut(name)
        .with_context(|| format!("program {name} missing from the eBPF object"))?
        .try_into()
        .with_context(|| format!("program {name} is not of the expected type"))
}

/// Map `name`.
pub fn map<'a>(ebpf: &'a Ebpf, name: &str) -> anyhow::Result<&'a Map> {
    ebpf.map(name).with_context(|| format!("map {name} missing from the eBPF object"))
}

/// Map `name` as aya type `M` (`PerCpuArray`, `HashMap`, ...).
pub fn map_as<'a, M>(ebpf: &'a Ebpf, name: &str) -> anyhow::Result<M>
where
    M: TryFrom<&'a Map, Error = MapError>,
{
    M::try_from(map(ebpf, name)?).with_context(|| format!("map {name}"))
}

/// Map `name`, writable, as aya type `M`.
pub fn map_mut_as<'a, M>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<M>
where
    M: TryFrom<&'a mut Map, Error = MapError>,
{
    let map =
        ebpf.map_mut(name).with_context(|| format!("map {name} missing from the eBPF object"))?;
    M::try_from(map).with_context(|| format!("map {name}"))
}

/// Loads and attaches each (program, raw tracepoint) pair.
pub fn attach_raw_tracepoints(ebpf: &mut Ebpf, programs: &[(&str, &str)]) -> anyhow::Result<()> {
    for &(name, tracepoint) in programs {
        let program: &mut RawTracePoint = program_mut(ebpf, name)?;
        program.load().map_err(|e| super::verifier::load_error(name, e))?;
        program
            .attach(tracepoint)
            .with_context(|| format!("attaching {name} to raw tracepoint {tracepoint}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the instruction pair at `at` loads `marker`.
    fn loads(elf: &[u8], at: usize, marker: u64) -> bool {
        elf[at] == LD_IMM64
            && elf[at + 4..at + 8] == (marker as u32).to_le_bytes()
            && elf[at + 12..at + 16] == ((marker >> 32) as u32).to_le_bytes()
    }

    #[test]
    fn the_preempt_count_variable_is_written_into_every_load_of_the_marker() {
        let embedded = Object::new(TaskCast::Helper, &PreemptCount::default()).unwrap();
        let markers: Vec<usize> = (0..EMBEDDED.len() - 15)
            .step_by(8)
            .filter(|&at| loads(embedded.elf(), at, PER_CPU_VARIABLE))
            .collect();
        assert!(!markers.is_empty(), "the eBPF side never loads the marker");

        let written =
            Object::new(TaskCast::Helper, &PreemptCount { variable: 8427, offset: 0 }).unwrap();
        for &at in &markers {
            let pair = &written.elf()[at..at + 16];
            assert_eq!(pair[1] >> 4, BPF_PSEUDO_BTF_ID, "source register at {at}");
            assert_eq!(pair[1] & 0x0f, embedded.elf()[at + 1] & 0x0f, "destination at {at}");
            assert_eq!(pair[4..8], 8427u32.to_le_bytes());
            assert_eq!(pair[12..16], [0; 4], "the BTF object: vmlinux");
        }
        let changed = (0..EMBEDDED.len()).filter(|&i| written.elf()[i] != embedded.elf()[i]);
        assert!(changed.count() <= markers.len() * 9, "only the marked pairs change");
    }

    #[test]
    fn every_task_cast_becomes_the_kfunc_or_the_helper() {
        let calls = |elf: &[u8], source: u8, immediate: u32| -> Vec<usize> {
            (0..EMBEDDED.len() - 7)
                .step_by(8)
                .filter(|&at| {
                    elf[at] == CALL
                        && elf[at + 1] == source << 4
                        && elf[at + 2..at + 4] == [0, 0]
                        && elf[at + 4..at + 8] == immediate.to_le_bytes()
                })
                .collect()
        };
        let marked = calls(EMBEDDED, 0, TASK_CAST_CALL as u32);
        assert!(!marked.is_empty(), "the eBPF side never casts a task");

        let kfunc = Object::new(TaskCast::Kfunc(61234), &PreemptCount::default()).unwrap();
        assert_eq!(calls(kfunc.elf(), BPF_PSEUDO_KFUNC_CALL, 61234), marked);
        // bpf_get_current_task_btf is helper 158, which the object also calls as it is.
        let helper = Object::new(TaskCast::Helper, &PreemptCount::default()).unwrap();
        let mut expected = [marked.clone(), calls(EMBEDDED, 0, 158)].concat();
        expected.sort_unstable();
        assert_eq!(calls(helper.elf(), 0, 158), expected);
        for object in [kfunc, helper] {
            let changed = (0..EMBEDDED.len()).filter(|&i| object.elf()[i] != EMBEDDED[i]);
            assert!(changed.count() <= marked.len() * 5, "only the marked calls change");
        }
    }
}
